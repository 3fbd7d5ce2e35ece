"""Shared pieces of the aggregators' estimators: each answers "if the strategy drew k of the
problem's pooled samples (uniformly, without replacement, in random order), how often would it
be right?". Pool samples are i.i.d. draws from the model, so these are unbiased estimates of the
strategy's accuracy with k fresh samples. Missing scores (NaN) count as 0; a ``None`` answer never
wins and is worth 0.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

__all__ = ["answer_counts", "answer_values", "check_k", "monte_carlo"]

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
    pick: Callable[[list, list | None], int | None],
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float] | None,
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_sub: int = DEFAULT_SUBSAMPLES,
) -> float:
    """Mean grade of the candidate ``pick`` returns (its index in the subset), over ``n_sub``
    random ordered k-subsets (seeded): a live run grades the text of the candidate it returns."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(answers)
    grades = [float(c) for c in correct]
    # Each row a random ordered k-subset without replacement (random order: ties break uniformly).
    subsets = rng.permuted(np.tile(np.arange(n), (n_sub, 1)), axis=1)[:, :k].tolist()
    score_list = None if scores is None else list(scores)
    total = 0.0
    for idx in subsets:
        winner = pick(
            [answers[i] for i in idx], None if scores is None else [score_list[i] for i in idx]
        )
        total += 0.0 if winner is None else grades[idx[winner]]
    return float(total / n_sub)
