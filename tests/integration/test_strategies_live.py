"""Every strategy end to end on the real embedded model and on a real llama.cpp server.

These assert invariants (answers parsed, calls within budget, usage by purpose matching the
calls made), never the weak model's accuracy.
"""

from __future__ import annotations

import asyncio

import pytest

from langgraph_ttc import (
    Budget,
    OpenAICompatibleBackend,
    create_ttc_graph,
    get_strategy,
    resolve_backend,
)
from langgraph_ttc.strategies import Revise
from langgraph_ttc.verifiers import LLMJudge

pytestmark = pytest.mark.integration

QUESTION = "What is 2 + 3?"
MAX_TOKENS = 24


def strategies():
    return [
        ("majority", get_strategy("majority", n=4, max_tokens=MAX_TOKENS, seed=1), None),
        ("filter_vote", get_strategy("filter_vote", n=4, max_tokens=MAX_TOKENS, seed=1), None),
        (
            "best_of_n",
            get_strategy("best_of_n", n=2, max_tokens=MAX_TOKENS, seed=1),
            LLMJudge(max_tokens=16),
        ),
        (
            "weighted_best_of_n",
            get_strategy("weighted_best_of_n", n=2, max_tokens=MAX_TOKENS, seed=1),
            LLMJudge(max_tokens=16),
        ),
        ("revise", Revise(width=2, depth=2, max_tokens=MAX_TOKENS, seed=1), None),
        ("adaptive", get_strategy("adaptive", n=6, probes=3, max_tokens=MAX_TOKENS, seed=1), None),
    ]


def check(result: dict, budget_calls: int) -> None:
    usage = result["usage"]
    assert 0 < usage["calls"] <= budget_calls
    assert usage["calls"] == sum(p["calls"] for p in usage["by_purpose"].values())
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    generated = [c for c in result["candidates"] if c["purpose"] in ("generate", "probe", "revise")]
    made = sum(
        usage["by_purpose"].get(p, {}).get("calls", 0) for p in ("generate", "probe", "revise")
    )
    assert len(generated) == made
    assert any(c["answer"] is not None for c in generated), "no answer parsed from any sample"
    assert all(c["ok"] or c["error"] for c in result["candidates"])


@pytest.mark.parametrize("name,strategy,verifier", strategies(), ids=[s[0] for s in strategies()])
def test_strategy_on_embedded_model(name, strategy, verifier):
    budget = Budget(max_calls=6)
    graph = create_ttc_graph("local", strategy, budget=budget, verifier=verifier)
    out = graph.invoke({"question": QUESTION})
    check(out["ttc_result"], 6)
    assert out["messages"][-1].type == "ai"


@pytest.mark.parametrize("name,strategy,verifier", strategies(), ids=[s[0] for s in strategies()])
def test_strategy_on_llama_server(llama_server, name, strategy, verifier):
    backend = OpenAICompatibleBackend(llama_server.base_url, llama_server.model, mode="completion")
    graph = create_ttc_graph(backend, strategy, budget=Budget(max_calls=6), verifier=verifier)
    result = asyncio.run(graph.ainvoke({"question": QUESTION}))["ttc_result"]
    check(result, 6)
    assert result["usage"]["requests"] >= result["usage"]["calls"]  # llama.cpp ignores n


def test_embedded_is_the_default_model():
    assert resolve_backend("local").model_id.startswith("gemma3-270m")


def test_a_question_longer_than_the_context_is_rejected_clearly():
    from langgraph_ttc import TTCInputError

    graph = create_ttc_graph("local", get_strategy("majority", n=2, max_tokens=8))
    with pytest.raises(TTCInputError, match="context"):
        graph.invoke({"question": "What is 1 + 1? " * 1500})
