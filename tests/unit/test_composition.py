"""The TTC graph as a subgraph: parent keys, private channels, checkpointers, interrupts."""

from __future__ import annotations

import asyncio
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.testing import FakeBackend


class ParentState(MessagesState):
    candidates: list[str]  # same name as a TTC concept: must stay untouched


class ParentWithResult(ParentState):
    ttc_result: dict


def _parent(schema, ttc, checkpointer=None):
    builder = StateGraph(schema)
    builder.add_node("ttc", ttc)
    builder.add_edge(START, "ttc")
    builder.add_edge("ttc", END)
    return builder.compile(checkpointer=checkpointer)


def test_parent_sees_one_ai_message_and_keeps_its_own_keys(oracle):
    ttc = create_ttc_graph(FakeBackend(reply=oracle), "majority", n=4)
    parent = _parent(ParentState, ttc)
    out = parent.invoke({"messages": [HumanMessage("What is 3 + 5?")], "candidates": ["mine"]})
    assert out["candidates"] == ["mine"]
    assert [m.type for m in out["messages"]] == ["human", "ai"]
    assert "ttc_result" not in out
    assert not any(key.startswith("ttc_") for key in out)


def test_parent_that_declares_ttc_result_receives_it(oracle):
    ttc = create_ttc_graph(FakeBackend(reply=oracle), "filter_vote", n=4)
    out = _parent(ParentWithResult, ttc).invoke(
        {"messages": [HumanMessage("What is 3 + 5?")], "candidates": []}
    )
    assert out["ttc_result"]["strategy"] == "filter_vote"
    assert out["ttc_result"]["usage"]["calls"] == 4


def test_checkpointed_thread_answers_each_turn_afresh(oracle):
    ttc = create_ttc_graph(FakeBackend(reply=oracle), "majority", n=3)
    parent = _parent(ParentWithResult, ttc, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    first = parent.invoke({"messages": [HumanMessage("What is 3 + 5?")], "candidates": []}, config)
    second = parent.invoke({"messages": [HumanMessage("What is 1 + 1?")]}, config)
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
    assert second["ttc_result"]["usage"]["calls"] == 3  # usage does not pile up across turns
    assert len(second["ttc_result"]["candidates"]) == 3
    assert second["ttc_result"]["answer"] == "2"
    assert first["messages"][-1].id != second["messages"][-1].id


def test_ttc_graph_with_its_own_checkpointer_and_async(oracle):
    ttc = create_ttc_graph(FakeBackend(reply=oracle), "revise", checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "a"}}
    out = asyncio.run(ttc.ainvoke({"question": "What is 3 + 5?"}, config))
    assert out["ttc_result"]["usage"]["calls"] == 8
    state = ttc.get_state(config)
    assert len(state.values["ttc_candidates"]) == 8  # the whole tree is checkpointed as data


class ApprovalState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    approved: bool


def test_works_inside_a_parent_graph_that_interrupts(oracle):
    def approve(state):
        return {"approved": interrupt("approve the answer?")}

    builder = StateGraph(ApprovalState)
    builder.add_node("ttc", create_ttc_graph(FakeBackend(reply=oracle), "majority", n=3))
    builder.add_node("approve", approve)
    builder.add_edge(START, "ttc")
    builder.add_edge("ttc", "approve")
    builder.add_edge("approve", END)
    parent = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "x"}}
    paused = parent.invoke({"messages": [HumanMessage("What is 3 + 5?")]}, config)
    assert "__interrupt__" in paused
    done = parent.invoke(Command(resume=True), config)
    assert done["approved"] is True
    assert [m.type for m in done["messages"]] == ["human", "ai"]


def test_prompts_never_reach_the_messages_stream():
    """Few-shot exemplars are part of the prompt, not of the conversation: the messages stream
    (and the checkpointed state) carry the user's turn and the answer only."""
    backend = FakeBackend()
    backend.needs_exemplars = True  # a base model: the prompt has worked examples
    graph = create_ttc_graph(backend, "majority", n=2)
    streamed = [
        (message.type, message.content)
        for message, _ in graph.stream(
            {"messages": [("human", "What is 2 + 2?")]}, stream_mode="messages"
        )
    ]
    assert [kind for kind, _ in streamed] == ["ai"]
    assert not any("12 + 9" in str(content) for _, content in streamed)


def test_a_run_started_with_a_question_keeps_it_in_the_thread():
    graph = create_ttc_graph(FakeBackend(), "majority", n=2, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "q"}}
    graph.invoke({"question": "What is 2 + 2?"}, config)
    messages = graph.get_state(config).values["messages"]
    assert [m.type for m in messages] == ["human", "ai"]
    assert messages[0].content == "What is 2 + 2?"


@pytest.mark.parametrize("strategy", ["majority", "adaptive_consistency"])  # one node; prepare
def test_a_thread_answers_each_turn_whichever_way_it_was_asked(oracle, strategy):
    """A question given as {"question": ...} is not answered again when a later turn comes as
    messages, and a turn asked as a question joins the conversation."""
    graph = create_ttc_graph(FakeBackend(reply=oracle), strategy, n=3, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "mixed"}}
    turns = [
        {"question": "What is 3 + 5?"},
        {"messages": [HumanMessage("What is 1 + 1?")]},
        {"question": "What is 17 * 23?"},
        {"question": "What is 17 * 23?"},  # the same question again
        {"messages": [HumanMessage("What is 1 + 1?")]},
    ]
    asked = []
    for turn in turns:
        out = graph.invoke(turn, config)
        asked.append(graph.get_state(config).values["ttc_question"])
    assert asked == ["What is 3 + 5?", "What is 1 + 1?", "What is 17 * 23?",
                     "What is 17 * 23?", "What is 1 + 1?"]  # fmt: skip
    assert out["ttc_result"]["answer"] == "2"
    humans = [m.content for m in out["messages"] if m.type == "human"]
    assert humans == asked
    assert [m.type for m in out["messages"]] == ["human", "ai"] * 5
