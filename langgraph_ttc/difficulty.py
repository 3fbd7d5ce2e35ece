"""Difficulty from what a router can see at run time: agreement among probe samples and,
when a verifier scored them, their mean score (Snell et al. 2024, sec. 3: "predicted" difficulty).

Bins follow Snell et al.: 5 bins, bin 1 the easiest. Thresholds come from a policy; the defaults
below are a prior, not a calibration (``langgraph-ttc calibrate`` fits them from data).
"""

from __future__ import annotations

from collections.abc import Sequence

from langgraph_ttc.aggregators import majority_vote

N_BINS = 5
# Lower edges of bins 1..4 on the agreement statistic (higher agreement = easier).
DEFAULT_AGREEMENT_EDGES: tuple[float, float, float, float] = (0.75, 0.5, 0.3, 1e-9)


def agreement(answers: Sequence[object | None]) -> float:
    """Share of all probes that gave the majority answer (0.0 when none gave an answer).

    Example:
        >>> agreement(["4", "4", "5", None])
        0.5
    """
    if not answers:
        return 0.0
    vote = majority_vote(list(answers))
    if vote.answer is None:
        return 0.0
    return vote.tally[vote.answer] / len(answers)


def mean_score(scores: Sequence[float | None]) -> float | None:
    known = [s for s in scores if s is not None]
    return sum(known) / len(known) if known else None


def bin_of(statistic: float, edges: Sequence[float] = DEFAULT_AGREEMENT_EDGES) -> int:
    """Bin 1..5 for an easiness statistic, given descending lower edges of bins 1..4.

    Example:
        >>> bin_of(1.0), bin_of(0.5), bin_of(0.25), bin_of(0.0)
        (1, 2, 4, 5)
    """
    for position, edge in enumerate(edges):
        if statistic >= edge:
            return position + 1
    return len(edges) + 1
