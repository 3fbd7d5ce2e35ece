"""The edge functions: one per decision a run takes, each returning the next node's name (as
LangGraph's ``tools_condition`` does). Static strategies need none (their graphs are plain
chains) except the revision loop and a stage that runs in rounds; the router's graph uses
them all. Which stage follows which is read from the plan (:attr:`Plan.stages
<langgraph_ttc.plan.Plan.stages>`), never from a list here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from langgraph_ttc.nodes.stages import get_stage
from langgraph_ttc.plan import Plan

__all__ = [
    "attempts_condition",
    "judged_condition",
    "next_stage",
    "stage_condition",
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


def next_stage(state: Mapping[str, Any], done: str | None = None) -> str:
    """The node after stage ``done`` (``None``: after the attempts): the same stage again while
    its ``again`` holds, else the plan's next stage, else the next revision round or
    ``aggregate``.

    Example:
        >>> next_stage({"ttc_plan": {"width": 4, "aggregator": "filter_vote"}})
        'critique'
        >>> next_stage({"ttc_plan": {"width": 4, "aggregator": "filter_vote"}}, "critique")
        'aggregate'
    """
    stages = Plan.from_state(state["ttc_plan"]).stages
    if done is None:
        rest = stages
    elif done in stages:
        again = get_stage(done).again
        if again is not None and again(state):
            return done
        rest = stages[stages.index(done) + 1 :]
    else:  # a stage this plan does not name (the router's graph holds every plan's)
        rest = ()
    return rest[0] if rest else revise_condition(state)


def stage_condition(name: str) -> Callable[[Mapping[str, Any]], str]:
    """The edge function after stage ``name`` (:func:`next_stage` bound to it).

    Example:
        >>> stage_condition("critique")({"ttc_plan": {"width": 2, "aggregator": "filter_vote"}})
        'aggregate'
    """

    def after(state: Mapping[str, Any]) -> str:
        return next_stage(state, name)

    after.__name__ = f"after_{name}"
    return after


def attempts_condition(state: Mapping[str, Any]) -> str:
    """After attempts were drawn (by generate or revise): another round of an open sequential
    plan, else the first stage the aggregator needs (critique, verifier scores, a method's
    own), else the next revision round, else ``aggregate``.

    Example:
        >>> attempts_condition({"ttc_plan": {"width": 4, "aggregator": "filter_vote"}})
        'critique'
    """
    plan = Plan.from_state(state["ttc_plan"])
    if plan.is_open:
        return "generate"
    return next_stage(state)


def judged_condition(state: Mapping[str, Any]) -> str:
    """After critiques or scores: scores still missing go to ``verify``, then the plan's next
    stage, the next revision round or ``aggregate``.

    Example:
        >>> judged_condition({"ttc_plan": {"width": 1}, "ttc_candidates": [{"score": None}]})
        'aggregate'
    """
    plan = Plan.from_state(state["ttc_plan"])
    candidates = state.get("ttc_candidates") or []
    if plan.verify and any(c.get("score") is None for c in candidates):
        return "verify"
    return next_stage(state, "verify" if "verify" in plan.stages else "critique")
