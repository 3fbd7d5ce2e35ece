"""Confidence-aware voting over a fixed number of samples: :class:`ConfidenceVote`, the
confidence-weighted majority, or DeepConf offline with ``eta`` (keep the top eta% most confident
traces; Fu et al. 2025, sec. 3.2). It needs a backend that reports log-probabilities;
:func:`~langgraph_ttc.graph.create_ttc_graph` checks before running.

The methods that change how samples are drawn live with their hooks, one module each:
DeepConf online in :mod:`langgraph_ttc.methods.deepconf_online` and Adaptive-Consistency in
:mod:`langgraph_ttc.methods.adaptive_consistency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from langgraph_ttc.aggregators import DeepConfOffline
from langgraph_ttc.aggregators.deepconf import check_eta
from langgraph_ttc.plan import Plan
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["ConfidenceVote"]


@dataclass(frozen=True)
class ConfidenceVote(Strategy):
    """``n`` samples voted by confidence: weighted by each trace's confidence (``eta=None``),
    or DeepConf offline, where only the top ``eta``% most confident traces vote (10:
    DeepConf-low, 90: DeepConf-high).

    Example:
        >>> ConfidenceVote(n=8, eta=10).plan().aggregator
        'deepconf_low'
    """

    name: ClassVar[str] = "confidence_vote"
    aggregator: ClassVar[str] = "confidence_weighted"

    eta: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eta is not None:
            check_eta(self.eta)

    @property
    def vote(self) -> str:
        """The registered aggregator this config votes with."""
        if self.eta is None:
            return "confidence_weighted"
        return DeepConfOffline(self.eta).name  # resolved by name (get_aggregator), not registered

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        return Plan(width=self.calls(calls_left) or 0, aggregator=self.vote, reason=self.describe())

    def describe(self) -> str:
        return f"{self.vote} n={self.n}"
