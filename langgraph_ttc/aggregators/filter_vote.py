"""Filter-Vote(x, K) of Chen et al. 2024 ("Are More LM Calls All You Need?").

K/2 samples, each judged by one filter call (the self-critique, verdict ``[[correct]]`` or
``[[wrong]]``); majority over the answers judged correct, or over all answers when none survives
(the fallback is part of the method). A budget of K calls includes the filter calls.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

import numpy as np

from langgraph_ttc.aggregators._exact_vote import comb_ratio
from langgraph_ttc.aggregators.base import (
    Aggregate,
    Aggregator,
    Ballots,
    BallotTable,
    prefix_weighted_winners,
)
from langgraph_ttc.aggregators.majority import majority_vote, vote_value
from langgraph_ttc.aggregators.sampling import check_k

__all__ = ["FilterVoteAggregator", "filter_vote", "filter_vote_at_k"]


def filter_vote(answers: Sequence[Hashable | None], verdicts: Sequence[bool | None]) -> Aggregate:
    """Filter-Vote of Chen et al. 2024: majority over answers the filter judged correct.

    When no answer survives the filter, vote over all answers (this fallback is part of the
    method). A ``None`` verdict (critique failed or unparsed) counts as not kept.

    Example:
        >>> filter_vote(["4", "5", "5"], [True, False, False]).answer
        '4'
        >>> filter_vote(["4", "5", "5"], [False, False, False]).answer  # fallback
        '5'
    """
    if len(answers) != len(verdicts):
        raise ValueError(f"{len(answers)} answers but {len(verdicts)} verdicts")
    kept = [a if v else None for a, v in zip(answers, verdicts, strict=True)]
    if any(a is not None for a in kept):
        return replace(majority_vote(kept), method="filter_vote")
    return replace(majority_vote(answers), method="filter_vote_fallback")


def filter_vote_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    verdicts: Sequence[float],
    k: int,
) -> float:
    """Expected accuracy of Filter-Vote with k generations (and k filter calls); exact.

    Keep answers whose critique says ``[[correct]]`` and vote over them; if none of the k is kept,
    vote over all k. So P = maj(pool with unkept answers blanked) + P(no kept sample drawn) *
    maj(unkept samples only). Unknown verdicts (NaN) are not kept.

    Example:
        >>> filter_vote_at_k(["4", "5", "5"], [1, 0, 0], [1, 0, 0], 3)
        1.0
    """
    n = len(answers)
    check_k(n, k)
    kept = np.nan_to_num(np.asarray(verdicts, dtype=float), nan=0.0) >= 0.5
    kept &= np.array([a is not None for a in answers], dtype=bool)
    blanked = [a if keep else None for a, keep in zip(answers, kept, strict=True)]
    value = vote_value(blanked, correct, k)
    unkept = [i for i in range(n) if not kept[i]]
    p_none_kept = comb_ratio(len(unkept), k, n)
    if p_none_kept > 0:
        value += p_none_kept * vote_value(
            [answers[i] for i in unkept], [correct[i] for i in unkept], k
        )
    return float(value)


class FilterVoteAggregator(Aggregator):
    """The registry entry of :func:`filter_vote`; each attempt costs its sample and a critique."""

    name = "filter_vote"
    needs = frozenset({"verdicts"})

    def vote(self, ballots: Ballots) -> Aggregate:
        return filter_vote(ballots.answers, ballots.verdicts)

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        verdicts = np.nan_to_num(table.verdicts, nan=0.0) >= 0.5
        kept_codes = np.where(verdicts & (table.codes >= 0), table.codes, -1)
        kept = prefix_weighted_winners(kept_codes, None)
        return np.where(kept >= 0, kept, prefix_weighted_winners(table.codes, None))

    def at_k(self, answers, correct, k, *, verdicts=None, **columns) -> float:
        return filter_vote_at_k(answers, correct, verdicts, k)


# The former name (a strategy of the same name lives in langgraph_ttc.strategies).
FilterVote = FilterVoteAggregator
