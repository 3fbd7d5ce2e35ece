"""Process scorers: the LLM step judge and Math-Shepherd rollout values (the vLLM pooling PRM
is tested in test_search_prm.py)."""

from __future__ import annotations

import pytest

from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.search.scorers import (
    LLMStepJudge,
    RolloutValueScorer,
    VerifierStepScorer,
    as_process_scorer,
)
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier


def judge_reply(messages, seed):
    step = str(messages[-1].content).split("[New Step]:")[1].split("\n")[0]
    return "Fine. [[correct]] Score: 0.8" if "= 7" in step else "No. [[wrong]] Score: 0.1"


async def test_llm_step_judge_scores_the_newest_step_and_meters_it():
    judge = LLMStepJudge()
    backend = FakeBackend(reply=judge_reply)
    meter = Meter()
    good = await judge.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=backend, meter=meter)
    bad = await judge.ascore_path(
        "3 + 4?", ["3 + 4 = 7.", "So 7 = 8."], backend=backend, meter=meter
    )
    assert (good.score, bad.score) == (0.8, 0.1)
    assert meter.usage.by_purpose["verify"].calls == 2
    prompt = judge.messages("3 + 4?", ["a.", "b."])[-1].content
    assert "[Previous Steps]:a." in prompt and "[New Step]:b." in prompt
    first = judge.messages("3 + 4?", ["a."])[-1].content
    assert "[Previous Steps]:(none)" in first


async def test_llm_step_judge_falls_back_when_unparseable_or_out_of_budget():
    judge = LLMStepJudge(fallback_score=0.4)
    backend = FakeBackend(reply=lambda m, s: "hmm")
    verdict = await judge.ascore_path("q", ["a."], backend=backend, meter=Meter())
    assert (verdict.score, verdict.parsed) == (0.4, False)
    skipped = await judge.ascore_path(
        "q", ["a."], backend=backend, meter=Meter(Budget(max_calls=0))
    )
    assert not skipped.parsed and "skipped" in skipped.rationale


def test_llm_step_judge_shows_base_models_worked_verdicts():
    class Base(FakeBackend):
        needs_exemplars = True

    messages = LLMStepJudge().messages("q", ["a."], Base())
    assert [m.type for m in messages] == ["human", "ai", "human", "ai", "human"]
    assert "[[correct]]" in messages[1].content
    with pytest.raises(TTCConfigError):
        LLMStepJudge(prompt="{question}")


async def test_rollout_value_is_the_fraction_of_accepted_completions():
    def reply(messages, seed):
        return "The answer is 7." if seed % 2 == 0 else "The answer is 8."

    outcome = ProgrammaticVerifier(lambda q, text: "answer is 7" in text)
    backend = FakeBackend(reply=reply)
    meter = Meter()
    soft = RolloutValueScorer(outcome, k=4)
    verdict = await soft.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=backend, meter=meter)
    assert verdict.score == 0.5 and verdict.rationale == "2/4 rollouts accepted"
    hard = RolloutValueScorer(outcome, k=4, mode="hard")
    assert (await hard.ascore_path("3 + 4?", ["x"], backend=backend, meter=meter)).score == 1.0
    assert meter.usage.by_purpose["verify"].calls == 8
    assert soft.calls_per_step == 4
    assert RolloutValueScorer(LLMJudge(), k=3).calls_per_step == 6


async def test_rollouts_continue_the_partial_solution():
    seen = []

    def reply(messages, seed):
        seen.append(messages[-1])
        return "The answer is 7."

    captured = []
    outcome = ProgrammaticVerifier(lambda q, text: captured.append(text) or True)
    scorer = RolloutValueScorer(outcome, k=1, segmentation="newline")
    await scorer.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=FakeBackend(reply=reply))
    assert seen[0].type == "ai" and seen[0].content == "3 + 4 = 7.\n"
    assert captured == ["3 + 4 = 7.\nThe answer is 7."]


def test_outcome_verifiers_are_wrapped_and_none_means_the_step_judge():
    verifier = ProgrammaticVerifier(lambda q, t: 1.0)
    wrapped = as_process_scorer(verifier)
    assert isinstance(wrapped, VerifierStepScorer) and wrapped.calls_per_step == 0
    assert as_process_scorer(wrapped) is wrapped
    assert isinstance(as_process_scorer(None), LLMStepJudge)
    assert as_process_scorer(LLMJudge()).calls_per_step == 1
