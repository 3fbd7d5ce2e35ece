"""Streamed replies of reasoning models keep the thinking apart, as whole replies do.

Shapes (the instant server's streamed reasoning mode, ``langgraph_ttc.testing._instant_reasoning``):

* vLLM with ``--reasoning-parser`` ("Reasoning Outputs", docs.vllm.ai/en/latest/features/
  reasoning_outputs.html, section "Streaming chat completions"): the thinking arrives in
  ``choices[].delta.reasoning`` (``delta.reasoning_content`` before vLLM PR #27752, and in
  llama.cpp's server), the answer in ``delta.content``; the ``<think>``/``</think>`` tokens send
  no chunk (vLLM's ``serving_chat.py`` skips a token whose delta message is ``None``).
* vLLM without a parser: ``<think> ... </think>`` in ``delta.content``.
* OpenAI reasoning models (API reference, "The chat completion chunk object"): only the answer is
  streamed; ``usage`` (with ``completion_tokens_details.reasoning_tokens``) is in the last chunk
  when ``stream_options.include_usage`` is set.

A stream its watch stops mid-thought is "stopped", never ``truncated_in_thinking``; a stream
cancelled by ``until`` is not returned, and its thinking tokens are still counted.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.backends.base import Completion, Draw
from langgraph_ttc.backends.openai_stream import sse_data
from langgraph_ttc.backends.thinking import with_thinking
from langgraph_ttc.budget import Meter
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = "What is 2+2?"
MODES = ["vllm", "vllm-legacy", "vllm-raw", "openai"]
NEVER = lambda done: False  # noqa: E731 - streams every sample, cancels none


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def run_async(request) -> bool:
    return request.param


def draw(backend, params: SamplingParams, n: int = 1, *, run_async: bool = False, **watch):
    messages = [("human", QUESTION)]
    if run_async:
        return asyncio.run(backend.asample(messages, n, params, **watch))
    return backend.sample(messages, n, params, **watch)


def stop_after(tokens: int):
    """A trace watch that stops every trace at its ``tokens``-th watched token."""

    def make():
        seen = []

        def watch(logprob, top):
            seen.append(logprob)
            return len(seen) >= tokens

        return watch

    return make


def wire(server: InstantServer, mode_body: dict) -> list[dict]:
    body = {"model": "m", "seed": 7, "stream": True, "stream_options": {"include_usage": True}}
    request = urllib.request.Request(
        server.base_url + "/chat/completions", json.dumps({**body, **mode_body}).encode()
    )
    with urllib.request.urlopen(request) as reply:
        return [c for c in (sse_data(line.strip()) for line in reply) if c is not None]


@pytest.mark.parametrize(
    ("mode", "fields"),
    [
        ("vllm", {"reasoning", "content"}),
        ("vllm-legacy", {"reasoning_content", "content"}),
        ("vllm-raw", {"content"}),
        ("openai", {"content"}),
    ],
)
def test_the_server_streams_each_mode_as_documented(mode, fields):
    with InstantServer(reasoning=mode) as server:
        chunks = wire(server, {"messages": [{"role": "user", "content": QUESTION}]})
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert set().union(*deltas) == fields
    usage = chunks[-1]["usage"]
    details = usage.get("completion_tokens_details")
    if mode == "openai":  # the hidden thinking is only counted
        answer_words = sum(len(d.get("content", "").split()) for d in deltas)
        assert details["reasoning_tokens"] == usage["completion_tokens"] - answer_words > 0
    else:
        assert details is None  # vLLM counts no reasoning tokens here
    if mode == "vllm-raw":
        assert "<think>" in "".join(d.get("content", "") for d in deltas)
    else:  # no tag reaches the client
        assert "<think>" not in json.dumps(deltas)


@pytest.mark.parametrize("mode", MODES)
def test_a_streamed_reply_equals_the_whole_one(mode, run_async):
    """Streamed (as DeepConf online and Bayesian stops stream) and whole replies give the same
    answer, thinking and token counts; the thinking's tokens are exact when streamed."""
    with InstantServer(reasoning=mode) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=True)
        params = SamplingParams(seed=7)
        (whole,) = draw(backend, params, run_async=run_async).completions
        (streamed,) = draw(backend, params, run_async=run_async, until=NEVER).completions
        assert server.stats.bodies[-1]["stream"] is True
    assert streamed.text == whole.text and streamed.text.startswith("The answer is")
    assert streamed.thinking == whole.thinking
    assert streamed.completion_tokens == whole.completion_tokens
    # Every token before the answer was thinking (the think tags included).
    assert streamed.thinking_tokens == whole.completion_tokens - len(whole.text.split())
    assert not streamed.truncated_in_thinking and streamed.finish_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_cut_by_max_tokens_inside_its_thinking_is_truncated(mode, run_async):
    with InstantServer(reasoning=mode) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=False)
        params = SamplingParams(seed=7, max_tokens=4)
        (c,) = draw(backend, params, run_async=run_async, until=NEVER).completions
    assert (c.text, c.finish_reason, c.completion_tokens) == ("", "length", 4)
    assert c.truncated_in_thinking and c.thinking_tokens == 4
    assert c.thinking == (None if mode == "openai" else "maybe the answer")


@pytest.mark.parametrize("mode", ["vllm", "vllm-legacy", "vllm-raw"])
def test_a_trace_its_watch_stops_mid_thought_is_stopped_not_truncated(mode, run_async):
    with InstantServer(reasoning=mode) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", reasoning=True)
        params = SamplingParams(seed=7, top_logprobs=2)
        (c,) = draw(backend, params, run_async=run_async, stop_trace=stop_after(3)).completions
    # With a parser the tag sends no log-probability: the third watched token is "answer".
    thought = "maybe the" if mode == "vllm-raw" else "maybe the answer"
    assert (c.finish_reason, c.text, c.thinking) == ("stopped", "", thought)
    assert not c.truncated_in_thinking
    assert c.completion_tokens == c.thinking_tokens == 3


def test_an_openai_trace_stopped_in_its_answer_keeps_what_it_said(run_async):
    """OpenAI streams log-probabilities of the answer only: a watch can stop the answer, and
    the hidden thinking of a stream cut before its usage chunk is not known."""
    with InstantServer(reasoning="openai") as server:
        backend = OpenAICompatibleBackend(server.base_url, "o4-mini", thinking_control="openai")
        params = SamplingParams(seed=7, top_logprobs=2)
        (c,) = draw(backend, params, run_async=run_async, stop_trace=stop_after(3)).completions
    assert (c.finish_reason, c.text, c.thinking_tokens) == ("stopped", "The answer is", 0)
    assert not c.truncated_in_thinking


def test_streams_cancelled_mid_thought_still_count_their_thinking(run_async):
    """One stream at a time, cancelled once the first is done: the next was cut within its
    first tokens, all of them thinking; the usage counts them as thinking, by purpose."""
    with InstantServer(reasoning="vllm", token_delay_s=0.01) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "instant", reasoning=True, max_concurrency=1
        )
        meter = Meter()
        call = meter.asample if run_async else meter.sample
        result = call(
            backend, [("human", QUESTION)], 3, "generate", SamplingParams(seed=7),
            until=lambda done: len(done) >= 1,
        )  # fmt: skip
        result = asyncio.run(result) if run_async else result
    assert len(result.completions) == 1 and result.extra.get("cancelled", 0) >= 1
    (kept,) = result.completions
    cancelled_tokens = result.completion_tokens - kept.completion_tokens
    assert result.cancelled_thinking_tokens == cancelled_tokens  # cut before any answer
    assert result.thinking_tokens == kept.thinking_tokens + cancelled_tokens
    counters = meter.usage.by_purpose["generate"]
    assert counters.thinking_tokens == result.thinking_tokens
    assert counters.answer_tokens == len(kept.text.split())


def test_a_completion_endpoint_streams_the_raw_trace(run_async):
    with InstantServer(reasoning="vllm") as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", mode="completion")
        params = SamplingParams(seed=7)
        (whole,) = draw(backend, params, run_async=run_async).completions
        (streamed,) = draw(backend, params, run_async=run_async, until=NEVER).completions
    assert (streamed.text, streamed.thinking) == (whole.text, whole.thinking)
    assert streamed.thinking_tokens == whole.completion_tokens - len(whole.text.split())


def test_raw_text_stopped_by_a_watch_is_not_truncated():
    """Any backend's raw ``<think>`` text: a trace stopped mid-thought (by the Meter's split)
    is stopped, one cut by max_tokens is truncated."""
    stopped = with_thinking(
        Completion("<think> 2 and", finish_reason="stopped", completion_tokens=3)
    )
    cut = with_thinking(Completion("<think> 2 and", finish_reason="length", completion_tokens=3))
    assert (stopped.thinking, stopped.truncated_in_thinking) == ("2 and", False)
    assert (cut.thinking, cut.truncated_in_thinking) == ("2 and", True)
    backend = FakeBackend(
        reply=lambda m, seed: "<think> 2 and 2 make 4 </think> The answer is 4.",
        confidence=lambda m, seed, text: 0.5,
    )
    meter = Meter()
    (c,) = meter.sample(
        backend, [("human", QUESTION)], 1, params=SamplingParams(top_logprobs=2),
        stop_trace=stop_after(3),
    ).completions  # fmt: skip
    assert (c.finish_reason, c.thinking, c.truncated_in_thinking) == ("stopped", "2 and", False)
    assert meter.usage.total().thinking_tokens == 3


def test_a_draws_thinking_includes_cancelled_samples():
    draw_ = Draw(
        (Completion("4", completion_tokens=5, thinking_tokens=3),),
        completion_tokens=9,
        cancelled_thinking_tokens=4,
    )
    assert draw_.thinking_tokens == 7
