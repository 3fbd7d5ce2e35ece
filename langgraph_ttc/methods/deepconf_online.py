"""DeepConf online (Fu et al. 2025, "Deep Think with Confidence", sec. 3.3, Algorithm 2; code
facebookresearch/deepconf, ``deepconf-online.py``): its strategy and its hooks into generation.

The strategy (:class:`DeepConfOnline`) plans a warm-up round and more rounds until its
consensus rule fires; the hooks (:class:`DeepConfOnlineHook`) do the rest: once the warm-up is in,
the threshold ``s`` is the ``(100 - eta)``-th percentile of the warm-up traces' lowest group
confidence; later traces stop the moment their group confidence falls below ``s`` (the
backend's ``stop_trace`` watch), and only traces at or above ``s`` count for the stop rule and
vote. The plan carries ``eta`` and ``threshold`` in its options.

Example:
    >>> from langgraph_ttc.plan import Plan
    >>> plan = Plan(width=2, method="deepconf_online", options={"eta": 10.0, "threshold": 1.0})
    >>> DeepConfOnlineHook().votes(plan, [{"answer": "4", "lowest_group": 2.0, "confidence": 2.0},
    ...                                   {"answer": "5", "lowest_group": 0.5, "confidence": 0.5}]).answers
    ('4', None)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from langgraph_ttc.aggregators.deepconf import (
    DEFAULT_TAU,
    DEFAULT_WARMUP,
    check_eta,
    online_threshold,
)
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.base import emit
from langgraph_ttc.nodes.hooks import GenerationHook, register_generation_hook
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import ConsensusAtLeast, SamplesAtLeast, Votes
from langgraph_ttc.strategies import Strategy, register_strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["DeepConfOnline", "DeepConfOnlineHook"]

logger = logging.getLogger(__name__)
_WARNED: set[tuple[int, int]] = set()  # (n, warmup) pairs already warned about in this process


def _threshold(plan: Plan | Mapping) -> float | None:
    options = plan.get("options") or {} if isinstance(plan, Mapping) else plan.options
    return options.get("threshold")


def _kept(candidate: Mapping, cut: float | None) -> bool:
    return cut is None or (candidate.get("lowest_group") or 0.0) >= cut


class DeepConfOnlineHook(GenerationHook):
    """Stops low-confidence traces mid-generation and keeps them out of the vote."""

    name = "deepconf_online"

    def check_backend(self, backend) -> str | None:
        if getattr(backend, "stops_traces", False):
            return None
        return (
            f"{type(backend).__name__} cannot stop a trace mid-generation: DeepConf online runs "
            "without early stops (low-confidence traces still do not vote, but cost their full "
            "length)."
        )

    def watch(self, ctx, plan: Plan, earlier: Sequence[Mapping]) -> dict[str, Any]:
        threshold = _threshold(plan)
        if threshold is None:  # the warm-up: every trace runs to its end
            return {}
        spec = ctx.confidence
        return {"stop_trace": lambda: spec.watch(threshold)}

    def after_draw(self, plan: Plan, drawn: Sequence[Mapping]) -> Plan:
        """The threshold from the warm-up traces (a warm-up without confidences, which the
        budget stopped, sets none)."""
        if _threshold(plan) is not None:
            return plan
        lows = [c["lowest_group"] for c in drawn if c.get("lowest_group") is not None]
        if not lows:
            return plan
        threshold = online_threshold(lows, plan.options.get("eta", 10.0))
        emit("threshold", threshold=round(threshold, 6), warmup=len(lows))
        return replace(plan, options={**plan.options, "threshold": threshold})

    def votes(self, plan: Plan, drawn: Sequence[Mapping]) -> Votes:
        cut = _threshold(plan)
        answers = tuple(c.get("answer") if _kept(c, cut) else None for c in drawn)
        confidences = tuple(c.get("confidence") for c in drawn)
        return Votes(answers, None if any(x is None for x in confidences) else confidences)

    def voters(self, plan: Mapping[str, Any], candidates: list[dict]) -> list[dict]:
        """Traces below the threshold do not vote (the authors' online vote).

        Example:
            >>> plan = {"options": {"threshold": 0.5}}
            >>> [c["answer"] for c in DeepConfOnlineHook().voters(plan, [{"answer": "4", "lowest_group": 0.2}])]
            [None]
        """
        cut = _threshold(plan)
        return [c if _kept(c, cut) else {**c, "answer": None} for c in candidates]


register_generation_hook(DeepConfOnlineHook())


@register_strategy
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
        >>> plan.width, plan.max_width, plan.options["eta"]
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
        check_eta(self.eta)
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
            method="deepconf_online",  # its hooks: DeepConfOnlineHook, below
            options={"eta": float(self.eta), "threshold": None},
            aggregator=self.aggregator,
            reason=self.describe(),
        )

    def describe(self) -> str:
        tau = "none" if self.tau is None else f"{self.tau:g}"
        return f"deepconf_online n={self.n} warmup={self.warmup} eta={self.eta:g} tau={tau}"
