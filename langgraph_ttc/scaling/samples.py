"""The in-memory form of a sample pool: per problem, arrays of what its samples got right.

:func:`~langgraph_ttc.scaling.pool.load_pool` reads a SQLite pool into these frozen objects; the
estimators, difficulty bins and fits read only them, so all curve maths is pure and testable on
hand-made pools (:meth:`ProblemSamples.from_lists`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PoolSamples", "ProblemSamples"]


def _floats(values: Sequence[float | None] | np.ndarray | None, n: int, fill: float) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=float)
    out = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if out.shape != (n,):
        raise ValueError(f"expected {n} values, got {out.shape[0]}")
    return out


@dataclass(frozen=True, eq=False)
class ProblemSamples:
    """All samples of one problem, in sample-index order.

    Attributes:
        problem_id: the task's id for the problem.
        answers: extracted, normalised final answers; ``None`` for no answer or a failed sample.
        correct: 1.0 where the sample is correct (task score 1), else 0.0.
        verdicts: critique verdicts, 1.0 ``[[correct]]``, 0.0 ``[[wrong]]``, NaN unknown/not run.
        verifier_scores: verifier scores, NaN where there is none.
        generate_tokens / critique_tokens / verify_tokens: prompt + completion tokens per sample.
        critique_calls: filter calls made per sample (answerless samples are not critiqued).
        verify_calls: model calls the verifier made per sample (0 for a programmatic verifier).
        confidences: each sample's confidence (the pool's measure), NaN where it has none.
        completion_tokens: tokens each sample generated (its reply, thinking included).
        thinking_tokens: of those, the tokens a reasoning model spent thinking.
        truncated_in_thinking: samples cut off inside their thinking (no answer for that
            reason).
        traces: each sample's confidence summary (``TraceConfidence.to_dict()``), or ``None``;
            DeepConf online's stopping point is replayed from it.

    Example:
        >>> p = ProblemSamples.from_lists("q1", ["4", "5", None], [1, 0, 0])
        >>> p.n, p.correct.tolist()
        (3, [1.0, 0.0, 0.0])
    """

    problem_id: str
    answers: tuple[Hashable | None, ...]
    correct: np.ndarray
    verdicts: np.ndarray
    verifier_scores: np.ndarray
    generate_tokens: np.ndarray
    critique_tokens: np.ndarray
    verify_tokens: np.ndarray
    verify_calls: np.ndarray
    critique_calls: np.ndarray
    question: str = ""
    reference: str | None = None
    errors: int = 0
    confidences: np.ndarray | None = None
    completion_tokens: np.ndarray | None = None
    traces: tuple = ()
    thinking_tokens: np.ndarray | None = None
    truncated_in_thinking: int = 0

    def __post_init__(self) -> None:
        n = len(self.answers)
        if self.confidences is None:
            object.__setattr__(self, "confidences", np.full(n, np.nan))
        if self.completion_tokens is None:
            object.__setattr__(self, "completion_tokens", np.zeros(n))
        if self.thinking_tokens is None:
            object.__setattr__(self, "thinking_tokens", np.zeros(n))
        if not self.traces:
            object.__setattr__(self, "traces", (None,) * n)

    @classmethod
    def from_lists(
        cls,
        problem_id: str,
        answers: Sequence[Hashable | None],
        correct: Sequence[float],
        *,
        verdicts: Sequence[float | None] | None = None,
        verifier_scores: Sequence[float | None] | None = None,
        generate_tokens: Sequence[float] | None = None,
        critique_tokens: Sequence[float] | None = None,
        verify_tokens: Sequence[float] | None = None,
        verify_calls: Sequence[float] | None = None,
        critique_calls: Sequence[float] | None = None,
        confidences: Sequence[float | None] | None = None,
        completion_tokens: Sequence[float] | None = None,
        traces: Sequence[dict | None] | None = None,
        thinking_tokens: Sequence[float] | None = None,
        truncated_in_thinking: int = 0,
        question: str = "",
        reference: str | None = None,
        errors: int = 0,
    ) -> ProblemSamples:
        """Build from plain lists (``None`` = missing); handy for tests and notebooks.

        By default every answered sample counts one critique call.
        """
        n = len(answers)
        if critique_calls is None:
            critique_calls = [0.0 if a is None else 1.0 for a in answers]
        return cls(
            problem_id=problem_id,
            answers=tuple(answers),
            correct=_floats(correct, n, 0.0),
            verdicts=_floats(verdicts, n, np.nan),
            verifier_scores=_floats(verifier_scores, n, np.nan),
            generate_tokens=_floats(generate_tokens, n, 0.0),
            critique_tokens=_floats(critique_tokens, n, 0.0),
            verify_tokens=_floats(verify_tokens, n, 0.0),
            verify_calls=_floats(verify_calls, n, 0.0),
            critique_calls=_floats(critique_calls, n, 0.0),
            confidences=_floats(confidences, n, np.nan),
            completion_tokens=_floats(completion_tokens, n, 0.0),
            traces=tuple(traces) if traces is not None else (None,) * n,
            thinking_tokens=_floats(thinking_tokens, n, 0.0),
            truncated_in_thinking=truncated_in_thinking,
            question=question,
            reference=reference,
            errors=errors,
        )

    @property
    def n(self) -> int:
        return len(self.answers)


@dataclass(frozen=True, eq=False)
class PoolSamples:
    """A whole pool: metadata (task, model, sampling params, ...) and the problems' samples.

    Example:
        >>> pool = PoolSamples({"task": "demo"}, (ProblemSamples.from_lists("q1", ["4"], [1]),))
        >>> pool.n_min, pool.problem_ids
        (1, ['q1'])
    """

    meta: Mapping = field(default_factory=dict)
    problems: tuple[ProblemSamples, ...] = ()

    @property
    def n_min(self) -> int:
        """Samples of the problem with the fewest (the largest k every problem supports)."""
        return min((p.n for p in self.problems), default=0)

    @property
    def problem_ids(self) -> list[str]:
        return [p.problem_id for p in self.problems]

    def all_have(self, field_name: str) -> bool:
        """Whether every problem has at least one known value of ``field_name`` (e.g.
        ``"verdicts"``, ``"verifier_scores"``).

        Example:
            >>> PoolSamples({}, (ProblemSamples.from_lists("q1", ["4"], [1]),)).all_have("verdicts")
            False
        """
        return all(np.isfinite(getattr(p, field_name)).any() for p in self.problems)

    def subset(self, problem_ids: Sequence[str]) -> PoolSamples:
        wanted = set(problem_ids)
        return PoolSamples(self.meta, tuple(p for p in self.problems if p.problem_id in wanted))
