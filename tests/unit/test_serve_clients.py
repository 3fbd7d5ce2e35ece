"""The server under real load and real clients: LangChain's ChatOpenAI pointed at it, 100
concurrent openai clients whose replies must each match their own question with memory flat,
and clients that leave mid-request, checked at the upstream (no request keeps running)."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from serve_upstream import SlowUpstream

from langgraph_ttc.serve import create_app
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = [{"role": "user", "content": "What is 7 + 5?"}]


def summing(prompt: str, seed, index: int) -> str:
    """An upstream that answers 'What is a + b?' right (the last such question in the prompt)."""
    a, b = re.findall(r"What is (\d+) \+ (\d+)\?", prompt)[-1]
    return f"Let me add. The answer is {int(a) + int(b)}."


@pytest.fixture(scope="module")
def adder() -> Iterator[InstantServer]:
    with InstantServer(honour_n=False, reply=summing) as server:
        yield server


# -- LangChain's ChatOpenAI -----------------------------------------------------------------------
@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def chat_openai(server, model: str, **options) -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=server.base_url, api_key="unused", max_retries=0, **options
    )


def test_chat_openai_invoke_stream_and_bind_tools(serve, adder):
    server = serve(create_app(adder.base_url, api_keys=[]))
    llm = chat_openai(server, "majority@4")
    reply = llm.invoke("What is 20 + 22?")
    assert isinstance(reply, AIMessage) and reply.content == "Let me add. The answer is 42."
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0
    streamed = list(chat_openai(server, "majority@4", stream_usage=True).stream("What is 1 + 2?"))
    text = "".join(str(c.content) for c in streamed)
    assert text == "Let me add. The answer is 3."
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in streamed) > 0
    bound = llm.bind_tools([add])
    call = bound.invoke("What is 2 + 3?")
    assert call.tool_calls and call.tool_calls[0]["name"] == "add"
    plain = chat_openai(server, "instant").invoke("What is 5 + 5?")
    assert plain.content == "Let me add. The answer is 10."


async def test_chat_openai_async(serve, adder):
    server = serve(create_app(adder.base_url, api_keys=[]))
    llm = chat_openai(server, "filter_vote@4")
    reply = await llm.ainvoke("What is 8 + 8?")
    assert reply.content.endswith("16.")
    chunks = [c async for c in llm.astream("What is 9 + 9?")]
    assert "".join(str(c.content) for c in chunks).endswith("18.")


# -- load -----------------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def wave(base_url: str, start: int, size: int) -> list[tuple[int, str]]:
    async with openai.AsyncOpenAI(
        base_url=base_url,
        api_key="x",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=size), timeout=120
        ),
    ) as aclient:

        async def one(i: int, streamed: bool) -> tuple[int, str]:
            question = [{"role": "user", "content": f"What is {i} + {i + 1}?"}]
            if streamed:
                stream = await aclient.chat.completions.create(
                    model="majority@4", messages=question, stream=True
                )
                text = "".join(
                    [c.choices[0].delta.content or "" async for c in stream if c.choices]
                )
            else:
                reply = await aclient.chat.completions.create(model="majority@4", messages=question)
                text = reply.choices[0].message.content
            return i, text

        return await asyncio.gather(*(one(i, i % 2 == 0) for i in range(start, start + size)))


def test_100_concurrent_clients_each_get_their_answer_and_memory_stays_flat(serve, adder):
    server = serve(create_app(adder.base_url, api_keys=[]))
    sizes = []
    for round_ in range(5):
        replies = asyncio.run(wave(server.base_url, round_ * 1000, 100))
        assert len(replies) == 100
        for i, text in replies:
            assert text == f"Let me add. The answer is {2 * i + 1}.", (i, text)
        # The upstream runs in this process and records every body it saw: not ours to count.
        adder.stats.bodies.clear()
        adder.stats.auth_headers.clear()
        adder.stats.faults.clear()
        gc.collect()
        sizes.append(rss_mb())
    # The first wave warms caches and pools; 300 more requests must not grow the process
    # (measured: within 0.2 MB; a leak of 10 KB per request would be 3 MB).
    assert sizes[4] - sizes[1] < 3, sizes


# -- clients that leave ---------------------------------------------------------------------------
def test_client_leaving_a_plain_stream_stops_the_upstream_stream(serve):
    with SlowUpstream(token_delay_s=0.05, tokens=400) as slow:
        server = serve(create_app(slow.base_url, api_keys=[]))
        stream = openai.OpenAI(
            base_url=server.base_url, api_key="x", max_retries=0
        ).chat.completions.create(model="slow", messages=QUESTION, stream=True)
        for count, _ in enumerate(stream):
            if count == 3:
                break
        assert slow.in_flight == 1
        stream.close()
        assert slow.wait_idle() == 0
        assert slow.abandoned == 1 and slow.finished == 0


def test_client_leaving_a_method_stream_cancels_every_upstream_request(serve):
    with SlowUpstream(delay_s=30) as slow:
        server = serve(create_app(slow.base_url, api_keys=[]))
        stream = openai.OpenAI(
            base_url=server.base_url, api_key="x", max_retries=0
        ).chat.completions.create(model="majority@6/slow", messages=QUESTION, stream=True)
        first = next(iter(stream))
        assert first.choices[0].delta.role == "assistant"
        deadline = time.monotonic() + 10
        while slow.in_flight < 1 and time.monotonic() < deadline:  # the draw's n=6 request
            time.sleep(0.02)
        assert slow.in_flight == 1
        stream.close()
        assert slow.wait_idle() == 0  # long before the 30 s answers
        started = slow.started
        time.sleep(0.5)
        assert slow.started == started and slow.finished == 0  # and no new call: budget stopped


def test_client_timing_out_on_a_whole_reply_cancels_the_upstream(serve):
    with SlowUpstream(delay_s=30) as slow:
        server = serve(create_app(slow.base_url, api_keys=[]))
        impatient = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=1.0)
        with pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(model="majority@4/slow", messages=QUESTION)
        assert slow.wait_idle() == 0
        assert slow.finished == 0 and slow.abandoned >= 1
        with pytest.raises(openai.APITimeoutError):
            impatient.chat.completions.create(model="slow", messages=QUESTION)  # pass-through
        assert slow.wait_idle() == 0 and slow.finished == 0


# -- batches ---------------------------------------------------------------------------------------
def test_the_openai_sdk_sends_a_batch_and_gets_a_choice_per_prompt(serve, adder):
    server = serve(create_app(adder.base_url, api_keys=[]))
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    before = adder.stats.requests
    prompts = [f"What is {a} + {a}?" for a in range(1, 6)]
    reply = client.completions.create(
        model="majority/instant", prompt=prompts, extra_body={"ttc": {"batch_budget": 2}}
    )
    assert [c.index for c in reply.choices] == list(range(5))
    assert [c.text.rsplit(" ", 1)[-1] for c in reply.choices] == [f"{2 * a}." for a in range(1, 6)]
    ttc = reply.model_extra["ttc"]
    assert (
        ttc["calls"] == adder.stats.requests - before == sum(c["samples"] for c in ttc["choices"])
    )
    assert ttc["calls"] == 10 and reply.usage.prompt_tokens > 0


def test_client_leaving_a_batch_cancels_the_upstream(serve):
    with SlowUpstream(delay_s=30) as slow:
        server = serve(create_app(slow.base_url, api_keys=[]))
        impatient = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=1.0)
        with pytest.raises(openai.APITimeoutError):
            impatient.completions.create(
                model="majority/slow",
                prompt=["1+1?", "2+2?"],
                extra_body={"ttc": {"batch_budget": 2}},
            )
        assert slow.wait_idle() == 0
        assert slow.finished == 0 and slow.abandoned >= 1


def test_a_plain_list_prompt_is_one_upstream_request_per_prompt(serve, adder):
    """llama-cpp-python's server takes one prompt per request: each prompt is sent alone (with
    its n choices, topped up where the upstream ignores n) and the replies merged in order."""
    server = serve(create_app(adder.base_url, api_keys=[]))
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    before = adder.stats.requests
    prompts = ["What is 1 + 1?", "What is 2 + 3?"]
    reply = client.completions.create(model="instant", prompt=prompts, n=2)
    assert adder.stats.requests - before == 4
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    assert [c.text.rsplit(" ", 1)[-1] for c in reply.choices] == ["2.", "2.", "5.", "5."]
    assert reply.usage.prompt_tokens > 0
    chunks = list(client.completions.create(model="instant", prompt=prompts, stream=True))
    assert [c.choices[0].text.rsplit(" ", 1)[-1] for c in chunks if c.choices[0].text] == [
        "2.",
        "5.",
    ]
