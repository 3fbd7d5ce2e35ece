"""The calibrated router end to end on the real embedded model: two tiny pools, `calibrate`,
`compare`, then a live adaptive graph run that loads the policy JSON. Invariants only (files,
budgets, the policy's record of its data); the weak model's accuracy is data, not asserted."""

from __future__ import annotations

import json

import pytest

from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.cli import main
from langgraph_ttc.scaling import build_pool
from langgraph_ttc.strategies import Adaptive
from langgraph_ttc.tasks import load_task

pytestmark = pytest.mark.integration

SIZE, K_MAX, MAX_TOKENS = 2, 6, 16  # 24 short generations in all


def test_calibrate_compare_and_route_live_on_the_embedded_model(tmp_path, capsys):
    backend = resolve_backend("local")
    configs = {"one_digit": {"max_terms": 2, "max_digits": 1}, "two_digit": {"max_digits": 2}}
    for name, config in configs.items():
        task = load_task("rg:basic_arithmetic", size=SIZE, seed=2, config=config)
        build_pool(
            task,
            backend,
            tmp_path / name / "pool.sqlite",
            k_max=K_MAX,
            params=SamplingParams(max_tokens=MAX_TOKENS),
            progress=False,
        )
    pools = []
    for name in configs:
        pools += ["--pool", str(tmp_path / name / "pool.sqlite")]
    policy_path = tmp_path / "policy.json"
    assert (
        main(
            ["calibrate", *pools, "--budgets", "2,4,6", "--orders", "8", "--out", str(policy_path)]
        )
        == 0
    )
    assert "cross-validated" in capsys.readouterr().out
    policy = json.loads(policy_path.read_text())
    assert policy["meta"]["model"] == backend.model_id
    assert len(policy["meta"]["problems"]) == len(policy["meta"]["heldout_problems"]) == 2
    assert {p["label"] for p in policy["meta"]["pools"]} == set(configs)

    out = tmp_path / "compare"
    assert (
        main(
            [
                "compare",
                *pools,
                "--policy",
                str(policy_path),
                "--out",
                str(out),
                "--orders",
                "8",
                "--n-boot",
                "100",
            ]
        )
        == 0
    )
    saved = json.loads((out / "compare.json").read_text())
    assert saved["problems"] == 2 and [r["budget"] for r in saved["adaptive"]] == [2, 4, 6]
    for row in saved["adaptive"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["mean_calls"] <= row["budget"]
    assert (out / "compare.png").stat().st_size > 10_000

    # The graph loads the same JSON and routes within the budget.
    graph = create_ttc_graph(
        backend,
        Adaptive(n=6, probes=4, policy=str(policy_path), max_tokens=MAX_TOKENS, seed=1),
        budget=Budget(max_calls=6),
    )
    result = graph.invoke({"question": "Calculate 3 + 4."})["ttc_result"]
    assert result["usage"]["calls"] <= 6
    assert result["difficulty"]["probes"] == 4 and result["difficulty"]["bin"] >= 1
    assert result["plan"]["reason"].startswith(f"bin {result['difficulty']['bin']}")


def test_a_batch_with_its_own_prior_runs_on_the_embedded_model(tmp_path, capsys):
    """`run --batch-pooled` end to end on the real model: the batch's own prior is fitted to
    real tallies (the weak model's answers are data). Invariants: the total and the caps hold,
    and the probes are the same samples with and without the pooled prior (seeded), so only
    where the later samples go can differ."""
    path = tmp_path / "qa.jsonl"
    questions = {"q0": ("What is 2 + 3?", "5"), "q1": ("What is 7 + 8?", "15"),
                 "q2": ("What is 12 + 29?", "41"), "q3": ("What is 6 + 1?", "7")}  # fmt: skip
    path.write_text("".join(json.dumps({"id": i, "question": q, "answer": a}) + "\n"
                            for i, (q, a) in questions.items()))  # fmt: skip
    common = ["run", "--task", str(path), "--batch-budget", "3", "--batch-cap", "6",
              "--max-tokens", str(MAX_TOKENS), "--seed", "3", "--json"]  # fmt: skip
    runs = {}
    for name, extra in (("plain", []), ("pooled", ["--batch-pooled", "5"])):
        assert main([*common, *extra]) == 0
        runs[name] = json.loads(capsys.readouterr().out)
    for out in runs.values():
        assert [r["id"] for r in out["results"]] == list(questions)
        assert out["samples"] <= 3 * len(questions)
        assert all(2 <= r["samples"] <= 6 and len(r["answers"]) == r["samples"]
                   for r in out["results"])  # fmt: skip
        assert all(isinstance(r["correct"], bool) for r in out["results"])
    for plain, pooled in zip(runs["plain"]["results"], runs["pooled"]["results"], strict=True):
        assert plain["answers"][:2] == pooled["answers"][:2]  # the same probes
