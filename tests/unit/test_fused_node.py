"""A graph that starts its run in its first node (and votes there) answers as the chain of
separate nodes would: same result, same messages, same usage; a thread asked again starts
afresh."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.budget import Budget
from langgraph_ttc.nodes import AggregateNode, GenerateNode, PrepareNode, TTCContext
from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
from langgraph_ttc.strategies import get_strategy
from langgraph_ttc.testing import FakeBackend

QUESTION = "What is 2 + 2?"


def chain_of_nodes(ctx: TTCContext):
    builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
    builder.add_node("prepare", PrepareNode(ctx))
    builder.add_node("generate", GenerateNode(ctx))
    builder.add_node("aggregate", AggregateNode(ctx))
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    builder.add_edge("generate", "aggregate")
    builder.add_edge("aggregate", END)
    return builder.compile()


def comparable(output: dict) -> dict:
    result = dict(output["ttc_result"])
    result["usage"] = {k: v for k, v in result["usage"].items() if k != "wall_seconds"}
    # Candidate ids carry the run's random id: compare each run's own part of them.
    result["candidates"] = [{**c, "id": c["id"].split(":", 1)[1]} for c in result["candidates"]]
    return {
        "result": result,
        "messages": [(m.type, m.content) for m in output["messages"]],
    }


@pytest.mark.parametrize("strategy", ["majority", "confidence_vote", "filter_vote"])
def test_fused_graph_answers_as_the_chain_of_nodes(strategy):
    backend = FakeBackend(confidence=lambda messages, seed, text: 0.8)
    config = dataclasses.replace(get_strategy(strategy, n=6), seed=7)
    fused = create_ttc_graph(backend, config)
    chain = chain_of_nodes(TTCContext.create(backend, config))
    if strategy == "filter_vote":  # a stage after generate: the vote stays its own node
        assert set(fused.get_graph().nodes) >= {"generate", "critique", "aggregate"}
        return
    assert [n for n in fused.get_graph().nodes if not n.startswith("__")] == ["generate"]
    for run in (lambda g: g.invoke({"question": QUESTION}),
                lambda g: asyncio.run(g.ainvoke({"question": QUESTION}))):  # fmt: skip
        assert comparable(run(fused)) == comparable(run(chain))


def test_a_thread_asked_again_starts_afresh():
    ctx = TTCContext.create(FakeBackend(), "majority", n=4)
    graphs = [create_ttc_graph(FakeBackend(), "majority", n=4, checkpointer=InMemorySaver())]
    graphs.append(chain_of_nodes(ctx).builder.compile(checkpointer=InMemorySaver()))
    seen = []
    for graph in graphs:
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"messages": [("human", QUESTION)]}, config)
        second = graph.invoke({"messages": [("human", "What is 3 + 3?")]}, config)
        assert second["ttc_result"]["usage"]["calls"] == 4
        assert len(second["ttc_result"]["candidates"]) == 4
        seen.append([m.type for m in second["messages"]])
    assert seen[0] == seen[1] == ["human", "ai", "human", "ai"]


def test_the_budget_is_counted_from_the_start_of_the_run():
    graph = create_ttc_graph(FakeBackend(), "majority", n=8, budget=Budget(max_calls=3))
    assert graph.invoke({"question": QUESTION})["ttc_result"]["usage"]["calls"] == 3
