"""The stages a plan can run between its first attempts and the vote, by name.

An aggregator names the stages it needs (:attr:`Aggregator.stages
<langgraph_ttc.aggregators.Aggregator.stages>`: ``critique`` for verdicts, ``verify`` for
scores, then a method's own such as GenSelect's ``select``); the graph factory wires the
registered node of each, in that order, and :func:`~langgraph_ttc.nodes.conditions.next_stage`
routes between them. A stage that runs in rounds (RSA's ``recombine``) loops on itself while
its ``again`` says so. A method registers its stage next to its node::

    register_stage(Stage("select", GenSelectNode))

Example:
    >>> get_stage("critique").node.__name__, get_stage("verify").again is None
    ('CritiqueNode', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.nodes.critique import CritiqueNode
from langgraph_ttc.nodes.verify import VerifyNode
from langgraph_ttc.plugins import load_methods

__all__ = ["STAGES", "Stage", "get_stage", "register_stage"]


@dataclass(frozen=True)
class Stage:
    """One stage of a plan.

    Attributes:
        name: the node's name in the graph (and in the aggregator's ``stages``).
        node: makes the node from the run's context (a class such as ``CritiqueNode``).
        again: ``again(state)`` true sends the run through this stage once more (a method that
            aggregates in rounds); ``None``: it runs once.
    """

    name: str
    node: Callable[[TTCContext], Runnable | Callable[[dict], dict]]
    again: Callable[[Mapping[str, Any]], bool] | None = None


STAGES: dict[str, Stage] = {}


def register_stage(stage: Stage) -> Stage:
    """Add ``stage`` to the registry under its name (replacing one of that name)."""
    if stage.name in ("prepare", "generate", "revise", "route", "aggregate"):
        raise TTCConfigError(f"{stage.name!r} is a fixed node of the graph; name the stage apart.")
    STAGES[stage.name] = stage
    return stage


def get_stage(name: str) -> Stage:
    """The registered stage called ``name``."""
    if name not in STAGES:
        load_methods()
    if name not in STAGES:
        raise TTCConfigError(f"No stage {name!r} is registered; known: {sorted(STAGES)}.")
    return STAGES[name]


register_stage(Stage("critique", CritiqueNode))
register_stage(Stage("verify", VerifyNode))
