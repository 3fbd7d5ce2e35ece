"""Verifiers: reference, unit tests, user functions and the LLM judge (with fakes and a Meter)."""

from __future__ import annotations

import pytest

from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.tasks import HumanEvalTask, Problem, ReasoningGymTask
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.verifiers import (
    JUDGE_PROMPT,
    LLMJudge,
    ProgrammaticVerifier,
    ReferenceVerifier,
    UnitTestVerifier,
    Verdict,
    Verifier,
    parse_verdict,
)


def _reply(text):
    return FakeBackend(reply=lambda messages, seed: text)


# -- parse_verdict -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Checks out. [[correct]]", 1.0),
        ("Step 2 is off. [[wrong]]", 0.0),
        ("[[Incorrect]]", 0.0),
        ("[[wrong]] at first, but after checking: [[correct]]", 1.0),  # the last tag wins
        ("[[correct]]? No. [[wrong]]", 0.0),
        ("[[correct]] Score: 0.8", 0.8),
        ("[[wrong]] Score: 0.2", 0.2),
        ("[[wrong]] Score: 0.9", 0.0),  # a score contradicting the tag is ignored
        ("Score: 0.75", 0.75),
        ("score = 7/10", 0.7),
        ("I would rate this 8/10.", 0.8),
        ("Score: 80%", 0.8),
        ("Score: 9", 0.9),  # bare 0-10 scale
        ("Score: 250", None),  # out of any scale
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_verdict(text, score):
    if score is None:
        assert parse_verdict(text) is None
    else:
        assert parse_verdict(text) == pytest.approx(score)


# -- Verdict -----------------------------------------------------------------------------------


def test_verdict_validates_score():
    assert Verdict(score=0.5).step_scores is None
    with pytest.raises(TTCConfigError):
        Verdict(score=1.5)
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        Verdict(score=0.5).score = 1.0  # type: ignore[misc]


# -- LLMJudge ----------------------------------------------------------------------------------


async def test_judge_counts_its_calls_under_verify():
    backend = _reply("The steps hold. [[correct]] Score: 0.9")
    meter = Meter(Budget(max_calls=10))
    judge = LLMJudge(samples=3)
    verdict = await judge.averify("What is 2+2?", "The answer is 4.", backend=backend, meter=meter)
    assert verdict == Verdict(score=0.9, rationale="The steps hold. [[correct]] Score: 0.9")
    assert judge.uses_model
    usage = meter.usage.by_purpose
    assert set(usage) == {"verify"}
    assert usage["verify"].calls == 3 and usage["verify"].requests == 1
    assert usage["verify"].prompt_tokens > 0 and usage["verify"].completion_tokens > 0


async def test_judge_prompt_holds_question_and_answer_and_temperature_zero():
    seen = {}

    def reply(messages, seed):
        seen["prompt"] = messages[-1].content
        return "[[wrong]]"

    class Spy(FakeBackend):
        async def asample(self, messages, n, params, *, timeout=None):
            seen["params"] = params
            return await super().asample(messages, n, params, timeout=timeout)

    judge = LLMJudge(backend=Spy(reply=reply), max_tokens=64)
    verdict = await judge.averify(r"Solve $\frac{x}{2} = {3}$ {answer}", "x = 6")
    assert verdict.score == 0.0 and verdict.parsed
    assert r"[User Question]:Solve $\frac{x}{2} = {3}$ {answer}" in seen["prompt"]
    assert "[Answer]:x = 6" in seen["prompt"] and "[[correct]]" in seen["prompt"]
    assert seen["params"].temperature == 0 and seen["params"].max_tokens == 64


async def test_judge_unparseable_reply_falls_back():
    judge = LLMJudge(backend=_reply("Hmm, hard to say."), fallback_score=0.3)
    verdict = await judge.averify("q", "a")
    assert verdict.score == 0.3 and not verdict.parsed
    assert "unparseable" in verdict.rationale and "hard to say" in verdict.rationale


async def test_judge_failed_sample_falls_back():
    backend = FakeBackend(fail=lambda messages, seed: True)
    meter = Meter()
    verdict = await LLMJudge().averify("q", "a", backend=backend, meter=meter)
    assert verdict.score == 0.5 and not verdict.parsed and "injected failure" in verdict.rationale
    assert meter.usage.by_purpose["verify"].failed == 1


async def test_judge_budget_skip_returns_fallback_and_spends_nothing():
    backend = _reply("[[correct]]")
    meter = Meter(Budget(max_calls=0))
    verdict = await LLMJudge(fallback_score=0.5).averify("q", "a", backend=backend, meter=meter)
    assert verdict.score == 0.5 and not verdict.parsed
    assert "budget" in verdict.rationale
    assert meter.usage.total().calls == 0 and backend.seen == []


async def test_judge_samples_are_cut_to_the_budget_and_counted():
    backend = _reply("[[correct]]")
    meter = Meter(Budget(max_calls=2))
    verdict = await LLMJudge(samples=5).averify("q", "a", backend=backend, meter=meter)
    assert verdict.score == 1.0
    assert backend.seen == [2]
    assert meter.usage.by_purpose["verify"].calls == 2
    skipped = await LLMJudge().averify("q", "a", backend=backend, meter=meter)
    assert not skipped.parsed and meter.usage.by_purpose["verify"].calls == 2


async def test_judge_prefers_its_own_backend():
    own, passed_in = _reply("[[correct]]"), _reply("[[wrong]]")
    verdict = await LLMJudge(backend=own).averify("q", "a", backend=passed_in)
    assert verdict.score == 1.0 and own.seen == [1] and passed_in.seen == []


async def test_judge_without_any_backend_is_a_config_error():
    with pytest.raises(TTCConfigError, match="backend"):
        await LLMJudge().averify("q", "a")


def test_judge_config_errors():
    with pytest.raises(TTCConfigError):
        LLMJudge(prompt="no placeholders")
    with pytest.raises(TTCConfigError):
        LLMJudge(fallback_score=2)
    with pytest.raises(TTCConfigError):
        LLMJudge(samples=0)


def test_judge_shows_exemplars_to_base_models():
    class Base(FakeBackend):
        needs_exemplars = True

    judge = LLMJudge()
    assert len(judge.messages("q", "a", Base())) == 5
    assert len(judge.messages("q", "a", FakeBackend())) == 1


def test_judge_works_with_the_noisy_oracle_and_sync_wrapper():
    oracle = NoisyOracle({"What is 2+2?": ("4", 1.0)}, critique_accuracy=1.0)
    judge = LLMJudge(backend=FakeBackend(reply=oracle))
    assert judge.verify("What is 2+2?", "The answer is 4.").score == 1.0
    assert judge.verify("What is 2+2?", "The answer is 5.").score == 0.0


async def test_sync_verify_inside_a_running_loop():
    judge = LLMJudge(backend=_reply("[[correct]]"))
    assert judge.verify("q", "a").score == 1.0


def test_judge_prompt_keeps_the_filter_structure():
    for marker in ("[User Question]:", "[Answer]:", "Instruction:", "[[correct]]", "[[wrong]]"):
        assert marker in JUDGE_PROMPT


# -- reference, unit-test and programmatic verifiers -------------------------------------------


@pytest.fixture(scope="module")
def arithmetic():
    return ReasoningGymTask("basic_arithmetic", size=3, seed=0, n_exemplars=0)


async def test_reference_verifier(arithmetic):
    verifier = ReferenceVerifier(arithmetic)
    assert not verifier.uses_model
    problem = arithmetic.problems()[1]
    right = await verifier.averify(
        problem.question, f"The answer is {problem.reference}.", problem=problem
    )
    assert right.score == 1.0 and right.parsed and problem.reference in right.rationale
    wrong = await verifier.averify(problem.question, "No idea.", problem=problem)
    assert wrong.score == 0.0 and not wrong.parsed


async def test_reference_verifier_needs_a_reference(arithmetic):
    verifier = ReferenceVerifier(arithmetic)
    with pytest.raises(TTCConfigError, match="reference"):
        await verifier.averify("q", "The answer is 1.")
    with pytest.raises(TTCConfigError, match="reference"):
        await verifier.averify("q", "The answer is 1.", problem=Problem("p", "q"))


async def test_unit_test_verifier():
    task = HumanEvalTask(size=1, seed=0)
    problem = task.problems()[0]
    verifier = UnitTestVerifier(task)
    good = await verifier.averify(problem.question, problem.reference, problem=problem)
    assert good.score == 1.0 and good.rationale == "tests passed"
    entry = problem.metadata["entry_point"]
    bad = await verifier.averify(
        problem.question, f"def {entry}(*a):\n    return 0", problem=problem
    )
    assert bad.score == 0.0 and "failed" in bad.rationale
    empty = await verifier.averify(problem.question, "   ", problem=problem)
    assert empty.score == 0.0 and not empty.parsed
    with pytest.raises(TTCConfigError, match="problem"):
        await verifier.averify(problem.question, problem.reference)


def test_unit_test_verifier_needs_a_task_with_tests(arithmetic):
    with pytest.raises(TTCConfigError, match="run_tests"):
        UnitTestVerifier(arithmetic)


async def test_programmatic_verifier():
    assert (await ProgrammaticVerifier(lambda q, t: "4" in t).averify("2+2?", "4")).score == 1.0
    assert (await ProgrammaticVerifier(lambda q, t: 0.25).averify("q", "t")).score == 0.25

    async def async_check(question, text):
        return False

    assert (await ProgrammaticVerifier(async_check).averify("q", "t")).score == 0.0
    unknown = await ProgrammaticVerifier(lambda q, t: None).averify("q", "t")
    assert unknown.score == 0.0 and not unknown.parsed
    with pytest.raises(TTCConfigError, match=r"\[0, 1\]"):
        await ProgrammaticVerifier(lambda q, t: 3).averify("q", "t")
    with pytest.raises(TTCConfigError, match="return a bool"):
        await ProgrammaticVerifier(lambda q, t: "yes").averify("q", "t")
    with pytest.raises(TTCConfigError):
        ProgrammaticVerifier("not callable")  # type: ignore[arg-type]


def test_all_verifiers_are_verifiers(arithmetic):
    for verifier in (ReferenceVerifier(arithmetic), ProgrammaticVerifier(bool), LLMJudge()):
        assert isinstance(verifier, Verifier)
