"""The building blocks of the test-time-compute graphs, for graphs of your own.

Every node takes a :class:`TTCContext` (the model, strategy, budget, task and verifier) and
reads and writes the ``ttc_*`` channels of :class:`~langgraph_ttc.state.TTCState` (mix it into
your state schema). Model-calling nodes are Runnables with real ``invoke`` and ``ainvoke``.

Example: generate, critique, a node of your own, aggregate::

    >>> from langgraph.graph import END, START, StateGraph
    >>> from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
    >>> from langgraph_ttc.testing import FakeBackend
    >>> ctx = TTCContext.create(FakeBackend(), "filter_vote", n=6)
    >>> def keep_short(state):  # a user's own step: drop verdicts on long answers
    ...     return {"ttc_candidates": [
    ...         {"id": c["id"], "verdict": False} for c in state["ttc_candidates"] if len(c["text"]) > 80]}
    >>> builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
    >>> for name, node in [("prepare", PrepareNode(ctx)), ("generate", GenerateNode(ctx)),
    ...                    ("critique", CritiqueNode(ctx)), ("keep_short", keep_short),
    ...                    ("aggregate", AggregateNode(ctx))]:
    ...     _ = builder.add_node(name, node)
    >>> _ = builder.add_edge(START, "prepare").add_edge("prepare", "generate")
    >>> _ = builder.add_edge("generate", "critique").add_edge("critique", "keep_short")
    >>> _ = builder.add_edge("keep_short", "aggregate").add_edge("aggregate", END)
    >>> builder.compile().invoke({"question": "2+2?"})["ttc_result"]["usage"]["calls"]
    6
"""

from langgraph_ttc.nodes.aggregate import AggregateNode
from langgraph_ttc.nodes.base import StateNode, TTCNode, emit
from langgraph_ttc.nodes.conditions import (
    attempts_condition,
    judged_condition,
    next_stage,
    revise_condition,
    rounds_condition,
    route_condition,
    stage_condition,
)
from langgraph_ttc.nodes.context import TTCContext, candidate_from, seed_of, tool_call_key
from langgraph_ttc.nodes.critique import CritiqueNode
from langgraph_ttc.nodes.fused import FusedNode
from langgraph_ttc.nodes.generate import GenerateNode, GenerateTask, fan_out_generate
from langgraph_ttc.nodes.prepare import PrepareNode, as_question_input, question_of
from langgraph_ttc.nodes.revise import ReviseNode
from langgraph_ttc.nodes.route import RouteNode
from langgraph_ttc.nodes.stages import STAGES, Stage, get_stage, register_stage
from langgraph_ttc.nodes.verify import VerifyNode

__all__ = [
    "STAGES",
    "AggregateNode",
    "CritiqueNode",
    "FusedNode",
    "GenerateNode",
    "GenerateTask",
    "PrepareNode",
    "ReviseNode",
    "RouteNode",
    "Stage",
    "StateNode",
    "TTCContext",
    "TTCNode",
    "VerifyNode",
    "as_question_input",
    "attempts_condition",
    "candidate_from",
    "emit",
    "get_stage",
    "next_stage",
    "register_stage",
    "stage_condition",
    "fan_out_generate",
    "judged_condition",
    "question_of",
    "revise_condition",
    "rounds_condition",
    "route_condition",
    "seed_of",
    "tool_call_key",
]
