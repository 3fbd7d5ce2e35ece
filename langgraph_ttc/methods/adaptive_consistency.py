"""Adaptive-Consistency's hook into generation (Aggarwal et al. 2023): every sample is
requested at once, and the draw is cancelled as soon as the Beta criterion says the leader of
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
from typing import Any

from langgraph_ttc.nodes.hooks import GenerationHook, register_generation_hook
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import BayesianStop, Votes

__all__ = ["AdaptiveConsistencyHook"]


class AdaptiveConsistencyHook(GenerationHook):
    """Cancels the rest of the draw once the Beta stop fires on the finished samples."""

    name = "adaptive_consistency"

    def watch(self, ctx, plan: Plan, earlier: Sequence[Mapping]) -> dict[str, Any]:
        rule = BayesianStop(plan.options.get("threshold", 0.95))
        before = [c.get("answer") for c in earlier]
        return {"until": lambda done: rule(Votes((*before, *(ctx.answer_of(c) for c in done))))}


register_generation_hook(AdaptiveConsistencyHook())
