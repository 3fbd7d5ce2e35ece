"""Confidence methods decide the same live and in replay, and pools keep what they replay from.

A live run of DeepConf online or Adaptive-Consistency stops traces and samples early. Its pool
counterpart holds every sample drawn to its end (what ``build_pool`` stores), with the same seeds
the live run used; replaying the method over that pool must give the live run's answer, calls and
generated tokens exactly: the replay finds the stopping points from the stored confidence
summaries and vote counts, as the live run found them from the token stream.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from round_seeds import round_seeds

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec, TraceConfidence
from langgraph_ttc.methods import AdaptiveConsistency, DeepConfOnline
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.scaling import build_pool, load_pool
from langgraph_ttc.scaling.replay import ReplayTable
from langgraph_ttc.scaling.samples import ProblemSamples
from langgraph_ttc.stopping import BayesianStop
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle, stable_uniform

QUESTIONS = {
    "What is 3 + 5?": ("8", 0.6),
    "What is 17 * 23?": ("391", 0.25),
    "What is 1 + 1?": ("2", 0.95),
}
ORACLE = NoisyOracle(QUESTIONS)
SPEC = ConfidenceSpec(window=3, top_k=5)  # windows of 3 tokens: the fake's traces have 4 to 9


def reply(messages, seed) -> str:
    """The oracle's answer, some traces with a few words of working first (longer traces)."""
    working = "Let me think it through. " if (seed or 0) % 3 == 0 else ""
    return working + ORACLE(messages, seed)


def confidence(messages, seed, text) -> float:
    """Top-token probability per trace: spread out, a little higher for right answers."""
    right = any(f"is {answer}." in text for answer, _ in QUESTIONS.values())
    return 0.3 + 0.5 * stable_uniform("confidence", seed) + (0.15 if right else 0.0)


class Recording(FakeBackend):
    """The fake, remembering the prompt it was sent (the pool redraws it)."""

    def sample(self, messages, n, params, **kwargs):
        self.prompt = messages
        return super().sample(messages, n, params, **kwargs)


def pool_problem(ctx: TTCContext, backend: Recording, seeds, reference: str) -> ProblemSamples:
    """What a pool holds for these seeds: each sample drawn alone and to its end, with its
    confidence summary (``build_pool``'s row), in the live run's index order."""
    answers, correct, confidences, tokens, traces = [], [], [], [], []
    params = replace(ctx.params, top_logprobs=SPEC.top_k)  # the pool asks for log-probs
    for seed in seeds:
        (completion,) = backend.sample(backend.prompt, 1, params.with_seed(seed)).completions
        trace = SPEC.summarize(completion.top_logprobs, completion.logprobs)
        answer = ctx.answer_of(completion)
        answers.append(answer)
        correct.append(float(answer == reference))
        confidences.append(SPEC.value(trace))
        tokens.append(completion.completion_tokens)
        traces.append(trace.to_dict())
    return ProblemSamples.from_lists(
        "q",
        answers,
        correct,
        confidences=confidences,
        completion_tokens=tokens,
        traces=traces,
    )


@pytest.mark.parametrize("tau", [0.9, None], ids=["consensus-stop", "whole-budget"])
@pytest.mark.parametrize("eta", [10.0, 90.0], ids=["deepconf-low", "deepconf-high"])
def test_deepconf_online_replay_equals_the_live_run(eta, tau):
    checked = stopped_seen = after_warmup = 0
    for question, (reference, _) in QUESTIONS.items():
        for run_seed in range(6):
            backend = Recording(reply=reply, confidence=confidence)
            strategy = DeepConfOnline(n=16, warmup=4, eta=eta, tau=tau, step=3, seed=run_seed)
            graph = create_ttc_graph(backend, strategy, confidence=SPEC)
            result = graph.invoke({"question": question})["ttc_result"]
            live = result["candidates"]
            stopped_seen += sum(c["finish_reason"] == "stopped" for c in live)
            after_warmup += len(live) == 4
            ctx = TTCContext.create(backend, strategy, confidence=SPEC)
            seeds = round_seeds(run_seed, 16, strategy.warmup, strategy.step)
            assert [c["seed"] for c in live] == seeds[: len(live)]  # the seeds we redraw
            problem = pool_problem(ctx, backend, seeds, reference)
            table = ReplayTable([problem], probes=1, n_orders=1)
            replayed = table.deepconf_online(
                16, warmup=strategy.warmup, eta=eta, tau=strategy.tau, step=strategy.step
            )
            key = (question, run_seed)
            assert replayed.correct[0, 0] == float(result["answer"] == reference), key
            assert replayed.calls[0, 0] == result["usage"]["calls"] == len(live), key
            assert replayed.tokens[0, 0] == result["usage"]["completion_tokens"], key
            checked += 1
    assert checked == 18
    if tau is None:  # the whole budget, every time
        assert after_warmup == 0 and stopped_seen > 0
        return
    # DeepConf-low keeps ~10% of the warm-up as voters, whose consensus is then ~1: it mostly
    # stops after the warm-up. DeepConf-high keeps drawing, and stops low-confidence traces.
    assert (stopped_seen > 0) if eta == 90.0 else (after_warmup > 0)


def test_adaptive_consistency_replay_equals_the_live_run():
    rule = BayesianStop(0.95)
    early = 0
    for question, (reference, _) in QUESTIONS.items():
        for run_seed in range(6):
            backend = Recording(reply=reply, confidence=confidence)  # cancels samples in flight
            strategy = AdaptiveConsistency(n=12, threshold=rule.threshold, seed=run_seed)
            result = create_ttc_graph(backend, strategy).invoke({"question": question})[
                "ttc_result"
            ]
            live = result["candidates"]
            early += len(live) < 12
            ctx = TTCContext.create(backend, strategy)
            seeds = round_seeds(run_seed, 12, 12, 12)  # one draw of all 12, cut short live
            problem = pool_problem(ctx, backend, seeds, reference)
            replayed = ReplayTable([problem], probes=1, n_orders=1).stopped(rule, "majority", 12)
            key = (question, run_seed)
            assert replayed.correct[0, 0] == float(result["answer"] == reference), key
            assert replayed.calls[0, 0] == result["usage"]["calls"] == len(live), key
            assert replayed.tokens[0, 0] == result["usage"]["completion_tokens"], key
    assert early > 0  # the Bayesian stop did cut some runs short


def confident_pool(tmp_path, spec=SPEC):
    task = load_task("rg:basic_arithmetic", size=3, config={"max_terms": 2, "max_digits": 1})
    backend = FakeBackend(reply=reply, confidence=confidence)
    path = tmp_path / "pool.sqlite"
    build_pool(task, backend, path, k_max=4, confidence=spec, progress=False, seed=7)
    return task, backend, path


def test_a_pool_keeps_each_samples_confidence_and_tokens(tmp_path):
    from langgraph_ttc.scaling.pool import sample_seed

    task, backend, path = confident_pool(tmp_path)
    pool = load_pool(path)
    assert pool.meta["confidence"] == {"measure": "lowest_group", "window": 3, "tail": 2048,
                                       "top_k": 5}  # fmt: skip
    params = SamplingParams(top_logprobs=SPEC.top_k)
    for problem, source in zip(pool.problems, task.problems(), strict=True):
        for i in range(problem.n):
            seed = sample_seed(7, problem.problem_id, i)
            draw = backend.sample(task.messages(source.question), 1, params.with_seed(seed))
            (again,) = draw.completions
            trace = SPEC.summarize(again.top_logprobs, again.logprobs)
            assert problem.completion_tokens[i] == again.completion_tokens > 0
            assert problem.confidences[i] == pytest.approx(SPEC.value(trace))
            assert TraceConfidence.from_dict(problem.traces[i]) == trace


def test_an_older_pool_without_the_confidence_column_still_loads_and_resumes(tmp_path):
    task = load_task("rg:basic_arithmetic", size=2, config={"max_terms": 2, "max_digits": 1})
    path = tmp_path / "pool.sqlite"
    build_pool(task, FakeBackend(reply=reply), path, k_max=3, progress=False)
    with sqlite3.connect(path) as conn:  # the layout before confidence was stored
        conn.execute("ALTER TABLE samples DROP COLUMN confidence")
        conn.execute("DELETE FROM meta WHERE key = 'confidence'")
    old = load_pool(path)
    assert [p.n for p in old.problems] == [3, 3]
    assert all(np.isnan(p.confidences).all() for p in old.problems)
    assert all(p.traces == (None, None, None) for p in old.problems)
    assert all((p.completion_tokens > 0).all() for p in old.problems)  # tokens were kept
    build_pool(task, FakeBackend(reply=reply), path, k_max=4, progress=False)  # resumed
    resumed = load_pool(path)
    assert [p.n for p in resumed.problems] == [4, 4]
    for before, after in zip(old.problems, resumed.problems, strict=True):
        assert after.completion_tokens[:3].tolist() == before.completion_tokens.tolist()
