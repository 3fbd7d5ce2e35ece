"""Per-problem difficulty from a sample pool.

- Snell et al. 2024 (sec. 3): 5 quantile bins of a per-question statistic, bin 1 the easiest.
  Oracle difficulty uses pass@1 (here: the pool's fraction of correct samples); predicted
  difficulty uses the mean verifier score of the samples (no labels needed). The paper does not
  count what estimating difficulty costs; here the scores come from the pool's own critique or
  verifier calls, which the curves already count.
- Chen et al. 2024 (sec. 3): d(x) = max_{a != y*} P(a) - P(y*) from the one-call answer
  distribution; easy when d < 0 (the correct answer is the mode), hard otherwise.

Bins are equal-count: problems sorted from easiest to hardest (ties keep pool order) and split
into ``n_bins`` consecutive groups, so every bin has problems even when many statistics tie.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from langgraph_ttc.difficulty import N_BINS
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples

__all__ = [
    "chen_difficulty",
    "chen_split",
    "oracle_statistic",
    "predicted_statistic",
    "quantile_bins",
]


def quantile_bins(
    problem_ids: Sequence[str], easiness: Sequence[float], n_bins: int = N_BINS
) -> dict[str, int]:
    """Equal-count bins 1..n_bins of an easiness statistic (higher = easier; bin 1 easiest).

    NaN statistics count as hardest. With fewer problems than bins, each problem is its own bin.

    Example:
        >>> quantile_bins(["a", "b", "c", "d", "e"], [0.9, 0.1, 0.5, 0.7, 0.3])
        {'a': 1, 'd': 2, 'c': 3, 'e': 4, 'b': 5}
    """
    values = np.nan_to_num(np.asarray(easiness, dtype=float), nan=-np.inf)
    if len(values) != len(problem_ids):
        raise ValueError(f"{len(problem_ids)} problems but {len(values)} statistics")
    order = np.argsort(-values, kind="stable")
    bins: dict[str, int] = {}
    for bin_index, group in enumerate(np.array_split(order, min(n_bins, len(order)) or 1)):
        for row in group:
            bins[problem_ids[int(row)]] = bin_index + 1
    return bins


def oracle_statistic(problem: ProblemSamples) -> float:
    """pass@1 estimate: the fraction of the problem's samples that are correct.

    Example:
        >>> oracle_statistic(ProblemSamples.from_lists("q", ["4", "5"], [1, 0]))
        0.5
    """
    return float(problem.correct.mean()) if problem.n else float("nan")


def predicted_statistic(problem: ProblemSamples, source: str = "verifier") -> float:
    """Mean verifier score (or critique verdict with ``source="critique"``); NaN if none.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "5"], [1, 0], verifier_scores=[0.8, None])
        >>> predicted_statistic(p)
        0.8
    """
    scores = problem.verifier_scores if source == "verifier" else problem.verdicts
    known = scores[np.isfinite(scores)]
    return float(known.mean()) if known.size else float("nan")


def chen_difficulty(answers: Sequence[Hashable | None], correct: Sequence[float]) -> float:
    """d(x) = max_{a != y*} P(a) - P(y*) over the one-call answer distribution (Chen et al.).

    P counts every sample (answerless ones too, they just never win). y* is the correct answer
    with the most samples; with no correct sample P(y*) = 0, so the problem is hard.

    Example:
        >>> chen_difficulty(["4", "4", "5", None], [1, 1, 0, 0])
        -0.25
    """
    n = len(answers)
    if n == 0:
        return float("nan")
    counts: dict[Hashable, int] = {}
    right: dict[Hashable, float] = {}
    for answer, ok in zip(answers, correct, strict=True):
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
            right[answer] = right.get(answer, 0.0) + float(ok)
    correct_answers = [a for a in counts if right[a] / counts[a] >= 0.5]
    star = max(correct_answers, key=lambda a: counts[a], default=None)
    p_star = counts[star] / n if star is not None else 0.0
    p_rival = max((c / n for a, c in counts.items() if a != star), default=0.0)
    return float(p_rival - p_star)


def chen_split(pool: PoolSamples) -> dict[str, str]:
    """``"easy"`` (d < 0) or ``"hard"`` for every problem of the pool.

    Example:
        >>> pool = PoolSamples({}, (ProblemSamples.from_lists("q", ["4", "5", "4"], [1, 0, 1]),))
        >>> chen_split(pool)
        {'q': 'easy'}
    """
    return {
        p.problem_id: "easy" if chen_difficulty(p.answers, p.correct) < 0 else "hard"
        for p in pool.problems
    }
