"""Process scorers: a score in [0, 1] for the LAST step of a partial solution.

A :class:`ProcessScorer` is also a :class:`~langgraph_ttc.verifiers.Verifier`: as a verifier it
splits a full solution into steps and returns the last step's score (Snell et al. 2024, sec. 5.1:
a process verifier's solution score is its last step's), so best-of-N and the searches can use
the same scorer. Every model call or HTTP request goes through the run's
:class:`~langgraph_ttc.budget.Meter` with ``purpose="verify"``; when the budget leaves no room,
a scorer returns its ``fallback_score`` with ``parsed=False`` instead of failing the run.

Scorers:
    - :class:`LLMStepJudge`: asks a model whether the newest step is right (prompted, parsed by
      :func:`~langgraph_ttc.verifiers.parse_verdict`, with a fallback).
    - :class:`RolloutValueScorer`: Math-Shepherd (Wang et al. 2023): the fraction of k
      completions from the prefix that an outcome verifier accepts (or 1 if any does).
    - :class:`~langgraph_ttc.search.prm.PoolingPRM` (in :mod:`langgraph_ttc.search.prm`): a
      process reward model served by vLLM's ``/pooling`` endpoint.
    - :class:`VerifierStepScorer`: any outcome verifier applied to the partial solution.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from langgraph_ttc.backends.base import Backend, SamplingParams
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps, arun, run
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.prompts import GENERIC_EXEMPLARS
from langgraph_ttc.search.segmentation import Segmentation
from langgraph_ttc.verifiers import Verdict, Verifier, check_judge_options, judge_steps

__all__ = [
    "STEP_JUDGE_PROMPT",
    "LLMStepJudge",
    "ProcessScorer",
    "RolloutValueScorer",
    "VerifierStepScorer",
    "as_process_scorer",
]

STEP_JUDGE_PROMPT = (
    "[User Question]:{question}\n"
    "[Previous Steps]:{previous}\n"
    "[New Step]:{step}\n"
    "Instruction: Check the new step, given the question and the previous steps. Conclude with "
    "either '[[correct]]' if the new step is correct or '[[wrong]]' if it contains a mistake, "
    "followed by 'Score: X' where X between 0 and 1 is how likely the solution is still on "
    "track.\n"
    "Verdict:"
)

# Shown to base models (no chat template) so they learn the verdict format.
_STEP_EXEMPLARS: tuple[tuple[str, str, str, str], ...] = (
    ("What is 2 + 5 * 3?", "5 * 3 = 15.", "2 + 15 = 17.", "2 + 15 is 17. [[correct]] Score: 0.9"),
    ("What is 3 * 3 + 1?", "(none)", "3 * 3 = 6.", "3 * 3 is 9, not 6. [[wrong]] Score: 0.1"),
)
_RATIONALE_CHARS = 1_000
_PLACEHOLDER = re.compile(r"\{question\}|\{previous\}|\{step\}")


class ProcessScorer(Verifier):
    """Scores the last step of a partial solution. Subclasses write :meth:`path_steps` (the
    scoring of one path as a generator of calls, see :mod:`langgraph_ttc.calls`) and may
    override :meth:`paths_steps` to batch.

    Attributes:
        uses_model: whether scoring costs model calls.
        calls_per_step: calls one step's score costs (searches reserve budget for it).
        segmentation: how :meth:`verify` splits a full solution into steps.
    """

    uses_model: bool = False
    calls_per_step: int = 0
    segmentation: str | Segmentation = "auto"

    @property
    def calls_per_answer(self) -> int:
        return self.calls_per_step

    def path_steps(
        self,
        question: str,
        steps: Sequence[str],
        *,
        backend: Backend | None = None,
        prompt: Sequence[BaseMessage] | None = None,
    ) -> Steps[Verdict]:
        """The score of ``steps[-1]`` given the question and the earlier steps, as steps."""
        raise NotImplementedError

    def paths_steps(
        self,
        question: str,
        paths: Sequence[Sequence[str]],
        *,
        backend: Backend | None = None,
        prompt: Sequence[BaseMessage] | None = None,
    ) -> Steps[list[Verdict]]:
        """Score many partial solutions of one question (concurrently by default)."""
        calls = [self.path_steps(question, p, backend=backend, prompt=prompt) for p in paths]
        return (yield calls) if calls else []

    def steps(self, question, text, *, problem=None, backend=None) -> Steps[Verdict]:
        """As an outcome verifier: the last step's score of the solution split into steps."""
        steps = Segmentation.parse(self.segmentation).resolve(backend).split(text)
        return (yield from self.path_steps(question, steps or [text.strip()], backend=backend))

    def score_path(
        self, question: str, steps: Sequence[str], *, meter: Meter | None = None, **kwargs
    ) -> Verdict:
        """Blocking :meth:`path_steps` (``backend=``, ``prompt=`` as there)."""
        return run(self.path_steps(question, steps, **kwargs), meter or Meter())

    async def ascore_path(
        self, question: str, steps: Sequence[str], *, meter: Meter | None = None, **kwargs
    ) -> Verdict:
        """Async :meth:`score_path`."""
        return await arun(self.path_steps(question, steps, **kwargs), meter or Meter())

    def score_paths(
        self, question: str, paths: Sequence[Sequence[str]], *, meter: Meter | None = None, **kwargs
    ) -> list[Verdict]:
        """Blocking :meth:`paths_steps`."""
        return run(self.paths_steps(question, paths, **kwargs), meter or Meter())

    async def ascore_paths(
        self, question: str, paths: Sequence[Sequence[str]], *, meter: Meter | None = None, **kwargs
    ) -> list[Verdict]:
        """Async :meth:`score_paths`."""
        return await arun(self.paths_steps(question, paths, **kwargs), meter or Meter())


class VerifierStepScorer(ProcessScorer):
    """An outcome verifier applied to the partial solution (joined steps).

    Example:
        >>> from langgraph_ttc.verifiers import ProgrammaticVerifier
        >>> scorer = VerifierStepScorer(ProgrammaticVerifier(lambda q, t: "7" in t))
        >>> scorer.score_path("3 + 4?", ["3 + 4 = 7."]).score
        1.0
    """

    def __init__(self, verifier: Verifier, segmentation: str | Segmentation = "auto") -> None:
        if not isinstance(verifier, Verifier):
            raise TTCConfigError(f"VerifierStepScorer needs a Verifier; got {verifier!r}.")
        self.verifier = verifier
        self.uses_model = verifier.uses_model
        self.calls_per_step = verifier.calls_per_answer
        self.segmentation = segmentation

    def path_steps(self, question, steps, *, backend=None, prompt=None) -> Steps[Verdict]:
        text = Segmentation.parse(self.segmentation).resolve(backend).join(steps)
        return (yield from self.verifier.steps(question, text, backend=backend))


def as_process_scorer(verifier: Verifier | None) -> ProcessScorer:
    """The scorer a search uses: a :class:`ProcessScorer` as is, any other verifier wrapped in
    :class:`VerifierStepScorer`, and ``None`` -> :class:`LLMStepJudge` on the generator."""
    if verifier is None:
        return LLMStepJudge()
    if isinstance(verifier, ProcessScorer):
        return verifier
    return VerifierStepScorer(verifier)


class LLMStepJudge(ProcessScorer):
    """Asks a model whether the newest step is right; each call is metered as ``verify``.

    Args:
        prompt: template with ``{question}``, ``{previous}`` and ``{step}``; the reply is read
            by :func:`~langgraph_ttc.verifiers.parse_verdict` (``[[correct]]``/``[[wrong]]``,
            ``Score: X``).
        backend: the judge model; default: the backend the search passes (the generator).
        fallback_score: the score when the reply cannot be parsed or the budget skips the call.
        samples: judge samples per step, averaged.
        max_tokens: the judge's reply length.
        temperature: default 0 for one sample, else 0.7.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> judge = LLMStepJudge(backend=FakeBackend(reply=lambda m, s: "[[wrong]] Score: 0.2"))
        >>> judge.verify("3 * 3?", "3 * 3 = 6. The answer is 6.").score
        0.2
    """

    uses_model = True

    def __init__(
        self,
        prompt: str = STEP_JUDGE_PROMPT,
        backend: Backend | None = None,
        fallback_score: float = 0.5,
        samples: int = 1,
        *,
        max_tokens: int = 64,
        temperature: float | None = None,
        segmentation: str | Segmentation = "auto",
    ) -> None:
        if "{step}" not in prompt:
            raise TTCConfigError(
                "LLMStepJudge prompt must contain {step} (and usually {question}, {previous})."
            )
        check_judge_options(fallback_score, samples)
        self.prompt = prompt
        self.backend = backend
        self.fallback_score = fallback_score
        self.samples = samples
        self.calls_per_step = samples
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.segmentation = segmentation

    def _fill(self, question: str, previous: str, step: str) -> str:
        values = {"{question}": question, "{previous}": previous, "{step}": step}
        # One pass, so a placeholder inside the question or a step is left alone.
        return _PLACEHOLDER.sub(lambda m: values[m.group(0)], self.prompt)

    def messages(
        self, question: str, steps: Sequence[str], backend: Backend | None = None
    ) -> list[BaseMessage]:
        """The judge prompt (worked verdicts first for base models that need exemplars)."""
        shots: list[BaseMessage] = []
        if getattr(backend, "needs_exemplars", False):
            for q, previous, step, verdict in _STEP_EXEMPLARS:
                shots += [HumanMessage(self._fill(q, previous, step)), AIMessage(verdict)]
        previous = " ".join(s.strip() for s in steps[:-1]) or "(none)"
        step = steps[-1].strip() if steps else ""
        return [*shots, HumanMessage(self._fill(question, previous, step))]

    def path_steps(self, question, steps, *, backend=None, prompt=None) -> Steps[Verdict]:
        judge = self.backend or backend
        if judge is None:
            raise TTCConfigError(
                "LLMStepJudge has no model: pass LLMStepJudge(backend=...) or run it in a search."
            )
        verdict = yield from judge_steps(
            judge,
            self.messages(question, steps, judge),
            samples=self.samples,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            fallback_score=self.fallback_score,
            rationale_chars=_RATIONALE_CHARS,
        )
        return replace(verdict, step_scores=(verdict.score,)) if verdict.parsed else verdict


class RolloutValueScorer(ProcessScorer):
    """Math-Shepherd step value (Wang et al. 2023): roll out ``k`` completions from the prefix
    and score each with an outcome ``verifier``; the value is their mean (``soft``) or 1 if any
    is accepted (``hard``). Rollouts are metered as ``verify`` calls (they are the scorer's cost).

    Args:
        verifier: the outcome verifier (e.g. a :class:`ProgrammaticVerifier` knowing the gold
            answer, as Math-Shepherd labels are made).
        k: rollouts per step.
        mode: ``"soft"`` (fraction accepted) or ``"hard"`` (any accepted).
        temperature, max_tokens: of the rollouts.
        backend: the rollout model; default: the backend the search passes (the generator).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> from langgraph_ttc.verifiers import ProgrammaticVerifier
        >>> scorer = RolloutValueScorer(ProgrammaticVerifier(lambda q, t: "is 7" in t), k=2)
        >>> backend = FakeBackend(reply=lambda m, s: "The answer is 7.")
        >>> scorer.verify("3 + 4?", "3 + 4 = 7.", backend=backend).score
        1.0
    """

    uses_model = True

    def __init__(
        self,
        verifier: Verifier,
        k: int = 4,
        *,
        mode: str = "soft",
        temperature: float = 0.7,
        max_tokens: int = 256,
        backend: Backend | None = None,
        segmentation: str | Segmentation = "auto",
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise TTCConfigError(f"RolloutValueScorer needs an outcome Verifier; got {verifier!r}.")
        if k < 1:
            raise TTCConfigError(f"k must be >= 1; got {k}.")
        if mode not in ("soft", "hard"):
            raise TTCConfigError(f"mode must be 'soft' or 'hard'; got {mode!r}.")
        self.verifier = verifier
        self.k = k
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backend = backend
        self.segmentation = segmentation
        self.calls_per_step = k * (1 + verifier.calls_per_answer)

    def path_steps(self, question, steps, *, backend=None, prompt=None) -> Steps[Verdict]:
        model = self.backend or backend
        if model is None:
            raise TTCConfigError(
                "RolloutValueScorer has no model: pass backend=... or use it in a search."
            )
        segmentation = Segmentation.parse(self.segmentation).resolve(model)
        partial = segmentation.prefix(steps)
        messages = [*(prompt or _default_prompt(question, model)), AIMessage(partial)]
        params = SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens)
        seed = _stable_seed(question, partial)
        (draw,) = yield [Sample(model, messages, self.k, "verify", params.with_seed(seed))]
        glue = " " if partial and not partial[-1].isspace() else ""
        finished = [partial + glue + c.text.lstrip() for c in draw.completions if c.ok]
        if not finished:
            why = draw.extra.get("skipped") or "every rollout failed"
            return Verdict(score=0.5, rationale=f"no rollouts ({why})", parsed=False)
        verdicts = yield [self.verifier.steps(question, t, backend=model) for t in finished]
        accepted = [v.score for v in verdicts]
        value = max(accepted) if self.mode == "hard" else sum(accepted) / len(accepted)
        value = min(max(value, 0.0), 1.0)
        return Verdict(
            score=value,
            step_scores=(value,),
            rationale=f"{sum(a >= 0.5 for a in accepted)}/{len(accepted)} rollouts accepted",
        )


def _default_prompt(question: str, backend: Backend) -> list[BaseMessage]:
    shots: list[BaseMessage] = []
    if getattr(backend, "needs_exemplars", False):
        for q, a in GENERIC_EXEMPLARS:
            shots += [HumanMessage(q), AIMessage(a)]
    return [*shots, HumanMessage(question)]


def _stable_seed(*parts: str) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
