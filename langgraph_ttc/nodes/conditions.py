"""The edge functions: one per decision a run takes, each returning the next node's name (as
LangGraph's ``tools_condition`` does). Static strategies need none (their graphs are plain
chains) except the revision loop; the router's graph uses them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langgraph_ttc.plan import Plan

__all__ = [
    "attempts_condition",
    "judged_condition",
    "revise_condition",
    "rounds_condition",
    "route_condition",
]


def route_condition(state: Mapping[str, Any]) -> Literal["generate", "aggregate"]:
    """After the router: ``aggregate`` when it answers from its probes, else ``generate``.

    Example:
        >>> route_condition({"ttc_plan": {"width": 4, "stop": True}})
        'aggregate'
    """
    return "aggregate" if Plan.from_state(state["ttc_plan"]).stop else "generate"


def revise_condition(state: Mapping[str, Any]) -> Literal["revise", "aggregate"]:
    """``revise`` while chains have attempts left (``ttc_round < depth - 1``), else
    ``aggregate``.

    Example:
        >>> revise_condition({"ttc_plan": {"width": 2, "depth": 3}, "ttc_round": 1})
        'revise'
        >>> revise_condition({"ttc_plan": {"width": 2, "depth": 3}, "ttc_round": 2})
        'aggregate'
    """
    depth = Plan.from_state(state["ttc_plan"]).depth
    return "revise" if state.get("ttc_round", 0) < depth - 1 else "aggregate"


def rounds_condition(state: Mapping[str, Any]) -> Literal["generate", "aggregate"]:
    """A sequential plan of votes: ``generate`` another round until its stop rule fires.

    Example:
        >>> rounds_condition({"ttc_plan": {"width": 4, "stop_rule": None}})
        'aggregate'
    """
    return "generate" if Plan.from_state(state["ttc_plan"]).is_open else "aggregate"


def attempts_condition(
    state: Mapping[str, Any],
) -> Literal["generate", "critique", "verify", "revise", "aggregate"]:
    """After attempts were drawn (by generate or revise): another round of an open sequential
    plan, else the critique or verifier scores the aggregator needs, else the next revision
    round, else ``aggregate``.

    Example:
        >>> attempts_condition({"ttc_plan": {"width": 4, "aggregator": "filter_vote"}})
        'critique'
    """
    plan = Plan.from_state(state["ttc_plan"])
    if plan.is_open:
        return "generate"
    if plan.critique:
        return "critique"
    if plan.verify:
        return "verify"
    return revise_condition(state)


def judged_condition(state: Mapping[str, Any]) -> Literal["verify", "revise", "aggregate"]:
    """After critiques or scores: scores still missing go to ``verify``, then the next revision
    round or ``aggregate``.

    Example:
        >>> judged_condition({"ttc_plan": {"width": 1}, "ttc_candidates": [{"score": None}]})
        'aggregate'
    """
    plan = Plan.from_state(state["ttc_plan"])
    candidates = state.get("ttc_candidates") or []
    if plan.verify and any(c.get("score") is None for c in candidates):
        return "verify"
    return revise_condition(state)
