"""Verifiers score a candidate answer in [0, 1]: against a reference, by unit tests, by a user
function, or by asking a model (LLM judge).

A model-based verifier sends every call through the run's :class:`~langgraph_ttc.budget.Meter`
with ``purpose="verify"``, so judge calls are budgeted and show up in the usage ledger. When the
budget leaves no room, or the judge's reply cannot be parsed, the judge returns its
``fallback_score`` with ``parsed=False`` instead of failing the run.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langgraph_ttc.backends.base import (
    DEFAULT_TEMPERATURE,
    Backend,
    Completion,
    Draw,
    SamplingParams,
    run_sync,
)
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps, Work, arun, run
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.tasks.base import Problem, Task

logger = logging.getLogger(__name__)

__all__ = [
    "JUDGE_PROMPT",
    "RunnableJudge",
    "LLMJudge",
    "ProgrammaticVerifier",
    "ReferenceVerifier",
    "UnitTestVerifier",
    "Verdict",
    "Verifier",
    "parse_verdict",
]

# Structure of the Filter-Vote filter prompt (Chen et al. 2024), plus a graded score.
JUDGE_PROMPT = (
    "[User Question]:{question}\n"
    "[Answer]:{answer}\n"
    "Instruction: Review the answer above and find problems with it. Finally, conclude with "
    "either '[[correct]]' if the answer is correct or '[[wrong]]' if it is incorrect, followed "
    "by 'Score: X' where X between 0 and 1 is how likely the answer is correct. "
    "Think step by step.\n"
    "Verdict:"
)

# Shown to base models (no chat template) so they learn the verdict format.
_JUDGE_EXEMPLARS: tuple[tuple[str, str, str], ...] = (
    ("What is 2 + 5?", "2 + 5 = 7. The answer is 7.", "2 + 5 is 7. [[correct]] Score: 0.9"),
    ("What is 3 * 3?", "3 * 3 = 6. The answer is 6.", "3 * 3 is 9, not 6. [[wrong]] Score: 0.1"),
)
_RATIONALE_CHARS = 2_000
_PLACEHOLDER = re.compile(r"\{question\}|\{answer\}")

_TAG = re.compile(r"\[\[\s*(correct|wrong|incorrect)\s*\]\]", re.IGNORECASE)
_NUM = r"([+-]?\d+(?:\.\d+)?)"
_SCORE = re.compile(rf"\bscore\b\s*(?:is|of|=|:)?\s*{_NUM}\s*(%|/\s*(?:10|100|1)\b)?", re.I)
_FRACTION = re.compile(rf"{_NUM}\s*/\s*(10|100)\b")


@dataclass(frozen=True)
class Verdict:
    """A verifier's judgement of one candidate.

    Attributes:
        score: estimated correctness in [0, 1].
        step_scores: per-step scores of a process verifier (``None`` for outcome verifiers).
        rationale: why (judge text, test output, reference comparison).
        parsed: False when the score is a fallback (unparseable judge reply, skipped call).

    Example:
        >>> Verdict(score=1.0, rationale="tests passed").parsed
        True
    """

    score: float
    step_scores: tuple[float, ...] | None = None
    rationale: str = ""
    parsed: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.score, (int, float)) and 0.0 <= self.score <= 1.0):
            raise TTCConfigError(f"Verdict score must be in [0, 1]; got {self.score!r}.")


class Verifier:
    """Scores a candidate completion for a question.

    A subclass writes :meth:`steps`: the verification as a generator of calls (see
    :mod:`langgraph_ttc.calls`), so it has one body for blocking and async runs. Verifiers
    written with their own :meth:`verify` or :meth:`averify` bodies work too.

    Attributes:
        uses_model: whether each verification costs model calls (plans reserve budget for it).
    """

    uses_model: bool = False

    @property
    def calls_per_answer(self) -> int:
        """Model calls one verification costs (plans reserve budget for them)."""
        return 1 if self.uses_model else 0

    def steps(
        self,
        question: str,
        text: str,
        *,
        problem: Problem | None = None,
        backend: Backend | None = None,
    ) -> Steps[Verdict]:
        """Score ``text`` (a full completion) as an answer to ``question``, as steps."""
        cls = type(self)
        if cls.verify is Verifier.verify and cls.averify is Verifier.averify:
            raise NotImplementedError(
                f"{cls.__name__} must implement steps(), verify() or averify()."
            )
        kwargs = dict(problem=problem, backend=backend)
        if cls.verify is not Verifier.verify:
            call = lambda meter: self.verify(question, text, meter=meter, **kwargs)  # noqa: E731
        else:  # only an async body: a blocking run must give it an event loop of its own
            call = lambda meter: run_sync(self.averify(question, text, meter=meter, **kwargs))  # noqa: E731
        acall = None
        if cls.averify is not Verifier.averify:
            acall = lambda meter: self.averify(question, text, meter=meter, **kwargs)  # noqa: E731
        (verdict,) = yield [Work(call, acall)]
        return verdict

    def verify(
        self,
        question: str,
        text: str,
        *,
        problem: Problem | None = None,
        backend: Backend | None = None,
        meter: Meter | None = None,
    ) -> Verdict:
        """Score ``text`` (blocking); model calls go through ``meter``."""
        steps = self.steps(question, text, problem=problem, backend=backend)
        return run(steps, meter if meter is not None else Meter())

    async def averify(
        self,
        question: str,
        text: str,
        *,
        problem: Problem | None = None,
        backend: Backend | None = None,
        meter: Meter | None = None,
    ) -> Verdict:
        """Async :meth:`verify`."""
        steps = self.steps(question, text, problem=problem, backend=backend)
        return await arun(steps, meter if meter is not None else Meter())


class ReferenceVerifier(Verifier):
    """Scores against the problem's reference answer with the task's own scoring.

    Example:
        >>> from langgraph_ttc.tasks import ReasoningGymTask
        >>> task = ReasoningGymTask("basic_arithmetic", size=1, n_exemplars=0)
        >>> p = task.problems()[0]
        >>> ReferenceVerifier(task).verify(p.question, f"The answer is {p.reference}.", problem=p).score
        1.0
    """

    def __init__(self, task: Task) -> None:
        self.task = task

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        if problem is None or problem.reference is None:
            raise TTCConfigError(
                "ReferenceVerifier needs a problem with a reference answer: pass "
                "problem=task.problems()[i], or use LLMJudge() when there is no reference."
            )
        (score,) = yield [Work(lambda meter: self.task.score(problem, text))]
        answer = self.task.extract_answer(text)
        return Verdict(
            score=_clip(score),
            rationale=f"answer {_short(answer)} vs reference {_short(problem.reference)}",
            parsed=answer is not None,
        )


class UnitTestVerifier(Verifier):
    """Runs the problem's unit tests on the completion in the sandbox (HumanEval).

    Args:
        task: a task with ``run_tests(problem, text)``; default :class:`HumanEvalTask` (all).
        allow_unsandboxed: for the default task: run the tests even where no sandbox boundary
            can be made (see :mod:`~langgraph_ttc.tasks.sandbox`); a task you pass keeps its
            own setting.

    Example:
        >>> from langgraph_ttc.tasks import HumanEvalTask
        >>> task = HumanEvalTask(size=1)
        >>> p = task.problems()[0]
        >>> UnitTestVerifier(task).verify(p.question, p.reference, problem=p).score
        1.0
    """

    def __init__(self, task: Task | None = None, *, allow_unsandboxed: bool = False) -> None:
        if task is None:
            from langgraph_ttc.tasks.humaneval import HumanEvalTask

            task = HumanEvalTask(allow_unsandboxed=allow_unsandboxed)
        if not callable(getattr(task, "run_tests", None)):
            raise TTCConfigError(
                f"UnitTestVerifier needs a task with unit tests (e.g. HumanEvalTask); "
                f"{type(task).__name__} has no run_tests(). Use ReferenceVerifier for it."
            )
        self.task = task

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        if problem is None:
            raise TTCConfigError(
                "UnitTestVerifier needs the problem (its tests): pass problem=task.problems()[i]."
            )
        (result,) = yield [Work(lambda meter: self.task.run_tests(problem, text))]
        if result is None:
            return Verdict(score=0.0, rationale="no runnable code in the completion", parsed=False)
        detail = result.stderr.strip().splitlines()[-1:] if not result.passed else []
        rationale = "tests passed" if result.passed else f"tests failed: {result.reason}"
        if detail:
            rationale += f" ({detail[0][:200]})"
        return Verdict(score=1.0 if result.passed else 0.0, rationale=rationale)


class ProgrammaticVerifier(Verifier):
    """Wraps a function ``fn(question, text) -> float | bool`` (sync or async).

    A bool maps to 1.0/0.0; a float must lie in [0, 1]; ``None`` means "cannot tell"
    (score 0, ``parsed=False``).

    Example:
        >>> v = ProgrammaticVerifier(lambda q, text: "42" in text)
        >>> v.verify("?", "The answer is 42.").score
        1.0
    """

    def __init__(self, fn: Callable[[str, str], float | bool | None | Awaitable]) -> None:
        if not callable(fn):
            raise TTCConfigError(f"ProgrammaticVerifier needs a callable; got {fn!r}.")
        self.fn = fn

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        (value,) = yield [
            Work(lambda meter: self._call(question, text), self._acall(question, text))
        ]
        return self._verdict(value)

    def _call(self, question: str, text: str):
        value = self.fn(question, text)
        # An async function in a blocking run needs an event loop: the user chose async.
        return run_sync(value) if inspect.isawaitable(value) else value

    def _acall(self, question: str, text: str):
        async def call(meter):
            value = self.fn(question, text)
            return await value if inspect.isawaitable(value) else value

        return call

    def _verdict(self, value) -> Verdict:
        if value is None:
            return Verdict(score=0.0, rationale="verifier function returned None", parsed=False)
        try:
            score = float(value)
        except (TypeError, ValueError):
            score = math.nan
        if math.isnan(score) or not 0.0 <= score <= 1.0:
            raise TTCConfigError(
                f"The verifier function returned {value!r}; return a bool or a float in [0, 1]."
            )
        return Verdict(score=score, rationale=f"{getattr(self.fn, '__name__', 'fn')} -> {value!r}")


class LLMJudge(Verifier):
    """Asks a model whether an answer is right; every call is metered as ``purpose="verify"``.

    Args:
        prompt: template with ``{question}`` and ``{answer}`` (filled by plain replacement, so
            other braces, e.g. LaTeX, are safe). The reply is read by :func:`parse_verdict`.
        backend: the judge model; default: the backend passed to :meth:`averify` (the generator).
        fallback_score: the score when the reply cannot be parsed or the budget skips the call.
        samples: judge samples per candidate; their parsed scores are averaged.
        max_tokens: the judge's reply length.
        temperature: default 0 for one sample, else the library's sampling temperature.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> judge = LLMJudge(backend=FakeBackend(reply=lambda m, s: "Looks right. [[correct]]"))
        >>> judge.verify("1+1?", "The answer is 2.").score
        1.0
    """

    uses_model = True

    def __init__(
        self,
        prompt: str = JUDGE_PROMPT,
        backend: Backend | None = None,
        fallback_score: float = 0.5,
        samples: int = 1,
        *,
        max_tokens: int = 256,
        temperature: float | None = None,
    ) -> None:
        if "{answer}" not in prompt:
            raise TTCConfigError("LLMJudge prompt must contain {answer} (and usually {question}).")
        check_judge_options(fallback_score, samples)
        self.prompt = prompt
        self.backend = backend
        self.fallback_score = fallback_score
        self.samples = samples
        self.max_tokens = max_tokens
        self.temperature = temperature

    def messages(
        self, question: str, text: str, backend: Backend | None = None
    ) -> list[BaseMessage]:
        """The judge prompt (with worked verdicts first for base models that need exemplars)."""
        shots: list[BaseMessage] = []
        if getattr(backend, "needs_exemplars", False):
            for q, a, verdict in _JUDGE_EXEMPLARS:
                shots += [HumanMessage(self._fill(q, a)), AIMessage(verdict)]
        return [*shots, HumanMessage(self._fill(question, text))]

    def _fill(self, question: str, answer: str) -> str:
        values = {"{question}": question, "{answer}": answer.strip()}
        # One pass, so a "{answer}" inside the question is left alone.
        return _PLACEHOLDER.sub(lambda m: values[m.group(0)], self.prompt)

    @property
    def calls_per_answer(self) -> int:
        return self.samples

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        judge = self.backend or backend
        if judge is None:
            raise TTCConfigError(
                "LLMJudge has no model: pass LLMJudge(backend=...) or a backend to verify()."
            )
        return (
            yield from judge_steps(
                judge,
                self.messages(question, text, judge),
                samples=self.samples,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                fallback_score=self.fallback_score,
            )
        )


class RunnableJudge(Verifier):
    """Any Runnable as the judge (``prompt | model | parser``): it gets ``{"question",
    "answer"}`` and returns a score in [0, 1], a bool, a :class:`Verdict`, or text (a string or a
    message) read by :func:`parse_verdict`. Each verification is one call of purpose
    ``verify``: budgeted like every call, and counted with the tokens its chat models report.

    Args:
        runnable: the judge.
        fallback_score: the score when the reply says nothing or the budget has no room.

    Example:
        >>> from langchain_core.runnables import RunnableLambda
        >>> judge = RunnableJudge(RunnableLambda(lambda x: "[[correct]]" if "4" in x["answer"] else "[[wrong]]"))
        >>> judge.verify("2+2?", "The answer is 4.").score, judge.verify("2+2?", "5").score
        (1.0, 0.0)
    """

    uses_model = True

    def __init__(self, runnable, fallback_score: float = 0.5) -> None:
        check_judge_options(fallback_score, 1)
        if not hasattr(runnable, "invoke"):
            raise TTCConfigError(f"RunnableJudge needs a Runnable; got {type(runnable).__name__}.")
        self.runnable = runnable
        self.fallback_score = fallback_score

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        inputs = {"question": question, "answer": text.strip()}
        (verdict,) = yield [Work(lambda meter: self._judge(meter, inputs), self._ajudge(inputs))]
        return verdict

    def _judge(self, meter: Meter, inputs: dict) -> Verdict:
        with meter.slot("verify") as record:
            if record is None:
                return self._fallback("judge call skipped: budget exhausted")
            usage, began = UsageMetadataCallbackHandler(), time.monotonic()
            reply = self.runnable.invoke(inputs, {"callbacks": [usage], "tags": ["ttc:verify"]})
            return self._verdict(reply, usage, time.monotonic() - began, record)

    def _ajudge(self, inputs: dict):
        async def judge(meter: Meter) -> Verdict:
            with meter.slot("verify") as record:
                if record is None:
                    return self._fallback("judge call skipped: budget exhausted")
                usage, began = UsageMetadataCallbackHandler(), time.monotonic()
                config = {"callbacks": [usage], "tags": ["ttc:verify"]}
                reply = await self.runnable.ainvoke(inputs, config)
                return self._verdict(reply, usage, time.monotonic() - began, record)

        return judge

    def _verdict(self, reply, usage, seconds: float, record) -> Verdict:
        tokens = [
            (int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0))
            for u in usage.usage_metadata.values()
        ]
        prompt, completion = (sum(t) for t in zip(*tokens, strict=True)) if tokens else (0, 0)
        text = reply if isinstance(reply, str) else getattr(reply, "text", None)
        record(
            Draw(
                completions=(Completion(text=str(text or reply), latency_s=seconds),),
                requests=1,
                prompt_tokens=prompt,
                completion_tokens=completion,
            )
        )
        if isinstance(reply, Verdict):
            return reply
        if isinstance(reply, (int, float)):  # bool is an int
            score = float(reply)
            if not 0.0 <= score <= 1.0:
                raise TTCConfigError(f"The judge returned {reply!r}; return a score in [0, 1].")
            return Verdict(score=score, rationale=f"judge -> {reply!r}")
        if isinstance(text, str):
            parsed = parse_verdict(text)
            if parsed is not None:
                return Verdict(score=parsed, rationale=text.strip()[:_RATIONALE_CHARS])
            return self._fallback(f"unparseable judge reply: {text[:_RATIONALE_CHARS]}")
        return self._fallback(f"the judge returned {type(reply).__name__}, not a score")

    def _fallback(self, rationale: str) -> Verdict:
        return Verdict(score=self.fallback_score, rationale=rationale, parsed=False)


def check_judge_options(fallback_score: float, samples: int) -> None:
    """The checks every LLM judge makes on its options (outcome and step judges alike).

    Example:
        >>> check_judge_options(0.5, 0)
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: samples must be >= 1; got 0.
    """
    if not 0.0 <= fallback_score <= 1.0:
        raise TTCConfigError(f"fallback_score must be in [0, 1]; got {fallback_score}.")
    if samples < 1:
        raise TTCConfigError(f"samples must be >= 1; got {samples}.")


def judge_steps(
    judge: Backend,
    messages: list[BaseMessage],
    *,
    samples: int,
    temperature: float | None,
    max_tokens: int,
    fallback_score: float,
    rationale_chars: int = _RATIONALE_CHARS,
) -> Steps[Verdict]:
    """Sample a judge model (purpose ``verify``) and average the parsed scores, as steps.

    Temperature defaults to 0 for one sample, else the library's sampling temperature. A skipped
    call (budget), failed samples or unparseable replies give ``fallback_score`` with
    ``parsed=False`` and a rationale saying why.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> judge = FakeBackend(reply=lambda m, s: "[[wrong]]")
        >>> steps = judge_steps(judge, [HumanMessage("ok?")], samples=2, temperature=None,
        ...                     max_tokens=8, fallback_score=0.5)
        >>> run(steps, Meter()).score
        0.0
    """
    if temperature is None:
        temperature = 0.0 if samples == 1 else DEFAULT_TEMPERATURE
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens)
    (draw,) = yield [Sample(judge, messages, samples, "verify", params)]
    return verdict_of(draw, fallback_score, rationale_chars)


def verdict_of(
    draw: Draw, fallback_score: float, rationale_chars: int = _RATIONALE_CHARS
) -> Verdict:
    """The judge's verdict from its samples: the mean parsed score, or the fallback."""

    def fallback(rationale: str) -> Verdict:
        logger.debug("judge fallback: %s", rationale[:200])
        return Verdict(score=fallback_score, rationale=rationale, parsed=False)

    if not draw.completions:
        why = draw.extra.get("skipped", "no completions")
        return fallback(f"judge call skipped ({why}): budget exhausted")
    replies = [c.text for c in draw.completions if c.ok]
    scores = [s for s in map(parse_verdict, replies) if s is not None]
    if not scores:
        errors = [c.error for c in draw.completions if not c.ok]
        seen = replies[0] if replies else f"judge failed: {errors[0]}"
        return fallback(f"unparseable judge reply: {seen[:rationale_chars]}")
    return Verdict(
        score=_clip(sum(scores) / len(scores)), rationale=replies[0].strip()[:rationale_chars]
    )


def parse_verdict(text: str) -> float | None:
    """A judge reply's score in [0, 1], or ``None`` if it states none.

    ``[[correct]]`` / ``[[wrong]]`` decide (the LAST tag wins when both occur); a stated score
    ("Score: 0.8", "8/10", "80%") refines it when it agrees with the tag, and stands alone when
    there is no tag. A score contradicting the tag is ignored.

    Example:
        >>> parse_verdict("Step 1 fine. [[wrong]] ... on reflection [[correct]]")
        1.0
        >>> parse_verdict("[[correct]] Score: 0.8"), parse_verdict("I'd give it 3/10")
        (0.8, 0.3)
        >>> parse_verdict("[[wrong]] Score: 0.9"), parse_verdict("hmm") is None
        (0.0, True)
    """
    if not text:
        return None
    tags = _TAG.findall(text)
    tag = None if not tags else tags[-1].lower() == "correct"
    score = _stated_score(text)
    if tag is None:
        return score
    if score is None or (score >= 0.5) != tag:
        return 1.0 if tag else 0.0
    return score


def _stated_score(text: str) -> float | None:
    found: list[float] = []
    for match in _SCORE.finditer(text):
        value, scale = float(match.group(1)), (match.group(2) or "").replace(" ", "")
        if scale == "%" or scale == "/100":
            value /= 100
        elif scale == "/10" or (not scale and 1 < value <= 10):
            value /= 10
        found.append(value)
    if not found:
        for match in _FRACTION.finditer(text):
            found.append(float(match.group(1)) / float(match.group(2)))
    valid = [v for v in found if 0.0 <= v <= 1.0]
    return valid[-1] if valid else None


def _clip(score: float) -> float:
    return min(max(float(score), 0.0), 1.0)


def _short(value: str | None, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
