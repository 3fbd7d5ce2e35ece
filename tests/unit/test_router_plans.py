"""The router's plans for equal calls: the evidence vote, posterior horizons below the budget,
one plan unless per-bin plans gain more, and larger budgets inheriting smaller ones' plans."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.aggregators import Ballots, EvidenceVote, get_aggregator
from langgraph_ttc.aggregators.base import BallotTable
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.nodes.context import seed_of
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling.calibrate import (
    _inherit,
    calibrate,
    candidate_specs,
    question_priors,
)
from langgraph_ttc.scaling.prior import DifficultyPrior
from langgraph_ttc.scaling.replay import ReplayTable, replay_policy_outcome
from langgraph_ttc.scaling.samples import ProblemSamples
from langgraph_ttc.scaling.synthetic import banded_pool
from langgraph_ttc.stopping import PosteriorStop
from langgraph_ttc.strategies import Adaptive
from langgraph_ttc.testing import FakeBackend, NoisyOracle, stable_uniform


def test_the_evidence_vote_is_counts_plus_confidence_evidence_by_name():
    vote = get_aggregator("evidence_0.5@10")
    assert isinstance(vote, EvidenceVote) and (vote.slope, vote.center) == (0.5, 10.0)
    # Two votes at confidence 8 (weight 0 each) lose to one at 14 (weight 3).
    ballots = Ballots(("a", "b", "b"), confidences=(14.0, 8.0, 8.0))
    assert vote.vote(ballots).answer == "a"
    assert get_aggregator("majority").vote(ballots).answer == "b"
    # Without confidences it is the majority.
    assert vote.vote(Ballots(("a", "b", "b"))).answer == "b"
    with pytest.raises(TTCConfigError, match="Unknown aggregator"):
        get_aggregator("evidence_x")


def test_the_evidence_vote_replays_as_it_votes():
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 3, size=(6, 9))
    confidences = rng.normal(10.0, 2.0, size=(6, 9))
    vote = EvidenceVote(0.6, 10.5)
    winners = vote.prefix_winners(BallotTable(codes=codes, confidences=confidences))
    for o in range(6):
        for w in range(1, 10):
            answers = tuple(None if c < 0 else int(c) for c in codes[o, :w])
            got = vote.vote(Ballots(answers, confidences=tuple(confidences[o, :w])))
            assert (-1 if got.index is None else got.index) == winners[o, w - 1]


def test_calibration_offers_the_evidence_vote_and_posterior_horizons_below_the_budget():
    pool = banded_pool(16, 16, seed=4, confidence_auroc=0.8)
    table = ReplayTable(pool.problems, probes=2, n_orders=2)
    specs = candidate_specs(16, table)
    horizons = {s.stop_rule.horizon for s in specs if isinstance(s.stop_rule, PosteriorStop)}
    assert horizons == {4, 8, 16}
    assert any(s.aggregator.startswith("evidence_") for s in specs if s.stop)


def test_a_larger_budget_inherits_the_plans_of_a_smaller_one_that_gained_more():
    small, large = PlanSpec(width=4), PlanSpec(width=16)
    policy = Policy(plans={1: {8: small, 16: large}})
    cells = [{"bin": 1, "budget": 8, "plan": "a"}, {"bin": 1, "budget": 16, "plan": "b"}]
    cv = [
        {"budget": 8, "cv_gain": 0.05, "cv_gain_one_plan": 0.04, "cv_accuracy": 0.6},
        {"budget": 16, "cv_gain": 0.01, "cv_gain_one_plan": 0.02, "cv_accuracy": 0.61},
    ]
    _inherit(policy, cells, cv, floor=4)
    assert policy.plans[1][16] is small
    assert cv[1]["inherits"] == 8 and cv[1]["budget"] == 16 and cv[1]["cv_accuracy"] == 0.6
    assert cells[1]["plan"].endswith("(as budget 8)")


def test_an_equal_calls_policy_never_gains_less_at_a_larger_budget():
    pool = banded_pool(40, 16, seed=6)
    result = calibrate(pool, [4, 8, 16], probes=2, n_orders=2, objective="equal_calls")
    gains = [max(r["cv_gain"], r["cv_gain_one_plan"]) for r in result.cross_validation]
    assert gains == sorted(gains)


# -- the question's own prior: calibrated, stored, used live as in replay ---------------------------
QUESTIONS = {
    "What is 1 + 1?": ("2", 0.95),
    "What is 2 + 3?": ("5", 0.9),
    "What is 17 * 23?": ("391", 0.3),
    "What is 123 * 457 - 89?": ("56122", 0.05),
}


def test_calibration_offers_each_questions_own_prior_fitted_without_its_fold():
    pool = banded_pool(24, 16, seed=7)
    table = ReplayTable(pool.problems, probes=2, n_orders=2)
    priors = question_priors(pool.problems, folds=2, seed=0)
    assert len(priors) == 24 and all(len(p) == 20 for p in priors)
    table.question_priors = priors
    own = [s for s in candidate_specs(8, table) if getattr(s.stop_rule, "question_prior", False)]
    assert own and all(s.stop_rule.prior is not None for s in own)
    # A table without the priors cannot replay such a rule.
    with pytest.raises(TTCConfigError, match="question_priors"):
        ReplayTable(pool.problems, probes=2, n_orders=2).stop_mask(own[0].stop_rule)
    # No question texts: no such plans.
    bare = [dataclasses.replace(p, question="") for p in pool.problems]
    assert question_priors(bare, folds=2, seed=0) is None


def test_a_policy_with_the_question_prior_routes_live_as_it_replays():
    oracle = NoisyOracle(QUESTIONS)
    fit = [
        ProblemSamples.from_lists(
            f"mix/{i}-{j}",
            [a] * 8,
            [float(stable_uniform(q, j, k) < p) for k in range(8)],
            question=q,
        )  # fmt: skip
        for i, (q, (a, p)) in enumerate(QUESTIONS.items())
        for j in range(3)
    ]
    predictor = DifficultyPrior.fit(fit, neighbours=3)
    rule = PosteriorStop(cost=0.01, horizon=12, start=2, step=2, question_prior=True)
    spec = PlanSpec(width=12, stop_rule=rule, step=2)
    policy = Policy(edges=(), plans={1: {12: spec}},
                    meta={"probes": 2, "difficulty_prior": predictor.to_dict()})  # fmt: skip
    policy = Policy.from_json(policy.to_json())  # stored and read back, as a user loads it
    assert policy.question_prior("What is 1 + 1?") != policy.question_prior("What is 17 * 23?")
    calls = {}
    for question, (reference, _) in QUESTIONS.items():
        backend = FakeBackend(reply=oracle)
        strategy = Adaptive(n=12, probes=2, policy=policy, seed=1)
        result = create_ttc_graph(backend, strategy).invoke({"question": question})["ttc_result"]
        ctx = TTCContext.create(backend, strategy)
        answers = []
        for s in [seed_of(1, 0) + i for i in range(2)] + [
            seed_of(1, w) + i for w in range(2, 12, 2) for i in range(2)
        ]:  # the seeds of the probes and of each later round of 2
            (completion,) = backend.sample(ctx.messages_for(question), 1,
                                           ctx.params.with_seed(s)).completions  # fmt: skip
            answers.append(ctx.answer_of(completion))
        problem = ProblemSamples.from_lists(
            question, answers, [float(a == reference) for a in answers], question=question
        )
        replayed = replay_policy_outcome(ReplayTable([problem], probes=2, n_orders=1), policy, 12)
        assert replayed.calls[0] == result["usage"]["calls"], question
        assert replayed.correct[0] == float(result["answer"] == reference), question
        calls[question] = result["usage"]["calls"]
    # The easy-looking question stops on its probes; the others draw on.
    assert calls["What is 1 + 1?"] == 2 < max(calls.values())


# -- batch allocation from the command line ---------------------------------------------------------
def test_run_batch_budget_answers_every_question_of_a_task_under_one_budget(
    tmp_path, capsys, instant_server
):
    from langgraph_ttc.cli import main

    path = tmp_path / "qa.jsonl"
    path.write_text(
        "".join(
            f'{{"id": "q{i}", "question": "{q}", "answer": "{a}"}}\n'
            for i, (q, (a, _)) in enumerate(QUESTIONS.items())
        )
    )
    common = ["run", "--task", str(path), "--base-url", instant_server.base_url, "--model", "m"]
    code = main([*common, "--batch-budget", "3", "--batch-cap", "6", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out["results"]] == ["q0", "q1", "q2", "q3"]
    assert out["samples"] <= 3 * 4 and all(2 <= r["samples"] <= 6 for r in out["results"])
    assert all("correct" in r for r in out["results"])
    code = main([*common, "--batch-budget", "2"])
    assert code == 0 and "4 questions, 8 samples (2.00 each); accuracy" in capsys.readouterr().out
    # The batch's own prior (opt-in): the same budget, gains read under the batch's fit.
    code = main([*common, "--batch-budget", "3", "--batch-cap", "6", "--batch-pooled", "4",
                 "--json"])  # fmt: skip
    pooled = json.loads(capsys.readouterr().out)
    assert code == 0 and pooled["samples"] <= 3 * 4
    assert main([*common, "--batch-budget", "3", "--batch-pooled", "-1"]) != 0
    assert "pooled must be a number >= 0" in capsys.readouterr().err
    assert main(["run", "--batch-budget", "2", "--model", "m"]) != 0
    assert "--batch-budget needs --task" in capsys.readouterr().err
    assert main([*common, "What is 1 + 1?", "--batch-budget", "2"]) != 0
    assert "drop the question" in capsys.readouterr().err


# -- the middle-band embedded pool ------------------------------------------------------------------
def test_the_embedded_capitals_pool_is_in_the_models_middle_band():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "router_allocation.py"
    spec = importlib.util.spec_from_file_location("router_allocation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pool = module.load_embedded()
    accuracy = np.array([p.correct.mean() for p in pool.problems])
    assert len(pool.problems) == 70 and pool.n_min >= 11
    assert pool.meta["model_id"] == "gemma3-270m-q4_k_m" and pool.all_have("confidences")
    # Neither hopeless nor settled: the mean single-sample accuracy and the spread.
    assert 0.4 < accuracy.mean() < 0.8
    assert ((accuracy >= 0.2) & (accuracy <= 0.8)).mean() >= 0.4
