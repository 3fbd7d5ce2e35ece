"""Multi-stage allocation (the posterior stop) and batch allocation: the maths, and live runs
that their replays on pools reproduce exactly."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import numpy as np
import pytest
from round_seeds import round_seeds

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.allocation import BatchAllocation, final_answer, gain_rate, next_round
from langgraph_ttc.batch import BatchAllocator, sample_seed
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.posterior import Q_GRID, assess
from langgraph_ttc.scaling import build_pool, load_pool
from langgraph_ttc.scaling._pool_builder import sample_seed as pool_seed
from langgraph_ttc.scaling.allocation import batch_candidates, fit_batch, replay_batch, replay_stops
from langgraph_ttc.scaling.replay import ReplayTable
from langgraph_ttc.scaling.samples import ProblemSamples
from langgraph_ttc.stopping import PosteriorStop, PrefixVotes, Votes, stop_rule_from_dict
from langgraph_ttc.strategies import Adaptive
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle, stable_uniform

QUESTIONS = {
    "What is 3 + 5?": ("8", 0.55),
    "What is 17 * 23?": ("391", 0.25),
    "What is 1 + 1?": ("2", 0.95),
    "What is 12 * 12?": ("144", 0.4),
    "What is 99 - 42?": ("57", 0.05),
}
ORACLE = NoisyOracle(QUESTIONS)
SPEC = ConfidenceSpec(window=3, top_k=5)


def confidence(messages, seed, text) -> float:
    right = any(f"is {answer}." in text for answer, _ in QUESTIONS.values())
    return 0.3 + 0.5 * stable_uniform("confidence", seed) + (0.15 if right else 0.0)


# -- the posterior --------------------------------------------------------------------------------
def test_the_posterior_separates_settled_split_and_scattered_tallies():
    settled = assess(["4"] * 6, lookahead=(4, 10))
    split = assess(["4", "5", "4", "5"], lookahead=(4, 12))
    scattered = assess(["1", "2", "3", "4", "5", "6", "7", "8"], lookahead=(8,))
    assert settled.value > split.value > scattered.value
    assert scattered.unseen > settled.unseen
    assert split.best_rate() > settled.best_rate()
    # The same tally, the same numbers (fixed random numbers): live and replay agree.
    assert assess(["4", "5", "4", "5"], lookahead=(4, 12)) == split


def test_the_prior_moves_the_decision_after_one_sample():
    def band(low, high):
        return tuple(np.where((low < Q_GRID) & (high > Q_GRID), 1.0, 1e-3))

    def rule(prior):
        return PosteriorStop(cost=0.02, horizon=16, start=1, step=1, prior=prior)

    one = Votes(("4",))
    assert rule(band(0.0, 0.1)).decide(one) == "give up"  # a zero-probe prior: hopeless
    assert rule(band(0.3, 0.7)).decide(one) == "continue"
    assert rule(band(0.8, 1.0)).assess(one).value > rule(band(0.3, 0.7)).assess(one).value


def test_hopeless_questions_are_given_up():
    hopeless = tuple(np.where(Q_GRID < 0.1, 1.0, 1e-3))
    rule = PosteriorStop(cost=0.01, horizon=32, start=8, step=4, prior=hopeless)
    votes = Votes(tuple(str(i) for i in range(8)))
    assert rule.decide(votes) == "give up" and rule(votes)


def test_the_rule_round_trips_through_json_and_checks_its_inputs():
    rule = PosteriorStop(cost=0.02, horizon=12, start=2, step=2, prior=tuple(np.ones(20)),
                         slope=1.5, center=0.6)  # fmt: skip
    again = stop_rule_from_dict(json.loads(json.dumps(rule.to_dict())))
    assert again == rule and hash(again) == hash(rule)
    with pytest.raises(TTCConfigError, match="20 non-negative weights"):
        PosteriorStop(prior=(1.0, 2.0))
    with pytest.raises(TTCConfigError, match="cost >= 0"):
        PosteriorStop(cost=-1)


def test_the_vectorised_mask_equals_one_call_per_prefix():
    rule = PosteriorStop(cost=0.01, horizon=10, start=2, step=2, slope=2.0, center=0.5)
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 3, size=(6, 10))
    confidences = rng.random((6, 10))
    prefixes = PrefixVotes(codes, confidences)
    fast = rule.prefix_mask(prefixes)
    slow = [[rule(prefixes.votes(o, w)) for w in range(1, 11)] for o in range(6)]
    assert (fast == np.array(slow)).all() and fast.any()


# -- live == replay: the router with a posterior stop ----------------------------------------------
@pytest.mark.parametrize("slope", [0.0, 1.5], ids=["answers", "confidence-evidence"])
def test_a_posterior_stop_decides_the_same_live_and_in_replay(slope):
    rule = PosteriorStop(cost=0.005, horizon=16, start=4, step=4, slope=slope, center=2.0)
    spec = PlanSpec(width=16, stop_rule=rule, step=4)
    policy = Policy(edges=(), plans={1: {16: spec}}, meta={"probes": 4})
    widths = []
    for question, (reference, _) in QUESTIONS.items():
        for run_seed in range(3):
            backend = FakeBackend(reply=ORACLE, confidence=confidence)
            strategy = Adaptive(n=16, probes=4, policy=policy, seed=run_seed)
            graph = create_ttc_graph(backend, strategy, confidence=SPEC)
            result = graph.invoke({"question": question})["ttc_result"]
            live = result["candidates"]
            seeds = round_seeds(run_seed, 16, 4, 4)
            assert [c["seed"] for c in live] == seeds[: len(live)]
            ctx = TTCContext.create(backend, strategy, confidence=SPEC)
            answers, correct, confs = [], [], []
            for s in seeds:  # the pool of these seeds: every sample drawn to 16
                (completion,) = backend.sample(ctx.messages_for(question), 1,
                                               ctx.params.with_seed(s)).completions  # fmt: skip
                trace = SPEC.summarize(completion.top_logprobs, completion.logprobs)
                answers.append(ctx.answer_of(completion))
                correct.append(float(answers[-1] == reference))
                confs.append(SPEC.value(trace))
            problem = ProblemSamples.from_lists(question, answers, correct, confidences=confs)
            table = ReplayTable([problem], probes=4, n_orders=1)
            replayed = table.outcomes(spec, 16)
            key = (question, run_seed)
            assert replayed.calls[0, 0] == result["usage"]["calls"] == len(live), key
            assert replayed.correct[0, 0] == float(result["answer"] == reference), key
            assert replay_stops(table, rule).calls[0, 0] == len(live), key
            widths.append(len(live))
    assert min(widths) == 4 and max(widths) > 4  # some stop on the probes, some draw on


# -- batch allocation ------------------------------------------------------------------------------
def test_next_round_serves_the_most_promising_questions_within_caps_and_budget():
    batch = [Votes(("4", "4")), Votes(("4", "5")), Votes(("1", "2")), Votes(("7", "7"))]
    allocation = BatchAllocation(budget=4, start=2, chunk=2, cap=4, per_round=0.5)
    extra = next_round(batch, allocation, left=8)
    assert extra[0] == extra[3] == 0 and sum(extra) == 4
    assert (
        next_round(batch, allocation, left=1) == [0, 1, 0, 0]
        or sum(next_round(batch, allocation, left=1)) == 1
    )
    full = [Votes(("4", "5", "6", "7"))] * 2
    assert next_round(full, allocation, left=10) == [0, 0]  # capped
    assert final_answer(Votes(("5", "4", "4"))) == "4"
    assert gain_rate(Votes(("4",) * 4), allocation) == 0.0  # at its cap


def test_batch_allocation_checks_its_settings():
    with pytest.raises(TTCConfigError, match="below the 4 samples"):
        BatchAllocation(budget=2, start=4)
    with pytest.raises(TTCConfigError, match="cap >= start"):
        BatchAllocation(start=4, cap=2)


def oracle_task(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": q, "answer": a}) + "\n"
            for i, (q, (a, _)) in enumerate(QUESTIONS.items())
        )
    )
    return load_task(str(path))


def test_the_seed_of_a_sample_is_the_pools():
    assert all(sample_seed(7, f"q{i}", j) == pool_seed(7, f"q{i}", j)
               for i in range(5) for j in range(5))  # fmt: skip


@pytest.mark.parametrize(
    "path,vote,pooled",
    [
        ("sync", None, None),
        ("async", None, "rounds"),
        ("sync", "confidence_weighted", None),
        ("sync", "confidence_weighted", "probes"),
        ("async", "evidence_3.0@0.5", "rounds"),
    ],
)
def test_a_live_batch_is_its_replay_on_the_pool_of_the_same_seeds(tmp_path, path, vote, pooled):
    task = oracle_task(tmp_path)
    backend = FakeBackend(reply=ORACLE, confidence=confidence)
    spec = SPEC if vote else None  # the router's confidence vote, with future evidence
    build_pool(task, backend, tmp_path / "pool.sqlite", k_max=12, seed=7, progress=False,
               confidence=spec)  # fmt: skip
    pool = load_pool(tmp_path / "pool.sqlite")
    allocation = BatchAllocation(budget=5, start=2, chunk=2, cap=12, per_round=0.4)
    if vote:
        allocation = BatchAllocation(budget=5, start=2, chunk=2, cap=12, per_round=0.4,
                                     slope=3.0, center=0.5, vote=vote,
                                     future=((0.3, 0.9), (-0.9, -0.3)))  # fmt: skip
        assert pool.all_have("confidences")
    if pooled:  # the batch's own prior (empirical Bayes) and evidence, refitted or not
        allocation = dataclasses.replace(allocation, pooled=2.0, refit=pooled, pool_evidence=True)
    ctx = TTCContext.create(backend, "majority", task=task, confidence=spec)
    allocator = BatchAllocator(ctx, allocation, seed=7)
    inputs = [{"question": p.question, "id": p.id} for p in task.problems()]
    live = allocator.batch(inputs) if path == "sync" else asyncio.run(allocator.abatch(inputs))
    assert sum(r["samples"] for r in live) <= allocation.total(len(inputs))
    table = ReplayTable(pool.problems, probes=1, n_orders=1)
    replayed = replay_batch(table, allocation)
    by_id = {p.problem_id: i for i, p in enumerate(pool.problems)}
    for result, problem in zip(live, task.problems(), strict=True):
        row = by_id[problem.id]
        assert replayed.calls[row, 0] == result["samples"], problem.id
        graded = float(result["answer"] is not None and task.score(problem, result["answer"]) == 1)
        assert replayed.correct[row, 0] == graded, problem.id
    spread = [r["samples"] for r in live]
    assert max(spread) > min(spread)  # compute moved between questions


def test_batch_allocation_moves_compute_from_settled_to_contested_questions():
    settled = ProblemSamples.from_lists("settled", ["4"] * 16, [1] * 16)
    contested = ProblemSamples.from_lists("contested", ["4", "5"] * 8, [1, 0] * 8)
    table = ReplayTable([settled, contested], probes=1, n_orders=4)
    out = replay_batch(table, BatchAllocation(budget=6, start=2, chunk=2, cap=16))
    assert out.calls[0].mean() < out.calls[1].mean()
    assert (out.calls.sum(axis=0) <= 12).all()


def test_future_evidence_makes_a_confidence_vote_worth_more_samples():
    # Two answers, the second more confident: with slope 4 one confident sample outweighs a
    # vote. Counted as votes only, future samples can hardly move a confidence vote; with the
    # evidence right and wrong samples bring, the look-ahead sees what they are worth.
    from langgraph_ttc.scaling.prior import evidence_profile

    answers, confs = ["4", "5", "4", "5"], [0.55, 0.6, 0.5, 0.65]
    kwargs = dict(slope=4.0, center=0.5, lookahead=(2, 6))
    plain = assess(answers, confs, **kwargs)
    future = ((0.8, 1.2, 1.6), (-1.6, -1.2, -0.8))
    seen = assess(answers, confs, future=future, **kwargs)
    assert seen.best_rate() > plain.best_rate() and seen.value == plain.value
    assert assess(answers, confs, future=future, **kwargs) == seen  # deterministic
    assert assess(answers, None, future=future, lookahead=(2, 6)) == assess(
        answers, None, lookahead=(2, 6)
    )  # without evidence the future brings none
    p = ProblemSamples.from_lists("q", ["4", "5"] * 10, [1, 0] * 10, confidences=[0.9, 0.3] * 10)
    right, wrong = evidence_profile([p], slope=2.0, center=0.6, points=4)
    assert min(right) > 0 > max(wrong) and len(right) == len(wrong) == 4
    assert evidence_profile([p], slope=0.0, center=0.6) is None
    with pytest.raises(TTCConfigError, match="future must be"):
        BatchAllocation(future=((0.5,), ()))


def test_the_router_s_batch_draws_and_answers_as_its_stops():
    # BatchAllocation.from_rule: given the total the rule spends, every question stops where the
    # rule stops it and is answered by the router's vote, order by order.
    from langgraph_ttc.scaling.prior import accuracy_prior, fit_evidence
    from langgraph_ttc.scaling.synthetic import banded_pool

    pool = banded_pool(16, 16, seed=4, confidence_auroc=0.74)
    slope, center = fit_evidence(pool.problems)
    table = ReplayTable(pool.problems, probes=2, n_orders=2)
    for cost, vote in ((0.004, "majority"), (0.03, "confidence_weighted")):
        rule = PosteriorStop(cost, 8, 2, 2, accuracy_prior(pool.problems), slope, center)
        stops = replay_stops(table, rule, vote)
        batch = BatchAllocation.from_rule(rule, budget=2, vote=vote)
        assert (batch.start, batch.chunk, batch.cap, batch.min_gain) == (2, 2, 8, cost)
        totals = stops.calls.sum(axis=0).astype(int)
        out = replay_batch(table, batch, totals=totals)
        assert (out.calls == stops.calls).all() and (out.correct == stops.correct).all()
    with pytest.raises(TTCConfigError, match="one total per order"):
        replay_batch(table, batch, totals=[4])
    with pytest.raises(TTCConfigError, match="needs more than answers"):
        BatchAllocation(vote="best_of_n")


def test_fit_batch_keeps_the_router_s_stops_unless_another_clearly_beats_them():
    # Contested questions whose right answer leads only over many samples: a cap of 2 (the
    # reference) loses clearly to spending the budget up to 8 each; settled ones gain nothing.
    contested = [
        ProblemSamples.from_lists(
            f"c{i}", ["4", "5", "6", "4", "4", "7", "4", "8"] * 2, [1, 0, 0, 1, 1, 0, 1, 0] * 2
        )  # fmt: skip
        for i in range(12)
    ]
    table = ReplayTable(contested, probes=1, n_orders=4)
    reference = BatchAllocation(budget=2, start=2, cap=2, min_gain=0.01)
    candidates = batch_candidates(reference, width=16, caps=(8,))
    assert [label for label, _, _ in candidates] == ["router", "spend all", "spend all, cap 8"]
    fitted = fit_batch(table, 6, candidates)
    assert fitted.label == "spend all, cap 8" and fitted.allocation.cap == 8
    assert fitted.allocation.budget == 6 and [r["chosen"] for r in fitted.rows] == [0, 0, 1]
    settled = [ProblemSamples.from_lists(f"s{i}", ["4"] * 16, [1] * 16) for i in range(6)]
    kept = fit_batch(ReplayTable(settled, probes=1, n_orders=2), 6, candidates)
    assert kept.label == "router" and kept.rows[1]["gain"] == 0.0  # nothing to gain: no change
    with pytest.raises(TTCConfigError, match="pass priors"):
        fit_batch(table, 6, [("router", reference, True)])


# -- the calibrated policy: no overfitting, the best vote everywhere -------------------------------
def test_below_the_probes_cost_the_router_votes_as_fitted_live_and_in_replay():
    vote = PlanSpec(stop=True, aggregator="confidence_weighted")
    policy = Policy(edges=(), plans={1: {2: vote, 24: PlanSpec(width=24)}}, meta={"probes": 4})
    assert policy.needs_confidence and policy.vote_below_probes(2) == "confidence_weighted"
    for seed, (question, (reference, _)) in enumerate(QUESTIONS.items()):
        backend = FakeBackend(reply=ORACLE, confidence=confidence)
        graph = create_ttc_graph(backend, Adaptive(n=2, probes=4, policy=policy, seed=seed),
                                 confidence=SPEC)  # fmt: skip
        result = graph.invoke({"question": question})["ttc_result"]
        assert result["plan"]["aggregator"] == "confidence_weighted"
        candidates = result["candidates"]
        problem = ProblemSamples.from_lists(
            question,
            [c["answer"] for c in candidates],
            [float(c["answer"] == reference) for c in candidates],
            confidences=[c["confidence"] for c in candidates],
        )
        replayed = ReplayTable([problem], probes=2, n_orders=1).outcomes(policy.spec(1, 2), 2)
        assert replayed.calls[0, 0] == result["usage"]["calls"] == 2
        assert replayed.correct[0, 0] == float(result["answer"] == reference)


def test_calibration_shrinks_votes_by_confidence_and_reports_fold_stability():
    from langgraph_ttc.scaling.calibrate import calibrate, format_policy
    from langgraph_ttc.scaling.synthetic import banded_pool

    pool = banded_pool(40, 16, seed=3, confidence_auroc=0.9)
    result = calibrate(pool, [2, 8], probes=4, n_orders=4)
    policy = result.policy
    # Below the probes' cost: the vote the pool supports (strong confidences: weighted).
    assert policy.vote_below_probes(2) != "majority"
    for row in result.cross_validation:
        assert row["bins"] in (1, 2, 3, 5) and row["margin"] in (0.0, 0.02, 0.05)
        assert row["plan_stability"] is None or 0.0 <= row["plan_stability"] <= 1.0
    text = format_policy(result)
    assert "plans alike across folds" in text
    described = [c["plan"] for c in result.cells if c["budget"] == 8]
    assert described  # the posterior stop is among the plans tried at 8
    from langgraph_ttc.scaling.calibrate import Candidates
    from langgraph_ttc.scaling.replay import ReplayTable as Table

    specs = Candidates(Table(pool.problems, probes=4, n_orders=2), [8]).specs[8]
    assert any(isinstance(s.stop_rule, PosteriorStop) for s in specs)


# -- the zero-probe prior ------------------------------------------------------------------------
def test_a_zero_probe_prior_ranks_held_out_questions_by_difficulty():
    from langgraph_ttc.scaling.calibrate import split_problems
    from langgraph_ttc.scaling.prior import DifficultyPrior
    from langgraph_ttc.scaling.synthetic import banded_pool

    pool = banded_pool(120, 16, seed=4)
    fit, held = split_problems(pool, 0.5)
    prior = DifficultyPrior.fit(pool.subset(fit).problems, tasks=["mix"] * len(fit))
    predicted: dict[str, list[float]] = {}
    for problem in pool.subset(held).problems:
        band = problem.problem_id.split("/")[1].split("-")[0]
        weights = prior.prior_for(problem.question)
        assert len(weights) == 20 and abs(sum(weights) - 1) < 1e-3
        predicted.setdefault(band, []).append(prior.predict(problem.question))
    mean = {band: np.mean(values) for band, values in predicted.items()}
    assert mean["easy"] > mean["middle"] > mean["hopeless"]


def test_the_prior_reads_embeddings_and_needs_question_texts():
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from langgraph_ttc.scaling.prior import DifficultyPrior

    problems = [
        ProblemSamples.from_lists(f"t/{i}", ["4"] * 4, [float(i % 2)] * 4, question=f"Q {i}?")
        for i in range(10)
    ]
    prior = DifficultyPrior.fit(problems, embeddings=DeterministicFakeEmbedding(size=8))
    assert len(prior.features[0]) == 6 + 8
    assert 0.0 < prior.predict("Q 3?") < 1.0
    with pytest.raises(TTCConfigError, match="no text"):
        DifficultyPrior.fit([ProblemSamples.from_lists("x", ["4"], [1])])


def test_a_live_batch_with_zero_probe_priors_is_its_replay(tmp_path):
    from langgraph_ttc.scaling.prior import DifficultyPrior

    task = oracle_task(tmp_path)
    backend = FakeBackend(reply=ORACLE)
    build_pool(task, backend, tmp_path / "pool.sqlite", k_max=10, seed=3, progress=False)
    pool = load_pool(tmp_path / "pool.sqlite")
    prior = DifficultyPrior.fit(pool.problems, neighbours=2)
    allocation = BatchAllocation(budget=4, start=1, chunk=2, cap=10, per_round=0.4)
    allocator = BatchAllocator(TTCContext.create(backend, "majority", task=task), allocation,
                               seed=3, prior=prior)  # fmt: skip
    live = allocator.batch([{"question": p.question, "id": p.id} for p in task.problems()])
    priors = [prior.prior_for(p.question) for p in pool.problems]
    replayed = replay_batch(ReplayTable(pool.problems, probes=1, n_orders=1), allocation,
                            priors=priors)  # fmt: skip
    by_id = {r["id"]: r for r in live}
    for row, problem in enumerate(pool.problems):
        assert replayed.calls[row, 0] == by_id[problem.problem_id]["samples"]


def test_as_runnable_batch_spends_one_budget_over_the_batch():
    from langgraph_ttc.runnable import as_runnable

    allocation = BatchAllocation(budget=4, start=2, chunk=2, cap=16, per_round=0.5)
    chain = as_runnable(FakeBackend(reply=ORACLE), allocation=allocation)
    questions = list(QUESTIONS)
    replies = chain.batch(questions)
    again = asyncio.run(chain.abatch(questions))
    assert [r.content for r in replies] == [r.content for r in again]  # same seeds, same run
    spent = [r.response_metadata["ttc_allocation"]["samples"] for r in replies]
    assert sum(spent) <= allocation.total(len(questions)) and max(spent) > min(spent)
    one = chain.invoke(questions[2])  # a batch of one: the easy question
    assert one.content == "2"
    with pytest.raises(TTCConfigError, match="takes task"):
        as_runnable(FakeBackend(), allocation=allocation, verifier=object())


def test_an_equal_calls_objective_prices_calls_by_cross_validation(tmp_path, capsys):
    from langgraph_ttc.cli import main
    from langgraph_ttc.scaling.calibrate import PRICES, calibrate
    from langgraph_ttc.scaling.synthetic import banded_pool

    pool = banded_pool(40, 16, seed=5)
    result = calibrate(pool, [8, 16], n_orders=4, objective="equal_calls")
    assert all(row["price"] in PRICES for row in result.cross_validation)
    assert result.policy.meta["objective"] == "equal_calls"
    with pytest.raises(TTCConfigError, match="objective"):
        calibrate(pool, [8], n_orders=2, objective="speed")
    # The command line passes it through.
    task = oracle_task(tmp_path)
    build_pool(task, FakeBackend(reply=ORACLE), tmp_path / "pool.sqlite", k_max=8, progress=False)
    out = tmp_path / "policy.json"
    code = main(["calibrate", "--pool", str(tmp_path / "pool.sqlite"), "--budgets", "4,8",
                 "--orders", "2", "--holdout", "0", "--objective", "equal-calls",
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and json.loads(out.read_text())["meta"]["objective"] == "equal_calls"
    assert "plans alike across folds" in capsys.readouterr().out


def test_a_batch_from_a_policy_votes_as_its_router():
    from langgraph_ttc.batch import allocation_for

    rule = PosteriorStop(cost=0.01, horizon=8, start=2, step=2, slope=2.0, center=0.5)
    spec = PlanSpec(width=8, aggregator="confidence_weighted", stop_rule=rule, step=2)
    allocation, prior = allocation_for(4, cap=16, policy=Policy(edges=(), plans={1: {8: spec}}))
    assert (allocation.vote, allocation.slope, allocation.cap, prior) == (
        "confidence_weighted",
        2.0,
        16,
        None,
    )
    assert allocation_for(4)[0].vote is None  # no policy: counts plus evidence
