"""Pure answer aggregation: majority, filter-vote, best-of-N and weighted best-of-N.

Every aggregator takes the candidates' final answers (already normalised, ``None`` for a sample
with no answer or a failed sample) plus, where needed, scores or verdicts, and returns an
:class:`Aggregate`. Ties are broken by the earliest candidate: the answer whose first occurrence
has the lowest index wins. That keeps results reproducible and independent of dict ordering.
Tallies that differ only by floating-point rounding count as tied (see ``_exceeds``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Aggregate:
    """The chosen answer, the index of a candidate carrying it, and the tally behind the choice.

    ``confidence`` is the winner's share of the tally (votes or score mass), in [0, 1].
    """

    answer: Hashable | None
    index: int | None
    tally: dict = field(default_factory=dict)
    confidence: float = 0.0
    method: str = ""


def _exceeds(x: float, y: float) -> bool:
    """Whether tally ``x`` beats tally ``y``: larger beyond rounding. Sums of scores are
    floating-point (0.3 + 0.6 = 0.8999999999999999), so tallies within a relative 1e-9 (or
    1e-12 absolute) count as equal and the earliest-candidate rule decides.

    Example:
        >>> _exceeds(0.9, 0.3 + 0.6), _exceeds(0.91, 0.9)
        (False, True)
    """
    return x > y and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _pick(tally: dict, first_seen: dict, method: str) -> Aggregate:
    if not tally:
        return Aggregate(None, None, {}, 0.0, method)
    # Highest tally; among equals, the answer seen first (Chen et al. 2024 leave ties open).
    answer = None
    for candidate in sorted(tally, key=first_seen.__getitem__):
        if answer is None or _exceeds(tally[candidate], tally[answer]):
            answer = candidate
    mass = sum(tally.values())
    confidence = tally[answer] / mass if mass > 0 else 0.0
    return Aggregate(answer, first_seen[answer], dict(tally), confidence, method)


def majority_vote(answers: Sequence[Hashable | None]) -> Aggregate:
    """Vote(x, K) of Chen et al. 2024: the mode of the answers; ``None`` answers do not vote.

    Example:
        >>> majority_vote(["4", "5", "4", None]).answer
        '4'
        >>> majority_vote(["5", "4"]).answer  # tie: earliest wins
        '5'
    """
    return weighted_vote(answers, [1.0] * len(answers), method="majority")


def weighted_vote(
    answers: Sequence[Hashable | None], weights: Sequence[float], method: str = "weighted"
) -> Aggregate:
    """Sum ``weights`` per distinct answer and return the heaviest answer."""
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    tally: dict = {}
    first_seen: dict = {}
    for index, (answer, weight) in enumerate(zip(answers, weights, strict=False)):
        if answer is None:
            continue
        first_seen.setdefault(answer, index)
        tally[answer] = tally.get(answer, 0.0) + float(weight)
    return _pick(tally, first_seen, method)


def weighted_best_of_n(answers: Sequence[Hashable | None], scores: Sequence[float]) -> Aggregate:
    """Best-of-N weighted (Snell et al. 2024, sec. 5.1): sum verifier scores per answer.

    Example:
        >>> weighted_best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer
        '4'
        >>> weighted_best_of_n(["b", "b", "a"], [0.3, 0.6, 0.9]).answer  # 0.3 + 0.6 ties 0.9
        'b'
    """
    return weighted_vote(answers, scores, method="weighted_best_of_n")


def best_of_n(answers: Sequence[Hashable | None], scores: Sequence[float]) -> Aggregate:
    """Best-of-N: the answer of the highest-scoring candidate (earliest on ties).

    Example:
        >>> best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer
        '5'
    """
    if len(answers) != len(scores):
        raise ValueError(f"{len(answers)} answers but {len(scores)} scores")
    best = None
    for index, (answer, score) in enumerate(zip(answers, scores, strict=False)):
        if answer is None:
            continue
        if best is None or score > scores[best]:
            best = index
    if best is None:
        return Aggregate(None, None, {}, 0.0, "best_of_n")
    tally: dict = {}
    for answer, score in zip(answers, scores, strict=False):
        if answer is not None:
            tally[answer] = max(tally.get(answer, float("-inf")), float(score))
    return Aggregate(answers[best], best, tally, float(scores[best]), "best_of_n")


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
    kept = [a if v else None for a, v in zip(answers, verdicts, strict=False)]
    if any(a is not None for a in kept):
        result = majority_vote(kept)
        return Aggregate(
            result.answer, result.index, result.tally, result.confidence, "filter_vote"
        )
    result = majority_vote(answers)
    return Aggregate(
        result.answer, result.index, result.tally, result.confidence, "filter_vote_fallback"
    )


AGGREGATORS = {
    "majority": majority_vote,
    "filter_vote": filter_vote,
    "best_of_n": best_of_n,
    "weighted_best_of_n": weighted_best_of_n,
}
