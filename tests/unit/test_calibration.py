"""The calibrated router: replay maths against the exact estimators, policies learned on pools of
known difficulty, compute ratios, the live graph against its replay, and the two CLI commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.cli import main
from langgraph_ttc.difficulty import agreement
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling import estimators as est
from langgraph_ttc.scaling.calibrate import calibrate, load_pools, split_problems
from langgraph_ttc.scaling.compare import compare_policy
from langgraph_ttc.scaling.pool import build_pool, load_pool
from langgraph_ttc.scaling.replay import ReplayTable, replay_policy, worst_case_calls
from langgraph_ttc.scaling.synthetic import synthetic_pool
from langgraph_ttc.stopping import AgreementAtLeast
from langgraph_ttc.strategies import Adaptive
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle

MIX = {"easy": 20, "medium": 10, "hopeless": 10}


def one_plan(spec: PlanSpec, budget: int) -> Policy:
    """A policy with a single bin that always runs ``spec``."""
    return Policy(edges=(), plans={1: {budget: spec}}, meta={"probes": 4})


@pytest.mark.parametrize(
    ("aggregator", "exact"),
    [
        ("majority", lambda p, k: est.majority_at_k(p.answers, p.correct, k)),
        ("filter_vote", lambda p, k: est.filter_vote_at_k(p.answers, p.correct, p.verdicts, k)),
        (
            "best_of_n",
            lambda p, k: est.best_of_n_at_k(p.answers, p.correct, p.verifier_scores, k),
        ),
    ],
)
def test_replaying_a_fixed_plan_matches_the_exact_estimator(aggregator, exact):
    pool = synthetic_pool({"medium": 6, "trap": 6}, k=16, seed=3)
    width = 6
    runs = ReplayTable(pool.problems, probes=4, n_orders=600, seed=1)
    budget = worst_case_calls(PlanSpec(width=width, aggregator=aggregator), 4, 1, "agreement")
    policy = one_plan(PlanSpec(width=width, aggregator=aggregator), budget)
    replayed, calls = replay_policy(runs, policy, budget)
    expected = np.array([exact(p, width) for p in pool.problems])
    # 600 random orders per problem: Monte Carlo error about 0.02 per problem.
    assert np.abs(replayed - expected).max() < 0.07
    assert abs(replayed.mean() - expected.mean()) < 0.02
    assert (calls >= width).all() and (calls <= budget).all()


def test_budget_below_the_probes_is_majority_of_what_it_allows():
    pool = synthetic_pool({"medium": 5}, k=8)
    runs = ReplayTable(pool.problems, probes=4, n_orders=300)
    accuracy, calls = replay_policy(runs, Policy(meta={"probes": 4}), 2)
    expected = [est.majority_at_k(p.answers, p.correct, 2) for p in pool.problems]
    assert calls.tolist() == [2.0] * 5
    assert np.abs(accuracy - expected).max() < 0.08


def test_policy_stops_on_easy_bins_and_beats_majority_at_matched_calls():
    pool = synthetic_pool(MIX, k=32, critiques=False, scores=False)
    fit, held = split_problems(pool, 0.5)
    assert len(held) == 20 and not set(fit) & set(held)
    result = calibrate(pool, [1, 4, 8, 16, 32], problem_ids=fit, heldout_ids=held, n_orders=8)
    policy = result.policy
    agreed = policy.bin(1.0)  # all four probes agree (bins are fewer when problems are few)
    for budget in (4, 8, 16, 32):
        spec = policy.spec(agreed, budget)
        # Stop, or a sequential vote that is already decided when all probes agree.
        assert spec.stop or spec.stop_rule is not None, spec
    assert any(not policy.spec(b, 32).stop for b in policy.plans)
    assert sorted(policy.meta["problems"]) == sorted(fit)
    assert policy.meta["heldout_problems"] == held
    assert policy.meta["model"] == "synthetic" and policy.meta["probes"] == 4
    assert [row["budget"] for row in result.cross_validation] == [1, 4, 8, 16, 32]
    # Round trip through JSON keeps plans and the record of what it was fitted on.
    again = Policy.from_json(policy.to_json())
    assert again.plans == policy.plans and again.meta["heldout_problems"] == held

    comparison = compare_policy(pool.subset(held), policy, n_orders=8, n_boot=200)
    by_budget = {row["budget"]: row for row in comparison.adaptive}
    majority = {p["k"]: p["accuracy"] for p in comparison.fixed["majority"]}
    # Easy questions stop after 4 probes, so at budget 32 the policy spends far less than 32.
    assert by_budget[32]["mean_calls"] < 16
    # Each bin may trade up to `tolerance` (0.01) for thrift; 20 held-out problems add noise.
    assert by_budget[32]["accuracy"] >= majority[32] - 0.05
    assert by_budget[32]["compute_ratio"] is None or by_budget[32]["compute_ratio"] > 1.2
    assert by_budget[1]["compute_ratio"] == 1.0  # one call: the router cannot probe
    for row in comparison.adaptive:
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]


def test_a_bin_that_gains_nothing_spends_nothing():
    pool = synthetic_pool({"easy": 12, "hopeless": 12}, k=16, critiques=False, scores=False)
    policy = calibrate(pool, [16], n_orders=8).policy
    hopeless = ReplayTable(pool.problems[12:], probes=4, n_orders=8)
    bins = {policy.bin(v) for v in hopeless.statistics.ravel()}
    # Whatever bins the hopeless questions land in, more votes do not help them: no spending.
    _, calls = replay_policy(hopeless, policy, 16)
    assert calls.mean() < 8, bins


def test_load_pools_prefixes_ids_and_refuses_mixed_models(tmp_path):
    task = load_task("rg:basic_arithmetic", size=3, seed=1)
    oracle = NoisyOracle({p.question: (p.reference, 0.5) for p in task.problems()})
    for name, model in (("a", "m1"), ("b", "m1"), ("c", "m2")):
        backend = FakeBackend(reply=oracle, model_id=model)
        build_pool(task, backend, tmp_path / name / "pool.sqlite", k_max=4, progress=False)
    both = load_pools([tmp_path / "a" / "pool.sqlite", tmp_path / "b" / "pool.sqlite"])
    assert len(both.problems) == 6 and both.problem_ids[0].startswith("a/")
    assert both.meta["model"] == "m1"
    with pytest.raises(TTCConfigError, match="different models"):
        load_pools([tmp_path / "a" / "pool.sqlite", tmp_path / "c" / "pool.sqlite"])


def oracle_task(size: int):
    task = load_task("rg:basic_arithmetic", size=size, seed=11)
    accuracies = (0.95, 0.9, 0.5, 0.35, 0.05)
    questions = {
        p.question: (p.reference, accuracies[i % len(accuracies)])
        for i, p in enumerate(task.problems())
    }
    return task, FakeBackend(reply=NoisyOracle(questions, critique_accuracy=0.85))


SEQUENTIAL = Policy(
    edges=(1.0,),
    plans={
        1: {8: PlanSpec(stop=True)},
        2: {8: PlanSpec(width=8, stop_rule=AgreementAtLeast(0.6), step=1)},
    },
    meta={"probes": 4},
)


@pytest.mark.parametrize("policy", ["calibrated", SEQUENTIAL], ids=["calibrated", "sequential"])
def test_live_adaptive_graph_agrees_with_its_replay(tmp_path, policy):
    """The replay is a model of the graph: same plan choices, same call accounting, and the
    same expected accuracy (live runs draw other seeds, so only in expectation)."""
    task, backend = oracle_task(20)
    path = tmp_path / "pool.sqlite"
    build_pool(task, backend, path, k_max=16, critique=True, progress=False)
    pool = load_pool(path)
    if policy == "calibrated":
        policy = calibrate(pool, [8], n_orders=16).policy
    runs = ReplayTable(pool.problems, probes=4, n_orders=16)
    replayed_accuracy, replayed_calls = replay_policy(runs, policy, 8)

    correct, calls = [], []
    for seed in range(6):
        graph = create_ttc_graph(
            backend, Adaptive(n=8, probes=4, policy=policy, seed=seed), budget=Budget(max_calls=8)
        )
        for problem in task.problems():
            result = graph.invoke({"question": problem.question})["ttc_result"]
            correct.append(task.score(problem, result["text"] or ""))
            calls.append(result["usage"]["calls"])
    assert max(calls) <= 8
    assert abs(np.mean(calls) - replayed_calls.mean()) < 0.6
    assert abs(np.mean(correct) - replayed_accuracy.mean()) < 0.1


def test_sequential_plan_draws_one_at_a_time_until_the_vote_is_clear(oracle):
    """Probes split 2-2 on a p=0.5 question: the extend node keeps drawing, one per round,
    and stops as soon as the leader holds 60% (or at the cap)."""
    policy = Policy(
        edges=(),
        plans={1: {8: PlanSpec(width=8, stop_rule=AgreementAtLeast(0.6))}},
        meta={"probes": 4},
    )
    backend = FakeBackend(reply=oracle)
    rounds = []
    for seed in range(8):
        graph = create_ttc_graph(backend, Adaptive(n=8, probes=4, policy=policy, seed=seed))
        state = graph.invoke({"question": next(iter(oracle.questions))})
        result = state["ttc_result"]
        answers = [c["answer"] for c in result["candidates"]]
        drawn = len(answers)
        assert result["usage"]["calls"] == drawn <= 8
        assert "stopped at" in result["plan"]["reason"]
        # Every prefix before the stop was still open; the stop is clear or capped.
        for width in range(4, drawn):
            assert agreement(answers[:width]) < 0.6
        assert agreement(answers) >= 0.6 or drawn == 8
        rounds.append(drawn)
    assert min(rounds) == 4 and max(rounds) > 4  # some stop on the probes, some draw more


def test_calibrate_and_compare_commands(tmp_path, capsys):
    task, backend = oracle_task(20)
    for name in ("first", "second"):
        build_pool(
            task,
            backend,
            tmp_path / name / "pool.sqlite",
            k_max=8,
            critique=True,
            seed=len(name),
            progress=False,
        )
    pools = [
        "--pool",
        str(tmp_path / "first" / "pool.sqlite"),
        "--pool",
        str(tmp_path / "second" / "pool.sqlite"),
    ]
    policy_path = tmp_path / "policy.json"
    code = main(
        ["calibrate", *pools, "--budgets", "2,4,8", "--orders", "4", "--out", str(policy_path)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "cross-validated" in printed and "fitted on 20 problems, 20 held out" in printed
    policy = json.loads(policy_path.read_text())
    assert policy["meta"]["budgets"] == [2, 4, 8] and len(policy["meta"]["heldout_problems"]) == 20

    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            *pools,
            "--policy",
            str(policy_path),
            "--out",
            str(out),
            "--orders",
            "4",
            "--n-boot",
            "50",
        ]
    )
    assert code == 0
    assert "ratio" in capsys.readouterr().out
    saved = json.loads((out / "compare.json").read_text())
    assert saved["problems"] == 20 and [r["budget"] for r in saved["adaptive"]] == [2, 4, 8]
    assert set(saved["fixed"]) == {"majority", "filter_vote", "best_of_n", "weighted_best_of_n"}
    assert (out / "compare.png").stat().st_size > 10_000

    # A policy with nothing held out cannot be compared "held out" without saying so.
    bare = tmp_path / "bare.json"
    bare.write_text(Policy().to_json())
    assert main(["compare", *pools, "--policy", str(bare), "--out", str(out)]) != 0
    assert "held-out" in capsys.readouterr().err


def test_a_policy_used_on_another_model_or_probe_count_warns(caplog):
    policy = Policy(meta={"model": "gemma-3-270m", "probes": 4})
    with caplog.at_level("WARNING"):
        create_ttc_graph(
            FakeBackend(model_id="other-model"), Adaptive(n=8, probes=2, policy=policy)
        )
    assert "fitted on model 'gemma-3-270m'" in caplog.text
    assert "calibrated with 4 probes" in caplog.text


def test_budgets_beyond_the_pool_are_named(caplog):
    pool = synthetic_pool({"easy": 4, "medium": 4}, k=6, critiques=False, scores=False)
    result = calibrate(pool, [1, 2, 4, 8, 16], n_orders=2)
    assert len(result.warnings) == 1
    assert "budgets 8, 16 exceed the 6 samples" in result.warnings[0]
    assert "--k-max 16" in result.warnings[0] and "--k-max 16" in caplog.text


def test_compare_reports_tokens_beside_calls():
    """Curves and the compare table gain a tokens axis: the fixed curves' mean generated tokens
    at k samples, and the policy's mean tokens per budget (the same replay as its calls)."""
    from langgraph_ttc.scaling.replay import replay_policy_outcome
    from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples

    problems = tuple(
        ProblemSamples.from_lists(
            f"q{i}",
            ["4", "4", "5", "4"] if i % 2 else ["7", "8", "7", "9"],
            [1, 1, 0, 1] if i % 2 else [1, 0, 1, 0],
            completion_tokens=[10 * (i + 1)] * 4,  # problem i: 10(i+1) tokens a sample
        )
        for i in range(4)
    )
    pool = PoolSamples({}, problems)
    policy = Policy(meta={"probes": 2})
    comparison = compare_policy(pool, policy, budgets=[2, 4], n_orders=3, n_boot=20)
    per_problem = np.array([10.0, 20.0, 30.0, 40.0])
    for row in comparison.fixed["majority"]:
        assert row["mean_tokens"] == pytest.approx(row["k"] * per_problem.mean())
    table = ReplayTable(problems, probes=2, n_orders=3, statistic=policy.statistic)
    for row in comparison.adaptive:
        replayed = replay_policy_outcome(table, policy, row["budget"])
        assert row["mean_tokens"] == pytest.approx(round(float(replayed.tokens.mean()), 1))
        assert row["mean_calls"] == pytest.approx(round(float(replayed.calls.mean()), 3))


def test_the_calibrate_table_is_aligned_lists_every_budget_and_explains_itself():
    from langgraph_ttc.scaling.calibrate import format_policy

    pool = synthetic_pool({"easy": 6, "medium": 6, "trap": 6, "hopeless": 6}, k=16)
    result = calibrate(pool, [1, 2, 4, 8, 16], n_orders=4)
    text = format_policy(result)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("budget  bin"))
    rows = [line for line in lines if line[:6].strip().isdigit()]
    # budgets below the 4 probes get a row too, saying what happens there
    assert [r.split()[0] for r in rows if "below the 4 probes" in r] == ["1", "2"]
    fitted = [r for r in rows if "below" not in r]
    assert {r.split()[0] for r in fitted} == {"4", "8", "16"}
    # every column starts where its header does, however long the plans are
    plans = [r[header.index("plan") :].split("  ")[0] for r in fitted]
    assert max(map(len, plans)) > len("plan")
    for row in fitted:
        assert len(row) == len(fitted[0])
        assert row[header.index("accuracy") - 2 : header.index("accuracy")] == "  "
    assert "majority@B: a plain majority of B samples" in text
    assert "-> per bin: the policy keeps a plan per bin" in text and "-> one plan: " in text
    cross = [line for line in lines if line.startswith("  budget ")]
    assert [line.split()[1].rstrip(":") for line in cross] == ["1", "2", "4", "8", "16"]
