"""Majority vote: Vote(x, K) of Chen et al. 2024 ("Are More LM Calls All You Need?").

K samples, the most frequent answer wins; samples without an answer do not vote; ties go to the
answer seen first. Its exact expected accuracy at k pooled samples comes from the generating
function of answer counts (:mod:`~langgraph_ttc.aggregators._exact_vote`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from langgraph_ttc.aggregators._exact_vote import MAX_EXACT_K, win_probabilities
from langgraph_ttc.aggregators.base import (
    Aggregate,
    Aggregator,
    Ballots,
    BallotTable,
    prefix_weighted_winners,
    weighted_vote,
)
from langgraph_ttc.aggregators.sampling import answer_counts, check_k, monte_carlo

__all__ = ["MajorityAggregator", "majority_at_k", "majority_vote", "vote_value"]


def majority_vote(answers: Sequence[Hashable | None]) -> Aggregate:
    """Vote(x, K) of Chen et al. 2024: the mode of the answers; ``None`` answers do not vote.

    Example:
        >>> majority_vote(["4", "5", "4", None]).answer
        '4'
        >>> majority_vote(["5", "4"]).answer  # tie: earliest wins
        '5'
    """
    return weighted_vote(answers, [1.0] * len(answers), method="majority")


def vote_value(answers: Sequence[Hashable | None], correct: Sequence[float], k: int) -> float:
    """Exact expected correctness of a majority vote over a random k-subset of the pool."""
    counts, values, n_none = answer_counts(answers, correct)
    targets = [i for i, v in enumerate(values) if v > 0]
    if not targets:
        return 0.0
    wins = win_probabilities(counts, n_none, k, targets)
    return float(np.dot(wins, values[targets]))


def majority_at_k(
    answers: Sequence[Hashable | None], correct: Sequence[float], k: int, **mc
) -> float:
    """Expected accuracy of Vote(x, k) (Chen et al. 2024) over random k-subsets of the pool,
    drawn without replacement (Chen et al.'s own simulation resamples with replacement; drawing
    without is the unbiased estimate of k fresh samples); exact.

    A live run returns (and the task grades) the earliest drawn sample carrying the winning
    answer; in a random order its expected grade is the answer's mean grade, which is what the
    exact form credits.

    Args:
        answers: the pool's answers, ``None`` where a sample has none.
        correct: per-sample correctness (1/0).
        k: votes per query.
        **mc: ``rng``/``n_sub`` used only when k is beyond the exact range (k > 600).

    Example:
        >>> round(majority_at_k(["4", "4", "5"], [1, 1, 0], 3), 4)
        1.0
        >>> round(majority_at_k(["4", "5", "6"], [1, 0, 0], 2), 4)  # every pair ties
        0.3333
    """
    check_k(len(answers), k)
    if k > MAX_EXACT_K:
        return monte_carlo(lambda a, s: majority_vote(a).index, answers, correct, None, k, **mc)
    return vote_value(answers, correct, k)


class MajorityAggregator(Aggregator):
    """The registry entry of :func:`majority_vote`."""

    name = "majority"

    def vote(self, ballots: Ballots) -> Aggregate:
        return majority_vote(ballots.answers)

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        return prefix_weighted_winners(table.codes, None)

    def at_k(self, answers, correct, k, *, rng=None, n_sub=200, **columns) -> float:
        return majority_at_k(answers, correct, k, rng=rng, n_sub=n_sub)


# The former name (a strategy of the same name lives in langgraph_ttc.strategies).
Majority = MajorityAggregator
