"""Build a test-time-compute graph by hand from the public nodes, with a step of your own.

generate -> critique -> your node -> aggregate: the samples are drawn, each is self-critiqued
(the filter of Chen et al.'s filter-vote), then a plain function of ours overrules the critique
for answers that are not numbers at all, and filter-vote picks among what is left. Every node
reads and writes the ``ttc_*`` channels of ``TTCState``; the model, strategy and budget travel
in one ``TTCContext``, never in state.

The embedded model is a 270M base model, often wrong on sums like this one: the script prints
how many of its samples were right beside the answer the graph chose, so a wrong answer reads
as what it is (data about a weak model), not a bug.

Run it (about 20 s on two CPU cores with the embedded model)::

    python examples/custom_graph.py
"""

from __future__ import annotations

import os
import re

from langgraph.graph import END, START, StateGraph

from langgraph_ttc import Budget, FilterVote
from langgraph_ttc.nodes import (
    AggregateNode,
    CritiqueNode,
    GenerateNode,
    PrepareNode,
    TTCContext,
)
from langgraph_ttc.state import TTCInput, TTCOutput, TTCState

N = int(os.environ.get("TTC_N", "4"))  # the call budget: N/2 samples + N/2 critiques
MAX_TOKENS = int(os.environ.get("TTC_MAX_TOKENS", "32"))
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
QUESTION, REFERENCE = "What is 6 + 3?", "9"


def numbers_only(state: dict) -> dict:
    """Our own step: a non-numeric answer to an arithmetic question is dropped, whatever its
    critique said (a programmatic check beside the model's self-critique)."""
    dropped = [
        {"id": c["id"], "verdict": False, "critique": "not a number"}
        for c in state["ttc_candidates"]
        if c.get("answer") is not None and not NUMBER.match(str(c["answer"]))
    ]
    return {"ttc_candidates": dropped}


def build(model="local"):
    ctx = TTCContext.create(
        model, FilterVote(n=max(N, 2), max_tokens=MAX_TOKENS, seed=7), budget=Budget(max_calls=N)
    )
    builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
    builder.add_node("prepare", PrepareNode(ctx))
    builder.add_node("generate", GenerateNode(ctx))
    builder.add_node("critique", CritiqueNode(ctx))
    builder.add_node("numbers_only", numbers_only)
    builder.add_node("aggregate", AggregateNode(ctx))
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "generate")
    builder.add_edge("generate", "critique")
    builder.add_edge("critique", "numbers_only")
    builder.add_edge("numbers_only", "aggregate")
    builder.add_edge("aggregate", END)
    return builder.compile()


def main() -> None:
    graph = build()
    edges = [f"{e.source} -> {e.target}" for e in graph.get_graph().edges]
    print("edges:", ", ".join(edges))
    out = graph.invoke({"question": QUESTION})
    result = out["ttc_result"]
    for c in result["candidates"]:
        print(f"candidate {c['id']}: answer={c['answer']!r} verdict={c['verdict']}")
    print(f"answer: {result['answer']} ({result['method']})")
    print(f"calls: {result['usage']['calls']} of {N}")
    right = sum(c["answer"] == REFERENCE for c in result["candidates"])
    verdict = "right" if result["answer"] == REFERENCE else "wrong"
    print(
        f"reference {REFERENCE}: single samples right {right} of {len(result['candidates'])}; "
        f"the answer {result['answer']} is {verdict}"
    )


if __name__ == "__main__":
    main()
