"""`langgraph-ttc serve` over the embedded default (Gemma 3 270M in the server's process) and
over a real llama.cpp server, called with the openai SDK and ChatOpenAI. The model is weak:
these tests check the protocol and the accounting (calls, usage summed, choices, streams), not
its answers."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from langchain_openai import ChatOpenAI

from langgraph_ttc.serve import create_app
from langgraph_ttc.serve.background import BackgroundServer

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture(scope="module")
def embedded() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app("local", api_keys=[])) as server:
        yield server


def test_embedded_default_method_reply_and_stream(embedded):
    client = openai.OpenAI(base_url=embedded.base_url, api_key="x", max_retries=0, timeout=300)
    reply = client.chat.completions.create(
        model="majority@3", messages=QUESTION, max_tokens=24, seed=1
    )
    ttc = reply.model_extra["ttc"]
    assert ttc["calls"] == 3 and ttc["samples"] == 3 and ttc["failed"] == 0
    generate = ttc["by_purpose"]["generate"]
    assert reply.usage.prompt_tokens == generate["prompt_tokens"] > 0
    assert reply.usage.completion_tokens == generate["completion_tokens"] > 0
    assert reply.choices[0].message.content
    chunks = list(
        client.chat.completions.create(
            model="majority@2",
            messages=QUESTION,
            max_tokens=24,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.completion_tokens > 0 and chunks[-1].model_extra["ttc"]["calls"] == 2
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_embedded_plain_call_and_n(embedded):
    client = openai.OpenAI(base_url=embedded.base_url, api_key="x", max_retries=0, timeout=300)
    (model,) = [m.id for m in client.models.list().data if "/" not in m.id]
    plain = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=16, n=2)
    assert len(plain.choices) == 2 and plain.usage.completion_tokens > 0
    assert "ttc" not in (plain.model_extra or {})
    two = client.chat.completions.create(model="majority@2", messages=QUESTION, max_tokens=16, n=2)
    assert len(two.choices) == 2 and two.model_extra["ttc"]["calls"] == 4


def test_chat_openai_against_the_embedded_server(embedded):
    llm = ChatOpenAI(
        model="majority@2", base_url=embedded.base_url, api_key="x", max_tokens=16, timeout=300
    )
    reply = llm.invoke("What is 1 + 1?")
    assert reply.content and reply.usage_metadata["output_tokens"] > 0
    assert "".join(str(c.content) for c in llm.stream("What is 3 + 3?"))


def test_over_a_real_llama_cpp_server(llama_server):
    """A URL upstream: the method's samples go to llama.cpp (which ignores n), a plain name is
    relayed as one streamed call."""
    with BackgroundServer(create_app(llama_server.base_url, api_keys=[])) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model=f"majority@3/{llama_server.model}", messages=QUESTION, max_tokens=16
        )
        ttc = reply.model_extra["ttc"]
        assert ttc["calls"] == 3 and ttc["samples"] == 3
        assert reply.usage.completion_tokens == ttc["by_purpose"]["generate"]["completion_tokens"]
        # A plain name is relayed chunk for chunk: the same greedy stream as asked directly.
        options = {"messages": QUESTION, "max_tokens": 16, "temperature": 0, "seed": 3}
        direct = openai.OpenAI(base_url=llama_server.base_url, api_key="x", timeout=300)
        asked = list(
            direct.chat.completions.create(model=llama_server.model, stream=True, **options)
        )
        relayed = list(
            client.chat.completions.create(model=llama_server.model, stream=True, **options)
        )
        assert len(relayed) == len(asked) >= 2
        text = lambda chunks: "".join(  # noqa: E731
            c.choices[0].delta.content or "" for c in chunks if c.choices
        )
        assert text(relayed) == text(asked)
