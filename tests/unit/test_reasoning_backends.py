"""Every backend reads a reasoning model's reply against the instant server's reasoning mode,
whose shapes follow the servers' documentation (non-streamed):

* vLLM with ``--reasoning-parser`` ("Reasoning Outputs", docs.vllm.ai/en/latest/features/
  reasoning_outputs.html): ``choices[].message.reasoning`` holds the thinking and
  ``message.content`` the answer, ``content`` is null when the output ended inside the thinking;
  ``reasoning`` was ``reasoning_content`` before vLLM PR #27752 (Nov 2025; the old name was
  removed by PR #33402) and still is in llama.cpp's server (``--reasoning-format deepseek``).
  ``thinking_token_budget`` is a request field (vLLM >= 0.20, PR #20859).
* vLLM without a parser, and every ``/v1/completions`` reply: the text holds
  ``<think> ... </think>``.
* OpenAI reasoning models (API reference, "The chat completion object"): no visible thinking,
  ``usage.completion_tokens_details.reasoning_tokens``; ``content`` is ``""`` with
  ``finish_reason: "length"`` when ``max_completion_tokens`` ran out while thinking; requests
  carry ``max_completion_tokens`` and ``reasoning_effort``.
* LangChain chat models: langchain-core standard content blocks ``{"type": "reasoning",
  "reasoning": ...}`` (``AIMessage.content_blocks``), ``additional_kwargs["reasoning_content"]``,
  and ``usage_metadata["output_token_details"]["reasoning"]``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import ChatModelBackend, OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.backends.base import DEFAULT_THINKING_TOKENS
from langgraph_ttc.backends.thinking import estimate_thinking_tokens
from langgraph_ttc.testing._instant_reasoning import answer_value, raw_reply, split_raw
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = "What is 2+2?"
SEED = 7


def draw(backend, params: SamplingParams, n: int = 1, *, run_async: bool = False):
    messages = [("human", QUESTION)]
    if run_async:
        return asyncio.run(backend.asample(messages, n, params))
    return backend.sample(messages, n, params)


def expected(raw: str) -> tuple[str | None, str, int]:
    thinking, answer = split_raw(raw)
    return thinking, answer, len(raw.split())


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def run_async(request) -> bool:
    return request.param


# -- vLLM ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["vllm", "vllm-legacy", "vllm-raw"])
def test_vllm_thinking_is_apart_from_the_answer(mode, run_async):
    with InstantServer(reasoning=mode) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=True)
        (c,) = draw(backend, SamplingParams(seed=SEED), run_async=run_async).completions
        body = server.stats.bodies[0]
    thinking, answer, tokens = expected(raw_reply(QUESTION, SEED, 0, chat=True))
    assert c.text == answer == f"The answer is {answer_value(QUESTION, SEED, 0)}."
    assert c.thinking == thinking and thinking.startswith("maybe the answer is")  # the decoy
    assert c.completion_tokens == tokens
    # vLLM counts no reasoning tokens: estimated by characters.
    assert c.thinking_tokens == estimate_thinking_tokens(tokens, thinking, answer) > 0
    assert not c.truncated_in_thinking
    # A reasoning backend leaves room to think on top of the answer's max_tokens.
    assert body["max_tokens"] == 256 + DEFAULT_THINKING_TOKENS


def test_a_sample_cut_off_inside_its_thinking_is_marked_and_the_backend_learns(caplog):
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant")  # not told it reasons
        with caplog.at_level(logging.WARNING):
            (c,) = draw(backend, SamplingParams(seed=SEED, max_tokens=4)).completions
        assert server.stats.bodies[0]["max_tokens"] == 4
        # "<think> maybe the answer" is all 4 tokens allow: content null, finish "length".
        assert (c.text, c.thinking, c.finish_reason) == ("", "maybe the answer", "length")
        assert c.truncated_in_thinking and c.thinking_tokens == 4
        assert backend.reasoning  # learned from the reply
        assert "serves a reasoning model" in caplog.text
        draw(backend, SamplingParams(seed=SEED, max_tokens=4))
        assert server.stats.bodies[1]["max_tokens"] == 4 + DEFAULT_THINKING_TOKENS


def test_vllm_takes_the_thinking_budget_as_thinking_token_budget(run_async):
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", thinking_control="vllm")
        params = SamplingParams(seed=SEED, thinking_budget=3)
        (c,) = draw(backend, params, run_async=run_async).completions
        body = server.stats.bodies[0]
    assert body["thinking_token_budget"] == 3
    assert body["max_tokens"] == 256 + 3  # the budget is also a hard cap on the total
    # The server forced the end of the thinking at 3 tokens; the model then answered.
    assert c.thinking == "maybe the answer" and c.text.startswith("The answer is")


def test_a_completion_endpoint_returns_the_raw_trace():
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", mode="completion")
        (c,) = draw(backend, SamplingParams(seed=SEED)).completions
        prompt = server.stats.bodies[0]["prompt"]
    thinking, answer, tokens = expected(raw_reply(prompt, SEED, 0, chat=False))
    assert (c.text, c.thinking, c.completion_tokens) == (answer, thinking, tokens)


def test_an_unknown_server_is_told_once_that_the_budget_only_caps_the_total(caplog):
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant")
        params = SamplingParams(seed=SEED, thinking_budget=100)
        with caplog.at_level(logging.WARNING):
            draw(backend, params)
            draw(backend, params)
        bodies = server.stats.bodies
    warned = [r for r in caplog.records if "cannot pass a thinking budget" in r.getMessage()]
    assert len(warned) == 1 and server.base_url in warned[0].getMessage()
    assert "thinking_token_budget" not in bodies[0].get("extra_body", bodies[0])
    assert [b["max_tokens"] for b in bodies] == [356, 356]


# -- OpenAI reasoning models -------------------------------------------------------------------


def test_openai_hides_the_thinking_and_counts_it(run_async):
    with InstantServer(reasoning="openai") as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "o4-mini", reasoning=True, thinking_control="openai"
        )
        params = SamplingParams(seed=SEED, thinking_budget=8192)
        (c,) = draw(backend, params, run_async=run_async).completions
        body = server.stats.bodies[0]
    assert body["reasoning_effort"] == "high"  # 8192 > 4096
    assert body["max_completion_tokens"] == 256 + 8192
    assert not {"max_tokens", "temperature", "top_p"} & body.keys()  # refused by o-series
    raw = raw_reply(QUESTION, SEED, 0, chat=True, effort="high")
    _, answer, tokens = expected(raw)
    assert (c.text, c.thinking, c.completion_tokens) == (answer, None, tokens)
    assert c.thinking_tokens == tokens - len(answer.split())  # the reported reasoning_tokens


def test_openai_reasoning_tokens_are_shared_by_the_choices_of_one_request():
    with InstantServer(reasoning="openai") as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "o4-mini", reasoning=True, thinking_control="openai"
        )
        result = draw(backend, SamplingParams(seed=SEED), n=3)
    raws = [raw_reply(QUESTION, SEED, i, chat=True, effort="medium") for i in range(3)]
    hidden = sum(len(r.split()) - len(split_raw(r)[1].split()) for r in raws)
    assert result.requests == 1 and result.thinking_tokens == hidden
    assert all(c.thinking is None and c.thinking_tokens > 0 for c in result.completions)


def test_openai_cut_off_while_thinking_is_marked():
    with InstantServer(reasoning="openai") as server:
        backend = OpenAICompatibleBackend(server.base_url, "o4-mini", thinking_control="openai")
        (c,) = draw(backend, SamplingParams(seed=SEED, max_tokens=3)).completions
    assert (c.text, c.finish_reason, c.thinking_tokens) == ("", "length", 3)
    assert c.truncated_in_thinking


# -- LangChain chat models ----------------------------------------------------------------------


class ReasoningChat(BaseChatModel):
    """A chat model that thinks: reasoning content blocks and reasoning tokens in usage."""

    max_tokens: int | None = None
    reasoning_effort: str | None = None
    seen: list = []
    cut_off: bool = False

    @property
    def _llm_type(self) -> str:
        return "reasoning-fake"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        type(self).seen.append(kwargs)
        blocks: list[dict] = [{"type": "reasoning", "reasoning": "maybe 5; no, 2 + 2 = 4"}]
        if not self.cut_off:
            blocks.append({"type": "text", "text": "The answer is 4."})
        message = AIMessage(
            content=blocks,
            usage_metadata={
                "input_tokens": 5,
                "output_tokens": 30,
                "total_tokens": 35,
                "output_token_details": {"reasoning": 22},
            },
            response_metadata={"finish_reason": "length" if self.cut_off else "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_chat_models_reasoning_blocks_are_the_thinking_and_the_knob_is_bound(run_async):
    ReasoningChat.seen = []
    backend = ChatModelBackend(ReasoningChat(), reasoning=True)
    params = SamplingParams(seed=SEED, thinking_budget=1000)
    (c,) = draw(backend, params, run_async=run_async).completions
    assert (c.text, c.thinking) == ("The answer is 4.", "maybe 5; no, 2 + 2 = 4")
    assert (c.completion_tokens, c.thinking_tokens) == (30, 22)
    assert ReasoningChat.seen[0]["max_tokens"] == 256 + 1000
    assert ReasoningChat.seen[0]["reasoning_effort"] == "low"  # 1000 <= 1448


def test_chat_model_cut_off_inside_its_thinking():
    (c,) = draw(ChatModelBackend(ReasoningChat(cut_off=True)), SamplingParams()).completions
    assert c.text == "" and c.truncated_in_thinking and c.finish_reason == "length"


def test_chat_model_reasoning_content_and_raw_tags_are_read_too():
    kwargs_reply = AIMessage("The answer is 4.", additional_kwargs={"reasoning_content": "2+2"})
    model = GenericFakeChatModel(messages=iter([kwargs_reply]))
    backend = ChatModelBackend(model)
    (c,) = draw(backend, SamplingParams()).completions
    assert (c.text, c.thinking) == ("The answer is 4.", "2+2")
    assert backend.reasoning  # learned from the first reply that carried thinking
    # No usage reported: the upper bound is the UTF-8 bytes of thinking and answer (3 + 16).
    assert (c.completion_tokens, c.thinking_tokens) == (19, 3)
    raw = GenericFakeChatModel(messages=iter(["<think> 2 and 2 </think> The answer is 4."]))
    (c,) = draw(ChatModelBackend(raw), SamplingParams()).completions
    assert (c.text, c.thinking) == ("The answer is 4.", "2 and 2")


def test_a_chat_model_without_a_thinking_field_is_told_once(caplog):
    backend = ChatModelBackend(GenericFakeChatModel(messages=iter(["4", "4"])), model_id="fake-x")
    with caplog.at_level(logging.WARNING):
        draw(backend, SamplingParams(thinking_budget=64), n=2)
    warned = [r.getMessage() for r in caplog.records if "thinking-budget field" in r.getMessage()]
    assert len(warned) == 1 and "fake-x" in warned[0] and "BudgetForcingBackend" in warned[0]


# -- through a graph -----------------------------------------------------------------------------


def test_a_graph_votes_on_answers_and_reports_the_thinking():
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=True)
        result = create_ttc_graph(backend, "majority", n=3).invoke({"question": QUESTION})[
            "ttc_result"
        ]
    candidates = result["candidates"]
    assert all(c["text"].startswith("The answer is") for c in candidates)
    assert all("<think>" not in c["text"] and c["thinking_tokens"] > 0 for c in candidates)
    assert all(c["thinking"] is None for c in candidates)  # the text only when asked
    assert result["truncated_in_thinking"] == 0
    usage = result["usage"]
    assert usage["thinking_tokens"] == sum(c["thinking_tokens"] for c in candidates)
    assert usage["answer_tokens"] == usage["completion_tokens"] - usage["thinking_tokens"]


def test_answers_come_from_the_answer_not_the_thinking():
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=True)
        graph = create_ttc_graph(backend, "majority", n=3, keep_thinking=True)
        candidates = graph.invoke({"question": QUESTION})["ttc_result"]["candidates"]
    for c in candidates:
        value = int(c["text"].removeprefix("The answer is ").rstrip("."))
        # Each thought opens with a decoy answer, value + 1: never the extracted one.
        assert c["thinking"].startswith(f"maybe the answer is {(value + 1) % 100}.")
        assert c["answer"] == str(value)


def test_samples_cut_off_in_their_thinking_are_no_answer_for_that_reason():
    from langgraph_ttc.strategies import Majority

    with InstantServer(reasoning="vllm") as server:
        # Told it does not reason: 5 tokens in all, and every thought is longer.
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=False)
        result = create_ttc_graph(backend, Majority(n=2, max_tokens=5)).invoke(
            {"question": QUESTION}
        )["ttc_result"]
    assert result["answer"] is None and result["truncated_in_thinking"] == 2
    assert all(c["truncated_in_thinking"] and c["answer"] is None for c in result["candidates"])
    assert "cut off inside their thinking" in result["no_answer"]
