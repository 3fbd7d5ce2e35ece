"""Adaptive-Consistency (Aggarwal et al. 2023; code Pranjal2041/AdaptiveConsistency): its
strategy (:class:`AdaptiveConsistency`, majority with a Beta early stop) and its hook into
generation (:class:`AdaptiveConsistencyHook`). Every sample is requested at once, and the draw is cancelled as soon as the Beta criterion says the leader of
the finished samples is the majority with probability ``threshold`` (plan option, 0.95).

A backend that cancels requests in flight gets the rule as its ``until`` watch; one that cannot
draws one request at a time instead (:func:`langgraph_ttc.nodes.generate.one_at_a_time`), so
usage counts only what was generated either way.

Example:
    >>> from langgraph_ttc.plan import Plan
    >>> from langgraph_ttc.nodes import TTCContext
    >>> from langgraph_ttc.testing import FakeBackend
    >>> ctx = TTCContext.create(FakeBackend(), "adaptive_consistency")
    >>> plan = Plan(width=8, method="adaptive_consistency", options={"threshold": 0.95})
    >>> sorted(AdaptiveConsistencyHook().watch(ctx, plan, []))
    ['until']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph_ttc.nodes.hooks import GenerationHook, register_generation_hook
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import BayesianStop, Votes
from langgraph_ttc.strategies import Strategy, register_strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["AdaptiveConsistency", "AdaptiveConsistencyHook"]


class AdaptiveConsistencyHook(GenerationHook):
    """Cancels the rest of the draw once the Beta stop fires on the finished samples."""

    name = "adaptive_consistency"

    def watch(self, ctx, plan: Plan, earlier: Sequence[Mapping]) -> dict[str, Any]:
        rule = BayesianStop(plan.options.get("threshold", 0.95))
        before = [c.get("answer") for c in earlier]
        return {"until": lambda done: rule(Votes((*before, *(ctx.answer_of(c) for c in done))))}


register_generation_hook(AdaptiveConsistencyHook())


@register_strategy
@dataclass(frozen=True)
class AdaptiveConsistency(Strategy):
    """Majority with Adaptive-Consistency's Beta early stop (Aggarwal et al. 2023): all ``n``
    samples are requested at once; as they finish, the posterior probability that the leader
    is the true majority is updated, and once it reaches ``threshold`` (0.95) the requests
    still running are cancelled. Usage counts only what was generated.

    Example:
        >>> AdaptiveConsistency(n=16).plan().options
        {'threshold': 0.95}
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
            method="adaptive_consistency",  # its hook: AdaptiveConsistencyHook, below
            options={"threshold": self.threshold},
            aggregator="majority",
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"adaptive_consistency n={self.n} threshold={self.threshold:g}"
