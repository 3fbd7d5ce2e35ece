"""Best-of-N and weighted best-of-N: pick by verifier score (Snell et al. 2024, sec. 5.1).

Best-of-N returns the highest-scored sample (earliest on ties); weighted best-of-N sums the scores
of the samples sharing a final answer and returns the answer with the largest sum (earliest on
ties, sums compared up to rounding). Each attempt costs its sample plus the verifier's calls
(none for a programmatic verifier, one per sample for an LLM judge).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from langgraph_ttc.aggregators._exact_vote import comb_ratio
from langgraph_ttc.aggregators.base import (
    Aggregate,
    Aggregator,
    Ballots,
    BallotTable,
    prefix_weighted_winners,
    weighted_vote,
)
from langgraph_ttc.aggregators.majority import majority_at_k
from langgraph_ttc.aggregators.sampling import check_k, monte_carlo

__all__ = [
    "BestOfNAggregator",
    "WeightedBestOfNAggregator",
    "best_of_n",
    "best_of_n_at_k",
    "weighted_best_of_n",
    "weighted_best_of_n_at_k",
]


def best_of_n(answers: Sequence[Hashable | None], scores: Sequence[float]) -> Aggregate:
    """Best-of-N: the answer of the highest-scoring candidate (earliest on ties).

    Example:
        >>> best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer
        '5'
    """
    if len(answers) != len(scores):
        raise ValueError(f"{len(answers)} answers but {len(scores)} scores")
    best = None
    for index, (answer, score) in enumerate(zip(answers, scores, strict=True)):
        if answer is not None and (best is None or score > scores[best]):
            best = index
    if best is None:
        return Aggregate(None, None, {}, 0.0, "best_of_n")
    tally: dict = {}
    for answer, score in zip(answers, scores, strict=True):
        if answer is not None:
            tally[answer] = max(tally.get(answer, float("-inf")), float(score))
    return Aggregate(answers[best], best, tally, float(scores[best]), "best_of_n")


def weighted_best_of_n(answers: Sequence[Hashable | None], scores: Sequence[float]) -> Aggregate:
    """Best-of-N weighted (Snell et al. 2024, sec. 5.1): sum verifier scores per answer.

    Example:
        >>> weighted_best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer
        '4'
        >>> weighted_best_of_n(["b", "b", "a"], [0.3, 0.6, 0.9]).answer  # a tie: earliest wins
        'b'
    """
    return weighted_vote(answers, scores, method="weighted_best_of_n")


def best_of_n_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float],
    k: int,
) -> float:
    """Expected accuracy of best-of-N with N = k: the highest-scored answered sample wins and is
    graded on its own (not by its answer's mean grade); exact.

    Sort the answered samples' scores into levels s_1 > s_2 > ...; the winner comes from level l
    with probability [C(n - above_l, k) - C(n - above_l - at_l, k)] / C(n, k), uniformly among
    that level's samples (ties are broken by the earliest, i.e. uniformly in random order).

    Example:
        >>> round(best_of_n_at_k(["4", "5", None], [1, 0, 0], [0.9, 0.2, 0.99], 2), 4)
        0.6667
        >>> best_of_n_at_k(["x", "x"], [1, 0], [0.9, 0.1], 2)  # the top sample is right
        1.0
    """
    n = len(answers)
    check_k(n, k)
    grades = np.asarray(correct, dtype=float)
    if len(grades) != n:
        raise ValueError(f"{n} answers but {len(grades)} grades")
    scores_arr = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    answered = np.array([a is not None for a in answers], dtype=bool)
    level_scores, level_grades = scores_arr[answered], grades[answered]
    total, above = 0.0, 0
    for level in np.unique(level_scores)[::-1]:
        at_level = level_scores == level
        at = int(at_level.sum())
        p_level = comb_ratio(n - above, k, n) - comb_ratio(n - above - at, k, n)
        total += p_level * float(level_grades[at_level].mean())
        above += at
    return float(total)


def weighted_best_of_n_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float],
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_sub: int = 200,
) -> float:
    """Expected accuracy of weighted best-of-N (Snell et al. 2024) at N = k; Monte Carlo.

    The mean over ``n_sub`` random ordered k-subsets (without replacement) of
    :func:`weighted_best_of_n`; the Monte Carlo standard error is at most ``0.5 / sqrt(n_sub)``
    per problem. Exact (no sampling) when k = 1, when the pool has at most one distinct answer,
    or when all answered samples have the same score (then it is majority@k, or for score 0 a
    uniform pick among the answered samples drawn).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> weighted_best_of_n_at_k(["4", "4", "5"], [1, 1, 0], [0.5, 0.5, 0.9], 3, rng=rng)
        1.0
    """
    check_k(len(answers), k)
    scores_arr = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    answered = np.array([a is not None for a in answers], dtype=bool)
    grades = np.asarray(correct, dtype=float)
    # The sample the aggregator returns is graded, as live; an answerless sample is worth 0.
    mean_answered = float(grades[answered].mean()) if answered.any() else 0.0
    p_any = 1 - comb_ratio(int((~answered).sum()), k, len(answers))
    if k == 1:  # the one sample drawn is returned
        return float(grades[answered].sum() / len(answers))
    if len({a for a in answers if a is not None}) <= 1:
        # One answer: the earliest answered sample drawn, a uniform pick among the answered.
        return float(p_any * mean_answered)
    if answered.any() and np.ptp(scores_arr[answered]) == 0:  # equal weights: exact shortcuts
        if scores_arr[answered][0] > 0:
            return majority_at_k(answers, correct, k)
        # All weights 0: the earliest answered sample wins, a uniform pick among those drawn.
        return float(p_any * mean_answered)
    return monte_carlo(
        lambda a, s: weighted_best_of_n(a, s).index,
        answers,
        correct,
        scores_arr,
        k,
        rng=rng,
        n_sub=n_sub,
    )


class BestOfNAggregator(Aggregator):
    """The registry entry of :func:`best_of_n`."""

    name = "best_of_n"
    needs = frozenset({"scores"})

    def vote(self, ballots: Ballots) -> Aggregate:
        return best_of_n(ballots.answers, ballots.scores)

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        orders, width = table.codes.shape
        scores = np.where(table.codes >= 0, table.scores, -np.inf)
        winners = np.full((orders, width), -1)
        best = np.full(orders, -1)
        for w in range(width):  # a running argmax, strict > so the earliest keeps ties
            beats = (table.codes[:, w] >= 0) & (
                (best < 0) | (scores[:, w] > scores[np.arange(orders), np.maximum(best, 0)])
            )
            best = np.where(beats, w, best)
            winners[:, w] = best
        return winners

    def at_k(self, answers, correct, k, *, scores=None, **columns) -> float:
        return best_of_n_at_k(answers, correct, scores, k)


class WeightedBestOfNAggregator(Aggregator):
    """The registry entry of :func:`weighted_best_of_n`."""

    name = "weighted_best_of_n"
    needs = frozenset({"scores"})
    estimate = "monte_carlo"

    def vote(self, ballots: Ballots) -> Aggregate:
        return weighted_best_of_n(ballots.answers, ballots.scores)

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        return prefix_weighted_winners(table.codes, table.scores)

    def at_k(self, answers, correct, k, *, scores=None, rng=None, n_sub=200, **columns) -> float:
        return weighted_best_of_n_at_k(answers, correct, scores, k, rng=rng, n_sub=n_sub)


# The former name (a strategy of the same name lives in langgraph_ttc.strategies).
BestOfN = BestOfNAggregator
WeightedBestOfN = WeightedBestOfNAggregator
