"""Strategies that spend calls by the model's own token confidence, and the Bayesian early stop.

* :class:`ConfidenceVote`: confidence-weighted majority, or DeepConf offline with ``eta`` (keep
  the top eta% most confident traces; Fu et al. 2025, sec. 3.2).
* :class:`DeepConfOnline`: a warm-up sets a confidence threshold; later traces stop the moment
  their group confidence falls below it; sampling ends at a confidence-weighted consensus
  (Fu et al. 2025, sec. 3.3, Algorithm 2).
* :class:`AdaptiveConsistency`: every sample requested at once; the ones still running are
  cancelled once the Beta posterior says the leader is the majority (Aggarwal et al. 2023).

All three need a backend that reports log-probabilities (the first two) or cancels requests in
flight (the third); :func:`~langgraph_ttc.graph.create_ttc_graph` checks before running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from langgraph_ttc.aggregators import AGGREGATORS, DeepConfOffline, register_aggregator
from langgraph_ttc.aggregators.deepconf import DEFAULT_TAU, DEFAULT_WARMUP
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import BayesianStop, ConsensusAtLeast, SamplesAtLeast
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["AdaptiveConsistency", "ConfidenceVote", "DeepConfOnline"]

logger = logging.getLogger(__name__)
_WARNED: set[tuple[int, int]] = set()  # (n, warmup) pairs already warned about in this process


def _check_eta(eta: float | None) -> None:
    if eta is not None and not 0 < eta <= 100:
        raise TTCConfigError(f"eta is a percent of traces to keep, in (0, 100]; got {eta}.")


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
        _check_eta(self.eta)

    @property
    def vote(self) -> str:
        """The registered aggregator this config votes with."""
        if self.eta is None:
            return "confidence_weighted"
        offline = DeepConfOffline(self.eta)
        if offline.name not in AGGREGATORS:
            register_aggregator(offline)
        return offline.name

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        return Plan(width=self.calls(calls_left) or 0, aggregator=self.vote, reason=self.describe())

    def describe(self) -> str:
        return f"{self.vote} n={self.n}"


@dataclass(frozen=True)
class DeepConfOnline(Strategy):
    """DeepConf online (Fu et al. 2025, Algorithm 2): ``warmup`` traces (paper: 16) set the
    threshold ``s``, the ``(100 - eta)``-th percentile of their lowest group confidence; then
    traces are drawn ``step`` at a time, each stopped the moment its group confidence falls below
    ``s``, until the confidence-weighted consensus of the traces at or above ``s`` reaches
    ``tau`` (0.95) or ``n`` traces are drawn. Only those traces vote, weighted by confidence.
    ``tau=None`` drops the consensus stop and draws all ``n`` (each trace still stopped below
    ``s``), as the authors' released script does (facebookresearch/deepconf,
    deepconf-online.py: the warm-up, then the rest of the budget in one batch); with a small
    warm-up and ``eta=10`` the paper's stop often ends the run right after the warm-up, since
    only the top tenth of it votes.

    Example:
        >>> plan = DeepConfOnline(n=32, warmup=8).plan()
        >>> plan.width, plan.max_width, plan.trace_eta
        (8, 32, 10.0)
        >>> DeepConfOnline(n=32, warmup=8, tau=None).plan().stop_rule.describe()
        '32 samples'
    """

    name: ClassVar[str] = "deepconf_online"
    aggregator: ClassVar[str] = "confidence_weighted"

    n: int = 64
    warmup: int = DEFAULT_WARMUP
    eta: float = 10.0
    tau: float | None = DEFAULT_TAU
    step: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_eta(self.eta)
        if self.warmup < 1 or self.step < 1:
            raise TTCConfigError(
                f"deepconf_online: warmup and step must be >= 1; got {self.warmup}, {self.step}."
            )
        if self.n <= self.warmup and (self.n, self.warmup) not in _WARNED:
            _WARNED.add((self.n, self.warmup))  # once: configs are rebuilt with replace()
            # Said, not silent: the threshold exists only after the warm-up, so with no trace
            # after it nothing is stopped and nothing is saved over a plain confidence vote.
            logger.warning(
                "deepconf_online: n=%d is not above warmup=%d, so every trace is a warm-up "
                "trace: none can stop early and all %d are drawn in full. Pass n above %d "
                "(e.g. --n %d; the paper: a warm-up of 16 in 512) or a smaller warmup.",
                self.n,
                self.warmup,
                self.n,
                self.warmup,
                2 * self.warmup,
            )

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        cap = self.calls(calls_left) or 0
        return Plan(
            width=min(self.warmup, cap),
            max_width=cap,
            step=self.step,
            stop_rule=SamplesAtLeast(cap) if self.tau is None else ConsensusAtLeast(self.tau),
            trace_eta=float(self.eta),
            aggregator=self.aggregator,
            reason=self.describe(),
        )

    def describe(self) -> str:
        tau = "none" if self.tau is None else f"{self.tau:g}"
        return f"deepconf_online n={self.n} warmup={self.warmup} eta={self.eta:g} tau={tau}"


@dataclass(frozen=True)
class AdaptiveConsistency(Strategy):
    """Majority with Adaptive-Consistency's Beta early stop (Aggarwal et al. 2023): all ``n``
    samples are requested at once; as they finish, the posterior probability that the leader
    is the true majority is updated, and once it reaches ``threshold`` (0.95) the requests
    still running are cancelled. Usage counts only what was generated.

    Example:
        >>> AdaptiveConsistency(n=16).plan().until.describe()
        'P(leader) >= 0.95'
    """

    name: ClassVar[str] = "adaptive_consistency"

    n: int = 16
    threshold: float = 0.95

    def __post_init__(self) -> None:
        super().__post_init__()
        BayesianStop(self.threshold)  # checks the threshold

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        return Plan(
            width=self.calls(calls_left) or 0,
            until=BayesianStop(self.threshold),
            aggregator="majority",
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"adaptive_consistency n={self.n} threshold={self.threshold:g}"
