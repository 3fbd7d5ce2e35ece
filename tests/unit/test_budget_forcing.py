"""s1 budget forcing (Muennighoff et al. 2025, sec. 3.1) against the instant server's completion
endpoint, which continues a prompt that ends inside a ``<think>`` trace the way a base model does
(``/v1/completions`` runs no reasoning parser in vLLM), ``"Wait"`` making it think on
(``_instant_reasoning.WAIT_EXTENSION`` more words)."""

from __future__ import annotations

import asyncio

import pytest

from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.backends import BudgetForcingBackend, OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.strategies import Majority
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.testing._instant_reasoning import WAIT_EXTENSION, answer_value, thought_length
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = "What is 2+2?"
KEY = f"Q: {QUESTION}\n"  # the transcript before the answer: what the server's choices hang on
SEED = 11


@pytest.fixture
def server():
    with InstantServer(reasoning="vllm") as running:
        yield running


def forcing(server, **options) -> BudgetForcingBackend:
    inner = OpenAICompatibleBackend(server.base_url, "instant", mode="completion")
    return BudgetForcingBackend(inner, **options)


def run(backend, params, n=1, *, run_async=False):
    messages = [("human", QUESTION)]
    if run_async:
        return asyncio.run(backend.asample(messages, n, params))
    return backend.sample(messages, n, params)


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_a_model_that_ends_its_thinking_in_budget_answers_as_it_would(server, run_async):
    length, value = thought_length(KEY, SEED, 0), answer_value(KEY, SEED, 0)
    draw = run(
        forcing(server), SamplingParams(seed=SEED, thinking_budget=1000), run_async=run_async
    )
    (c,) = draw.completions
    assert c.thinking_tokens == length and c.text == f"The answer is {value}."
    assert draw.extra["budget_forcing"] == [{"waits": 0, "capped": False}]
    assert draw.requests == 2  # think, answer
    think, answer = server.stats.bodies
    assert think["prompt"].endswith("A: <think>") and think["stop"][0] == "</think>"
    assert think["max_tokens"] == 1000
    assert answer["prompt"].endswith("</think>") and answer["max_tokens"] == 256


@pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
def test_the_cap_ends_the_thinking_and_forces_an_answer(server, run_async):
    assert thought_length(KEY, SEED, 0) > 5
    draw = run(forcing(server), SamplingParams(seed=SEED, thinking_budget=5), run_async=run_async)
    (c,) = draw.completions
    assert c.thinking_tokens == 5 and c.thinking == "maybe the answer is 15."
    assert c.text == f"The answer is {answer_value(KEY, SEED, 0)}."
    assert c.completion_tokens == 5 + 1  # the cue was forced, the model added " N."
    assert draw.extra["budget_forcing"] == [{"waits": 0, "capped": True}]
    assert server.stats.bodies[1]["prompt"].endswith("</think> The answer is")


def test_wait_extends_the_thinking_below_the_minimum(server):
    length = thought_length(KEY, SEED, 0)
    params = SamplingParams(seed=SEED, thinking_budget=1000)
    draw = run(forcing(server, min_thinking=length + 1), params)
    (c,) = draw.completions
    # The model stopped at `length`; "Wait" made it think WAIT_EXTENSION more, then it ended.
    assert c.thinking_tokens == length + WAIT_EXTENSION
    assert "Wait" in c.thinking.split()
    assert draw.extra["budget_forcing"] == [{"waits": 1, "capped": False}]
    assert draw.requests == 3
    assert server.stats.bodies[1]["prompt"].endswith(" Wait")
    # The re-sent trace is reported, not counted as the sample's prompt.
    assert draw.extra["resent_prompt_tokens"] > draw.prompt_tokens


def test_waits_are_bounded_and_the_budget_still_caps_them(server):
    length = thought_length(KEY, SEED, 0)
    no_waits = run(forcing(server, min_thinking=10_000, max_waits=0), SamplingParams(seed=SEED))
    assert no_waits.completions[0].thinking_tokens == length
    capped = run(
        forcing(server, min_thinking=10_000),
        SamplingParams(seed=SEED, thinking_budget=length + 2),
    )
    assert capped.completions[0].thinking_tokens == length + 2
    assert capped.extra["budget_forcing"] == [{"waits": 1, "capped": True}]


def test_a_graph_thinks_within_the_strategy_budget_and_counts_it(server):
    backend = forcing(server)
    graph = create_ttc_graph(
        backend, Majority(n=2, thinking_budget=4), budget=Budget(max_tokens=4000)
    )
    result = graph.invoke({"question": QUESTION})["ttc_result"]
    assert [c["thinking_tokens"] for c in result["candidates"]] == [4, 4]
    assert all(c["answer"] is not None for c in result["candidates"])
    usage = result["usage"]
    assert usage["thinking_tokens"] == 8 and usage["requests"] == 4
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= 4000
    # A base model that thinks is shown exemplars with <think> ... </think> before answers.
    assert "A: <think> 12 + 9:" in server.stats.bodies[0]["prompt"]


def test_forcing_needs_a_text_endpoint_and_a_plain_inner_backend(server):
    with pytest.raises(TTCConfigError, match="mode='completion'"):
        BudgetForcingBackend(OpenAICompatibleBackend(server.base_url, "instant"))
    thinker = OpenAICompatibleBackend(server.base_url, "instant", mode="completion", reasoning=True)
    with pytest.raises(TTCConfigError, match="reasoning=True"):
        BudgetForcingBackend(thinker)
    with pytest.raises(TTCConfigError, match=">= 0"):
        BudgetForcingBackend(FakeBackend(), min_thinking=-1)
