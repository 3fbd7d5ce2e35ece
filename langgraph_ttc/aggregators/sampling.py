"""Shared pieces of the aggregators' estimators: each answers "if the strategy drew k of the
problem's pooled samples (uniformly, without replacement, in random order), how often would it
be right?". Pool samples are i.i.d. draws from the model, so these are unbiased estimates of the
strategy's accuracy with k fresh samples. Missing scores (NaN) count as 0; a ``None`` answer never
wins and is worth 0.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

__all__ = ["answer_counts", "answer_values", "check_k", "monte_carlo", "sample_values"]

DEFAULT_SUBSAMPLES = 200


def check_k(n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n (samples in the pool); got k={k}, n={n}")


def answer_values(answers: Sequence[Hashable | None], correct: Sequence[float]) -> dict:
    """Each distinct answer's mean correctness (answers are normalised, so equal = same).

    Example:
        >>> answer_values(["4", "5", "4", None], [1, 0, 1, 0])
        {'4': 1.0, '5': 0.0}
    """
    totals: dict[Hashable, list[float]] = {}
    for answer, ok in zip(answers, correct, strict=True):
        if answer is not None:
            totals.setdefault(answer, []).append(float(ok))
    return {a: float(np.mean(v)) for a, v in totals.items()}


def sample_values(answers: Sequence[Hashable | None], correct: Sequence[float]) -> np.ndarray:
    """Per sample, the mean correctness of its answer (0 without an answer)."""
    values = answer_values(answers, correct)
    return np.array([0.0 if a is None else values[a] for a in answers])


def answer_counts(answers: Sequence[Hashable | None], correct: Sequence[float]):
    """Distinct answers' counts and values (mean correctness), plus the count of ``None``."""
    counts: dict[Hashable, int] = {}
    totals: dict[Hashable, float] = {}
    n_none = 0
    for answer, ok in zip(answers, correct, strict=True):
        if answer is None:
            n_none += 1
            continue
        counts[answer] = counts.get(answer, 0) + 1
        totals[answer] = totals.get(answer, 0.0) + float(ok)
    labels = list(counts)
    values = np.array([totals[a] / counts[a] for a in labels])
    return np.array([counts[a] for a in labels], dtype=int), values, n_none


def monte_carlo(
    pick: Callable[[list, list | None], Hashable | None],
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float] | None,
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_sub: int = DEFAULT_SUBSAMPLES,
) -> float:
    """Mean value of ``pick``'s answer over ``n_sub`` random ordered k-subsets (seeded)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(answers)
    value_of = answer_values(answers, correct)
    # Each row a random ordered k-subset without replacement (random order: ties break uniformly).
    subsets = rng.permuted(np.tile(np.arange(n), (n_sub, 1)), axis=1)[:, :k].tolist()
    score_list = None if scores is None else list(scores)
    total = 0.0
    for idx in subsets:
        winner = pick(
            [answers[i] for i in idx], None if scores is None else [score_list[i] for i in idx]
        )
        total += 0.0 if winner is None else value_of[winner]
    return float(total / n_sub)
