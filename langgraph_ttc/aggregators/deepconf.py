"""DeepConf's offline and online rules as pure functions (Fu et al. 2025, arXiv 2508.15260).

* Offline (sec. 3.2): confidence-weighted majority ``V(a) = sum_t C_t 1[answer(t) = a]`` and
  confidence filtering, which keeps the top ``eta``% most confident traces before the weighted
  vote (``eta = 10`` "DeepConf-low", ``eta = 90`` "DeepConf-high").
* Online (sec. 3.3, Algorithm 2): a warm-up of ``N_init`` traces (16) sets the stop threshold
  ``s`` = the ``(100 - eta)``-th percentile of their lowest group confidence; later traces stop
  when their group confidence falls below ``s`` (see :mod:`langgraph_ttc.confidence`), and
  sampling ends when the consensus ``V(a*) / sum_a V(a)`` reaches ``tau`` (0.95) or the budget.

Conventions follow the authors' code, facebookresearch/deepconf: ``deepconf/utils.py``
(``weighted_majority_vote``, ``filter_top_confidence``) and ``deepconf/wrapper.py`` (the online
threshold ``np.percentile(min_confs, 100 - confidence_percentile)`` and the online vote).
Confidences are per-trace scalars, e.g. a field of
:class:`~langgraph_ttc.confidence.TraceConfidence`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from langgraph_ttc.aggregators.base import Aggregate, weighted_vote
from langgraph_ttc.errors import TTCConfigError

DEEPCONF_LOW = 10.0
"""``eta`` of DeepConf-low: keep the top 10% most confident traces."""
DEEPCONF_HIGH = 90.0
"""``eta`` of DeepConf-high: keep the top 90%."""
DEFAULT_WARMUP = 16
"""``N_init``, warm-up traces of DeepConf online (paper; ``WARMUP_TRACES = 16``)."""
DEFAULT_TAU = 0.95
"""Consensus at which DeepConf online stops sampling (paper, Algorithm 2)."""

__all__ = [
    "DEEPCONF_HIGH",
    "DEEPCONF_LOW",
    "DEFAULT_TAU",
    "DEFAULT_WARMUP",
    "check_eta",
    "confidence_weighted_vote",
    "consensus",
    "deepconf_filter",
    "deepconf_offline_vote",
    "deepconf_online_vote",
    "online_threshold",
]


def check_eta(eta: float) -> None:
    """Raise :class:`TTCConfigError` unless ``eta`` (a percent of traces to keep) is in (0, 100]."""
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0 < eta <= 100:
        raise TTCConfigError(
            f"eta is the percent of traces to keep, in (0, 100]; got {eta!r}. "
            "DeepConf-low uses 10, DeepConf-high 90."
        )


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise TTCConfigError(f"{what} must be one number per trace; got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise TTCConfigError(f"{what} must be finite; got {array.tolist()}.")
    return array


def confidence_weighted_vote(
    answers: Sequence[Hashable | None],
    confidences: Sequence[float],
    method: str = "confidence_weighted",
) -> Aggregate:
    """Confidence-weighted majority: ``V(a) = sum of the confidences of traces answering a``.

    Fu et al. 2025, sec. 3.2; authors' ``utils.weighted_majority_vote``. ``None`` answers do not
    vote (their confidence is ignored). Ties (equal up to rounding: the tallies are float sums,
    see :func:`~langgraph_ttc.aggregators.tied`) go to the earliest candidate.
    ``Aggregate.confidence`` is the winner's share, i.e. :func:`consensus`.

    Raises:
        TTCConfigError: lengths differ, or a voting trace's confidence is negative or not finite
            (weights must be non-negative; for log-probabilities pass ``exp(mean_logprob)``).

    Example:
        >>> r = confidence_weighted_vote(["4", "5", "5"], [3.0, 1.0, 1.0])
        >>> r.answer, r.index, r.tally, r.confidence
        ('4', 0, {'4': 3.0, '5': 2.0}, 0.6)
        >>> confidence_weighted_vote(["5", "4"], [0.1 + 0.2, 0.3]).answer  # tie: earliest
        '5'
    """
    if len(answers) != len(confidences):
        raise TTCConfigError(f"{len(answers)} answers but {len(confidences)} confidences.")
    for index, (answer, weight) in enumerate(zip(answers, confidences, strict=True)):
        weight = float(weight)
        if answer is not None and (not math.isfinite(weight) or weight < 0):
            raise TTCConfigError(
                f"confidence of trace {index} is {weight}; weights must be finite and >= 0 "
                "(DeepConf confidences are; for log-probabilities pass exp(mean_logprob))."
            )
    return weighted_vote(answers, [float(w) for w in confidences], method=method)


def deepconf_filter(confidences: Sequence[float], eta: float) -> tuple[int, ...]:
    """Indices of the top ``eta``% most confident traces (DeepConf confidence filtering).

    Fu et al. 2025, sec. 3.2. As the authors' ``utils.filter_top_confidence``: the cut is
    ``np.percentile(confidences, 100 - eta)`` with numpy's default linear interpolation, and every
    trace with confidence ``>=`` the cut is kept. So the count is not ``round(eta% * N)``: of 16
    traces, eta = 10 keeps 2 (the cut lies between the 14th and 15th smallest); of 10, it keeps 1;
    ties at the cut are all kept.

    Example:
        >>> deepconf_filter([float(c) for c in range(16)], 10)
        (14, 15)
        >>> deepconf_filter([1.0, 5.0, 3.0, 5.0], 10)  # ties at the cut are kept
        (1, 3)
    """
    check_eta(eta)
    values = _finite(confidences, "confidences")
    if values.size == 0:
        return ()
    cut = np.percentile(values, 100.0 - float(eta))
    return tuple(int(i) for i in np.flatnonzero(values >= cut))


def deepconf_offline_vote(
    answers: Sequence[Hashable | None], confidences: Sequence[float], eta: float
) -> Aggregate:
    """DeepConf offline: keep the top ``eta``% most confident answered traces, then weighted vote.

    Fu et al. 2025, sec. 3.2 (DeepConf-low ``eta = 10``, DeepConf-high ``eta = 90``). As the
    authors' ``compute_all_voting_results``, traces without an answer are dropped before the
    percentile is taken, and the kept traces vote with the same confidence that filtered them.
    ``Aggregate.index`` refers to the position in ``answers``.

    Example:
        >>> answers = ["7", "7", "7", "9", "9"]
        >>> confidences = [1.0, 1.0, 1.0, 5.0, 6.0]
        >>> confidence_weighted_vote(answers, confidences).answer
        '9'
        >>> deepconf_offline_vote(answers, confidences, 10).answer  # keeps trace 4 only
        '9'
        >>> deepconf_offline_vote(answers, [9.0, 8.0, 7.0, 5.0, 6.0], 40).tally
        {'7': 17.0}
    """
    if len(answers) != len(confidences):
        raise TTCConfigError(f"{len(answers)} answers but {len(confidences)} confidences.")
    check_eta(eta)
    answered = [i for i, a in enumerate(answers) if a is not None]
    kept = {answered[j] for j in deepconf_filter([confidences[i] for i in answered], eta)}
    voting = [a if i in kept else None for i, a in enumerate(answers)]
    return confidence_weighted_vote(voting, confidences, method="deepconf_offline")


def online_threshold(warmup_lowest_group_confidences: Sequence[float], eta: float) -> float:
    """DeepConf online stop threshold ``s``: the ``(100 - eta)``-th percentile of the warm-up.

    Fu et al. 2025, Algorithm 2 (``s = Percentile_{100-eta}`` of the ``N_init`` warm-up traces'
    lowest group confidences). The authors compute it with ``np.percentile`` and its default
    linear interpolation (``wrapper.py``: ``np.percentile(min_confs, 100 - confidence_percentile)``
    where ``confidence_percentile`` is the percent kept; the older ``deepconf-online.py`` passes
    ``CONFIDENCE_PERCENTILE = 90`` for DeepConf-low, the same number). So eta = 10 gives the 90th
    percentile: only traces as confident as the warm-up's best tenth survive.

    Example:
        >>> online_threshold([float(c) for c in range(1, 17)], 10)  # 0.9 * 15 = 13.5 -> 14.5
        14.5
        >>> online_threshold([1.0, 2.0, 3.0], 90)  # 10th percentile: 1 + 0.2 * (2 - 1)
        1.2
    """
    check_eta(eta)
    values = _finite(warmup_lowest_group_confidences, "warm-up lowest group confidences")
    if values.size == 0:
        raise TTCConfigError("online_threshold needs at least one warm-up trace.")
    return float(np.percentile(values, 100.0 - float(eta)))


def deepconf_online_vote(
    answers: Sequence[Hashable | None],
    lowest_group_confidences: Sequence[float],
    threshold: float,
) -> Aggregate:
    """DeepConf online's final vote: traces whose lowest group confidence is ``>= s`` vote.

    As the authors' ``wrapper.py`` (``_perform_basic_voting``): warm-up and later traces vote
    when ``min_conf >= conf_bar``, weighted by their lowest group confidence; a trace with
    ``min_conf < conf_bar`` (one the online rule stopped, or a short trace whose whole-trace mean
    is below ``s``) does not vote.

    Example:
        >>> deepconf_online_vote(["1", "2", "2"], [5.0, 4.0, 1.0], threshold=2.0).tally
        {'1': 5.0, '2': 4.0}
    """
    if len(answers) != len(lowest_group_confidences):
        raise TTCConfigError(
            f"{len(answers)} answers but {len(lowest_group_confidences)} confidences."
        )
    voting = [
        a if a is not None and float(c) >= threshold else None
        for a, c in zip(answers, lowest_group_confidences, strict=True)
    ]
    return confidence_weighted_vote(voting, lowest_group_confidences, method="deepconf_online")


def consensus(answers: Sequence[Hashable | None], confidences: Sequence[float]) -> float:
    """Weighted consensus ``beta = V(a*) / sum_a V(a)`` (0.0 when nothing votes).

    Fu et al. 2025, Algorithm 2: adaptive sampling stops once ``beta >= tau`` (0.95). ``a*`` is
    the :func:`confidence_weighted_vote` winner.

    Example:
        >>> consensus(["4", "4", "5"], [2.0, 1.0, 1.0])
        0.75
        >>> consensus([None], [1.0])
        0.0
    """
    return confidence_weighted_vote(answers, confidences).confidence
