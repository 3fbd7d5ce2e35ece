"""Confidence-aware votes: each trace weighs what the model's own token confidence says of it.

* ``confidence_weighted``: ``V(a)`` = the sum of the confidences of the traces answering ``a``
  (Fu et al. 2025, "Deep Think with Confidence", sec. 3.2; authors' code
  facebookresearch/deepconf, ``weighted_majority_vote``). This is a plain sum, not CISC
  (Taubenfeld et al. 2025, "Confidence Improves Self-Consistency"), which weights each trace by
  the softmax of its confidence at a temperature tuned per model, ``exp(c_i / T) / sum_j
  exp(c_j / T)``; CISC is not implemented here.
* ``deepconf_low`` / ``deepconf_high``: DeepConf offline, which keeps the top ``eta``% most
  confident answered traces (10% / 90%) and then takes the weighted vote (authors' code
  facebookresearch/deepconf, ``utils.filter_top_confidence`` and ``weighted_majority_vote``).
* ``evidence_<slope>@<center>``: each trace votes ``1 + slope * (c - center)``, its count plus
  the log-likelihood ratio (right vs wrong) its confidence carries under a logistic fit on pools
  (:func:`langgraph_ttc.scaling.prior.fit_evidence`): the answer the posterior of
  :mod:`langgraph_ttc.posterior` ranks first. Confidence-weighted voting adds raw confidences,
  which on DeepConf's scale (around 10) barely differ from one vote each; this weighs them by
  what they are worth on the pool.

A trace's confidence is a scalar summary of its token confidences (by default DeepConf's lowest
group confidence, see :class:`~langgraph_ttc.confidence.ConfidenceSpec`); the candidates carry
it as ``confidence``, pools store it per sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from typing import ClassVar

import numpy as np

from langgraph_ttc.aggregators.base import (
    Aggregate,
    Aggregator,
    Ballots,
    BallotTable,
    prefix_weighted_winners,
    weighted_vote,
)
from langgraph_ttc.aggregators.deepconf import DEEPCONF_HIGH, DEEPCONF_LOW, confidence_weighted_vote
from langgraph_ttc.aggregators.deepconf import deepconf_offline_vote as _offline_vote
from langgraph_ttc.aggregators.sampling import check_k, monte_carlo

__all__ = ["ConfidenceWeighted", "DeepConfOffline", "EvidenceVote", "confidence_at_k"]


def _weights(ballots: Ballots) -> list[float]:
    """The confidences as vote weights (a missing one, None or NaN, votes with 0)."""
    if not ballots.confidences:
        return [0.0] * len(ballots.answers)
    return [0.0 if c is None or math.isnan(c) else float(c) for c in ballots.confidences]


class ConfidenceWeighted(Aggregator):
    """The confidence-weighted majority (Fu et al. 2025, sec. 3.2).

    Example:
        >>> ConfidenceWeighted().vote(Ballots(("4", "5", "5"), confidences=(3.0, 1.0, 1.0))).answer
        '4'
    """

    name = "confidence_weighted"
    needs = frozenset({"confidences"})
    estimate = "monte_carlo"

    def vote(self, ballots: Ballots) -> Aggregate:
        return confidence_weighted_vote(ballots.answers, _weights(ballots))

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        weights = np.nan_to_num(np.asarray(table.confidences, dtype=float), nan=0.0)
        return prefix_weighted_winners(table.codes, weights)

    def at_k(self, answers, correct, k, *, confidences=None, rng=None, n_sub=200, **_) -> float:
        return confidence_at_k(self, answers, correct, confidences, k, rng=rng, n_sub=n_sub)


class DeepConfOffline(Aggregator):
    """DeepConf offline: the top ``eta``% most confident answered traces vote, weighted by their
    confidence (Fu et al. 2025, sec. 3.2).

    Example:
        >>> ballots = Ballots(("7", "7", "7", "9", "9"), confidences=(1.0, 1.0, 1.0, 5.0, 6.0))
        >>> DeepConfOffline(10).vote(ballots).answer, ConfidenceWeighted().vote(ballots).answer
        ('9', '9')
    """

    needs = frozenset({"confidences"})
    estimate = "monte_carlo"
    names: ClassVar[dict[float, str]] = {
        DEEPCONF_LOW: "deepconf_low",
        DEEPCONF_HIGH: "deepconf_high",
    }

    def __init__(self, eta: float) -> None:
        self.eta = float(eta)
        self.name = self.names.get(self.eta, f"deepconf_{self.eta:g}")

    def vote(self, ballots: Ballots) -> Aggregate:
        return _offline_vote(ballots.answers, _weights(ballots), self.eta)

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        weights = np.nan_to_num(np.asarray(table.confidences, dtype=float), nan=0.0)
        orders, width = table.codes.shape
        answered = table.codes >= 0
        winners = np.full((orders, width), -1)
        for w in range(1, width + 1):  # the cut moves with every new trace: one width at a time
            values = np.where(answered[:, :w], weights[:, :w], np.nan)
            has = answered[:, :w].any(axis=1)
            cut = np.full(orders, np.inf)
            if has.any():
                cut[has] = np.nanpercentile(values[has], 100.0 - self.eta, axis=1)
            kept = answered[:, :w] & (weights[:, :w] >= cut[:, None])
            codes = np.where(kept, table.codes[:, :w], -1)
            winners[:, w - 1] = prefix_weighted_winners(codes, weights[:, :w])[:, -1]
        return winners

    def at_k(self, answers, correct, k, *, confidences=None, rng=None, n_sub=200, **_) -> float:
        return confidence_at_k(self, answers, correct, confidences, k, rng=rng, n_sub=n_sub)


class EvidenceVote(Aggregator):
    """Counts plus confidence evidence: a trace votes ``1 + slope * (c - center)`` (a trace
    without a confidence votes 1), so an answer's tally is its count plus the log-likelihood
    ratio of its traces' confidences (``slope``/``center`` from
    :func:`~langgraph_ttc.scaling.prior.fit_evidence`). By name: ``evidence_<slope>@<center>``.

    Example:
        >>> vote = EvidenceVote(slope=2.0, center=0.5)
        >>> vote.name
        'evidence_2@0.5'
        >>> vote.vote(Ballots(("4", "5", "5"), confidences=(0.9, 0.2, 0.3))).answer
        '4'
    """

    needs = frozenset({"confidences"})
    estimate = "monte_carlo"

    def __init__(self, slope: float, center: float) -> None:
        self.slope, self.center = float(slope), float(center)
        self.name = f"evidence_{self.slope:g}@{self.center:g}"

    @classmethod
    def from_name(cls, rest: str) -> EvidenceVote:
        """From the part of the name after ``evidence_`` (``"<slope>@<center>"``)."""
        slope, center = rest.split("@")
        made = cls(float(slope), float(center))
        if not (math.isfinite(made.slope) and math.isfinite(made.center)):
            raise ValueError(rest)
        return made

    def _weights(self, confidences) -> np.ndarray:
        c = np.asarray(confidences, dtype=float)
        return np.where(np.isnan(c), 1.0, 1.0 + self.slope * (np.nan_to_num(c) - self.center))

    def vote(self, ballots: Ballots) -> Aggregate:
        confidences = [math.nan if c is None else c for c in ballots.confidences or ()]
        if len(confidences) != len(ballots.answers):
            confidences = [math.nan] * len(ballots.answers)
        weights = self._weights(confidences).tolist()
        result = weighted_vote(ballots.answers, weights, method=self.name)
        return dataclasses.replace(result, confidence=min(max(result.confidence, 0.0), 1.0))

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        return prefix_weighted_winners(table.codes, self._weights(table.confidences))

    def at_k(self, answers, correct, k, *, confidences=None, rng=None, n_sub=200, **_) -> float:
        return confidence_at_k(self, answers, correct, confidences, k, rng=rng, n_sub=n_sub)


def confidence_at_k(
    aggregator: Aggregator,
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    confidences: Sequence[float] | None,
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_sub: int = 200,
) -> float:
    """Expected accuracy of a confidence vote at ``k`` pooled samples; Monte Carlo over random
    ordered k-subsets (the vote's winner is graded on its own, as live)."""
    check_k(len(answers), k)
    weights = [0.0 if c is None or np.isnan(c) else float(c) for c in (confidences or [])]
    if len(weights) != len(answers):
        return float("nan")  # the pool holds no confidences
    return monte_carlo(
        lambda a, s: aggregator.vote(Ballots(tuple(a), confidences=tuple(s))).index,
        answers,
        correct,
        weights,
        k,
        rng=rng,
        n_sub=n_sub,
    )
