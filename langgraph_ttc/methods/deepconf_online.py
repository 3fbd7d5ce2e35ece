"""DeepConf online's hooks into generation (Fu et al. 2025, "Deep Think with Confidence",
Algorithm 2; code facebookresearch/deepconf, ``deepconf-online.py``).

The strategy (:class:`~langgraph_ttc.strategies.DeepConfOnline`) plans a warm-up round and
more rounds until its consensus rule fires; these hooks do the rest: once the warm-up is in,
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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from langgraph_ttc.aggregators.deepconf import online_threshold
from langgraph_ttc.nodes.base import emit
from langgraph_ttc.nodes.hooks import GenerationHook, register_generation_hook
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import Votes

__all__ = ["DeepConfOnlineHook"]


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
