"""Add test-time compute to an agent graph you already have, as a subgraph node.

The parent is an agent-style ``StateGraph`` over ``MessagesState`` with keys of its own. A
``route`` node sends arithmetic questions to the TTC subgraph (majority vote over a few samples
of the embedded model) and everything else to an ordinary ``chat`` node. A ``report`` node then
reads the subgraph's ``ttc_result``: that key reaches the parent only because the parent state
declares it. A parent that declares only ``messages`` gets the answer message and nothing else;
the subgraph's private ``ttc_*`` channels never reach either parent.

Run it (about 20 s on two CPU cores)::

    python examples/react_agent_with_ttc.py
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_ttc import Majority, create_ttc_graph

N = int(os.environ.get("TTC_N", "3"))  # samples per question
MAX_TOKENS = int(os.environ.get("TTC_MAX_TOKENS", "32"))  # answers are one short line

MATH = re.compile(r"\d\s*[-+*/x]\s*\d")


class AgentState(MessagesState):
    """The parent's state: its messages, its own keys, and ``ttc_result`` (declared, so the
    subgraph's structured result is copied in)."""

    route: str
    ttc_result: dict[str, Any]
    confidence_note: str


def route(state: AgentState) -> dict:
    return {"route": "math" if MATH.search(state["messages"][-1].text) else "chat"}


def route_condition(state: AgentState) -> Literal["ttc", "chat"]:
    return "ttc" if state["route"] == "math" else "chat"


def chat(state: AgentState) -> dict:
    """Stands in for your agent's usual model or tool-calling node."""
    return {"messages": [AIMessage("I am a calculator agent: ask me some arithmetic.")]}


def report(state: AgentState) -> dict:
    result = state["ttc_result"]
    votes = result["tally"].get(result["answer"], 0) if result["answer"] else 0
    note = f"{votes:g} of {result['usage']['calls']} samples agree (confidence {result['confidence']:.2f})"
    return {"confidence_note": note}


def build_agent(ttc_graph):
    builder = StateGraph(AgentState)
    builder.add_node("route", route)
    builder.add_node("chat", chat)
    builder.add_node("ttc", ttc_graph)  # the compiled TTC graph is the node: a subgraph
    builder.add_node("report", report)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", route_condition, ["ttc", "chat"])
    builder.add_edge("ttc", "report")
    builder.add_edge("report", END)
    builder.add_edge("chat", END)
    return builder.compile()


def build_plain_parent(ttc_graph):
    """A parent that declares only ``messages``: it sees the answer, not ``ttc_result``."""
    builder = StateGraph(MessagesState)
    builder.add_node("ttc", ttc_graph)
    builder.add_edge(START, "ttc")
    builder.add_edge("ttc", END)
    return builder.compile()


def main() -> None:
    ttc = create_ttc_graph("local", Majority(n=N, max_tokens=MAX_TOKENS))
    agent = build_agent(ttc)

    for question in ("What is 12 + 30?", "Hello, who are you?"):
        state = agent.invoke({"messages": [HumanMessage(question)]})
        print(f"question: {question}")
        print(f"  route: {state['route']}")
        print(f"  reply: {state['messages'][-1].text}")
        if "ttc_result" in state:
            result = state["ttc_result"]
            print(f"  ttc answer: {result['answer']} ({state['confidence_note']})")
            print(f"  ttc calls: {result['usage']['calls']} of {N}")

    plain = build_plain_parent(ttc).invoke({"messages": [HumanMessage("What is 7 + 5?")]})
    print(f"plain parent keys: {sorted(plain)}")
    print(f"plain parent reply: {plain['messages'][-1].text}")


if __name__ == "__main__":
    main()
