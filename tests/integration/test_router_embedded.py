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
