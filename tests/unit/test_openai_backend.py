"""OpenAICompatibleBackend against the in-process InstantServer (real HTTP, no model)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langgraph_ttc.backends import (
    ChatModelBackend,
    OpenAICompatibleBackend,
    SamplingParams,
    resolve_backend,
)
from langgraph_ttc.backends.openai_compat import retry_after_seconds
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript
from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = [("human", "What is 2+3?")]
SECRET = "sk-test-SECRET-4242"


@pytest.fixture
def llama_like():
    """A server that ignores n, like llama.cpp."""
    with InstantServer(honour_n=False) as server:
        yield server


def make(server: InstantServer, **kwargs) -> OpenAICompatibleBackend:
    kwargs.setdefault("api_key", SECRET)
    backend = OpenAICompatibleBackend(server.base_url, server.model, **kwargs)
    backend.backoff_s = 0.01  # keep retry tests fast
    return backend


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- n and top-up ---------------------------------------------------------------------------


async def test_n_honoured_is_one_request(instant_server):
    backend = make(instant_server)
    draw = await backend.asample(QUESTION, 5, SamplingParams(seed=10, max_tokens=50))
    assert len(draw.completions) == 5 and all(c.ok for c in draw.completions)
    assert draw.requests == 1 == instant_server.stats.requests
    body = instant_server.stats.bodies[0]
    assert body["n"] == 5 and body["seed"] == 10
    assert backend.honours_n is True and draw.extra["honours_n"] is True  # learned
    assert draw.prompt_tokens == draw.completions[0].prompt_tokens > 0  # counted once
    assert draw.completion_tokens == sum(c.completion_tokens for c in draw.completions) > 0
    assert [c.seed for c in draw.completions] == [10, 11, 12, 13, 14]


async def test_n_ignored_is_topped_up_then_remembered(llama_like):
    backend = make(llama_like)
    assert backend.honours_n is True  # optimistic until the server shows otherwise
    draw = await backend.asample(QUESTION, 6, SamplingParams(seed=100))
    assert len(draw.completions) == 6 and all(c.ok for c in draw.completions)
    assert draw.requests == 6 == llama_like.stats.requests
    bodies = llama_like.stats.bodies
    assert bodies[0]["n"] == 6 and all("n" not in b for b in bodies[1:])
    assert sorted(b["seed"] for b in bodies) == list(range(100, 106))
    assert backend.honours_n is False
    assert draw.prompt_tokens == 6 * draw.completions[0].prompt_tokens

    await backend.asample(QUESTION, 3, SamplingParams(seed=7))
    later = llama_like.stats.bodies[6:]
    assert len(later) == 3 and all("n" not in b for b in later)  # straight to single requests


async def test_server_capping_n_is_asked_again():
    with InstantServer(max_n=3) as server:
        draw = await make(server).asample(QUESTION, 7, SamplingParams(seed=0))
    assert len(draw.completions) == 7 and draw.requests == 3
    ns = [b.get("n", 1) for b in server.stats.bodies]
    assert ns == [7, 4, 1]
    assert [b["seed"] for b in server.stats.bodies] == [0, 3, 6]


async def test_seeded_samples_are_distinct_and_reproducible(llama_like):
    backend = make(llama_like)
    params = SamplingParams(seed=5)
    first = await backend.asample(QUESTION, 4, params)
    again = await backend.asample(QUESTION, 4, params)
    seeds = [c.seed for c in first.completions]
    assert len(set(seeds)) == 4
    assert len({c.text for c in first.completions}) > 1
    assert [c.text for c in first.completions] == [c.text for c in again.completions]


async def test_concurrency_is_bounded():
    with InstantServer(honour_n=False, delay_s=0.05) as server:
        draw = await make(server, max_concurrency=2, honours_n=False).asample(
            QUESTION, 8, SamplingParams()
        )
    assert len(draw.completions) == 8
    assert server.stats.max_in_flight == 2


async def test_meter_budget_and_usage(llama_like):
    meter = Meter(Budget(max_calls=3))
    draw = await meter.asample(make(llama_like), QUESTION, 8, params=SamplingParams(seed=1))
    total = meter.usage.total()
    assert len(draw.completions) == 3 and total.calls == 3 and total.requests == 3
    assert total.prompt_tokens > 0 and total.completion_tokens > 0


def test_sync_sample_works_across_event_loops(instant_server):
    backend = make(instant_server)
    for _ in range(3):  # each call runs in a fresh loop; clients must not leak across loops
        assert len(backend.sample(QUESTION, 2, SamplingParams()).completions) == 2
    assert asyncio.run(backend.asample(QUESTION, 1, SamplingParams())).completions[0].ok


# -- retries and failures -------------------------------------------------------------------


async def test_retries_on_429_and_500_are_counted(instant_server):
    instant_server.inject("429", times=2, retry_after=0.01)
    instant_server.inject("500")
    draw = await make(instant_server).asample(QUESTION, 2, SamplingParams())
    assert all(c.ok for c in draw.completions) and len(draw.completions) == 2
    assert draw.requests == 4 == instant_server.stats.requests


@pytest.mark.parametrize("fault", ["503", "drop", "malformed", "empty"])
async def test_transient_faults_are_retried(instant_server, fault):
    instant_server.inject(fault)
    draw = await make(instant_server).asample(QUESTION, 1, SamplingParams())
    assert draw.completions[0].ok and draw.requests == 2


async def test_hang_times_out_and_is_retried(instant_server):
    instant_server.inject("hang", hang_s=60)
    started = time.monotonic()
    # A timeout generous enough for the retry on a busy machine, far below the hang.
    draw = await make(instant_server, timeout_s=1.5).asample(QUESTION, 1, SamplingParams())
    assert draw.completions[0].ok and draw.requests == 2
    assert time.monotonic() - started < 30


async def test_retry_after_is_honoured(instant_server):
    backend = make(instant_server)
    backend.backoff_s = 5.0  # without the hint the wait would be seconds
    instant_server.inject("429", retry_after=0.3)
    started = time.monotonic()
    draw = await backend.asample(QUESTION, 1, SamplingParams())
    elapsed = time.monotonic() - started
    # Below the 5 s the backoff alone would wait, with room for a busy machine.
    assert draw.completions[0].ok and 0.3 <= elapsed < 4.5
    instant_server.inject("429", retry_after_ms=200)
    started = time.monotonic()
    assert (await backend.asample(QUESTION, 1, SamplingParams())).completions[0].ok
    assert 0.2 <= time.monotonic() - started < 4.5


def test_retry_after_parsing():
    assert retry_after_seconds({"Retry-After": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after-ms": "20", "retry-after": "9"}) == 0.02
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_non_retryable_400_fails_samples_at_once(instant_server):
    instant_server.inject("400")
    draw = await make(instant_server).asample(QUESTION, 3, SamplingParams(seed=1))
    assert len(draw.completions) == 3 and draw.requests == 1
    assert all(not c.ok and "HTTP 400" in c.error for c in draw.completions)
    assert [c.seed for c in draw.completions] == [1, 2, 3]
    assert draw.extra["failed_requests"] == 1


async def test_retries_are_bounded_by_attempts(instant_server):
    instant_server.inject("500", times=10)
    draw = await make(instant_server, max_retries=2).asample(QUESTION, 1, SamplingParams())
    assert draw.requests == 3 and "HTTP 500" in draw.completions[0].error


async def test_retries_are_bounded_by_time(instant_server):
    instant_server.inject("429", times=50, retry_after=0.4)
    started = time.monotonic()
    draw = await make(instant_server, max_retries=50, max_retry_seconds=1.0).asample(
        QUESTION, 1, SamplingParams()
    )
    assert time.monotonic() - started < 2 and draw.requests <= 4
    assert "HTTP 429" in draw.completions[0].error


async def test_failed_top_up_requests_keep_their_samples(llama_like):
    backend = make(llama_like, honours_n=False, max_retries=0)
    llama_like.inject("400", times=2)
    draw = await backend.asample(QUESTION, 5, SamplingParams(seed=0))
    assert len(draw.completions) == 5  # never dropped, never None
    assert sum(not c.ok for c in draw.completions) == 2


async def test_time_budget_fails_slow_samples(instant_server):
    instant_server.delay_s = 20.0
    started = time.monotonic()
    draw = await make(instant_server).asample(QUESTION, 2, SamplingParams(), timeout=0.3)
    assert time.monotonic() - started < 10  # the budget, not the server's 20 s, ended it
    assert len(draw.completions) == 2 and not any(c.ok for c in draw.completions)


async def test_unreachable_endpoint_raises_naming_the_url():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAICompatibleBackend(url, "m", api_key=SECRET)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        await backend.asample(QUESTION, 4, SamplingParams())
    assert time.monotonic() - started < 5
    assert url in str(info.value) and SECRET not in str(info.value)


async def test_unknown_host_raises_quickly():
    backend = OpenAICompatibleBackend("http://no-such-host.invalid:8000/v1", "m")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="no-such-host.invalid"):
        await backend.asample(QUESTION, 1, SamplingParams())
    assert time.monotonic() - started < 15


async def test_api_key_never_appears_in_errors_or_logs(instant_server, caplog):
    caplog.set_level(logging.DEBUG)
    instant_server.inject("echo_auth")
    draw = await make(instant_server).asample(QUESTION, 1, SamplingParams())
    error = draw.completions[0].error
    assert error and "HTTP 400" in error and SECRET not in error and "***" in error
    assert instant_server.stats.auth_headers[0] == f"Bearer {SECRET}"  # it was sent
    assert SECRET not in caplog.text
    assert SECRET not in repr(make(instant_server))


# -- payloads -------------------------------------------------------------------------------


async def test_chat_payload_keeps_roles_and_tool_turns(instant_server):
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("Add 2 and 3."),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "c1"}]),
        ToolMessage("5", tool_call_id="c1"),
    ]
    await make(instant_server).asample(messages, 1, SamplingParams(stop=("\n",), max_tokens=9))
    body = instant_server.stats.bodies[0]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["stop"] == ["\n"] and body["max_tokens"] == 9
    assert "top_k" not in body and "extra_body" not in body


async def test_completion_mode_renders_a_transcript(instant_server):
    messages = [HumanMessage("1+1?"), AIMessage("The answer is 2."), HumanMessage("2+3?")]
    draw = await make(instant_server, mode="completion").asample(messages, 2, SamplingParams())
    body = instant_server.stats.bodies[0]
    assert body["prompt"] == render_transcript(messages)
    assert body["stop"] == list(TRANSCRIPT_STOPS)
    assert len(draw.completions) == 2 and draw.completions[0].text


async def test_vllm_extras_only_when_enabled(instant_server):
    params = SamplingParams(top_k=20, min_p=0.05)
    await make(instant_server).asample(QUESTION, 1, params)
    await make(instant_server, vllm_extras=True, include_stop_str_in_output=True).asample(
        QUESTION, 1, params
    )
    plain, extras = instant_server.stats.bodies
    assert "top_k" not in plain and "min_p" not in plain
    assert extras["top_k"] == 20 and extras["min_p"] == 0.05
    assert extras["include_stop_str_in_output"] is True


@pytest.mark.parametrize("mode", ["chat", "completion"])
async def test_logprobs(instant_server, mode):
    draw = await make(instant_server, mode=mode).asample(
        QUESTION, 2, SamplingParams(logprobs=True, seed=3)
    )
    for completion in draw.completions:
        assert completion.logprobs and len(completion.logprobs) == len(completion.text.split())
        assert all(lp < 0 for lp in completion.logprobs)


async def test_tool_calls_are_parsed(instant_server):
    from langchain_core.tools import tool

    @tool
    def lookup(seed: int, index: int) -> str:
        """Look something up."""
        return "x"

    schema = {
        "type": "function",
        "function": {"name": "calc", "parameters": {"type": "object", "properties": {}}},
    }
    base = make(instant_server)
    draw = await base.with_tools([schema]).asample(QUESTION, 2, SamplingParams(seed=4))
    calls = [c.tool_calls for c in draw.completions]
    assert calls[0] == ({"name": "calc", "args": {"seed": 4, "index": 0}, "id": "call_4_0"},)
    assert calls[1][0]["args"]["index"] == 1
    assert instant_server.stats.bodies[0]["tools"] == [schema]
    assert base.tools == ()  # with_tools returns a copy
    await base.with_tools([lookup]).asample(QUESTION, 1, SamplingParams())
    assert instant_server.stats.bodies[1]["tools"][0]["function"]["name"] == "lookup"


async def test_cached_tokens_are_read():
    with InstantServer(cached_tokens=2) as server:
        draw = await make(server).asample(QUESTION, 1, SamplingParams())
    assert draw.cached_tokens == 2 == draw.completions[0].cached_tokens


def test_config_errors():
    with pytest.raises(TTCConfigError):
        OpenAICompatibleBackend("http://x/v1", "m", mode="stream")  # type: ignore[arg-type]
    with pytest.raises(TTCConfigError):
        OpenAICompatibleBackend("http://x/v1", "m", mode="completion", tools=[{"type": "x"}])


# -- resolve_backend ------------------------------------------------------------------------


async def test_resolve_auto_model_from_server(instant_server, monkeypatch):
    monkeypatch.setenv("TTC_BASE_URL", instant_server.base_url)
    monkeypatch.delenv("TTC_MODEL", raising=False)
    backend = resolve_backend()
    assert isinstance(backend, OpenAICompatibleBackend)
    draw = await backend.asample(QUESTION, 1, SamplingParams())
    assert backend.model_id == "instant" and draw.completions[0].ok
    assert draw.requests == 2  # GET /models, then the sample


def test_resolve_backend_forms(monkeypatch):
    monkeypatch.delenv("TTC_BASE_URL", raising=False)
    monkeypatch.setenv("TTC_MODEL", "served-name")
    backend = resolve_backend(None, base_url="http://127.0.0.1:1/v1", mode="completion")
    assert isinstance(backend, OpenAICompatibleBackend) and backend.mode == "completion"
    assert backend.model_id == "served-name"
    assert resolve_backend(backend) is backend
    openai = resolve_backend("openai:gpt-4o-mini", api_key="k")
    assert openai.model_id == "gpt-4o-mini" and "openai.com" in openai.base_url
    chat = resolve_backend(GenericFakeChatModel(messages=iter(["hi"])), max_concurrency=2)
    assert isinstance(chat, ChatModelBackend) and chat.max_concurrency == 2
    with pytest.raises(TTCConfigError, match="base_url"):
        resolve_backend("some-model")
    with pytest.raises(TTCConfigError, match="local"):
        resolve_backend(42)


def test_resolve_connection_refused_is_clear(monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = resolve_backend(base_url=url)  # model "auto": asks /models first
    with pytest.raises(BackendUnavailable, match=url):
        backend.sample(QUESTION, 1, SamplingParams())


async def test_wrong_path_or_key_on_first_contact_raises(instant_server):
    no_v1 = OpenAICompatibleBackend(instant_server.base_url[: -len("/v1")], "instant")
    with pytest.raises(BackendUnavailable, match="HTTP 404"):
        await no_v1.asample(QUESTION, 1, SamplingParams())
    backend = make(instant_server)
    instant_server.inject("401")
    with pytest.raises(BackendUnavailable, match="API key") as info:
        await backend.asample(QUESTION, 2, SamplingParams())
    assert SECRET not in str(info.value)
    assert (await backend.asample(QUESTION, 1, SamplingParams())).completions[0].ok
    instant_server.inject("401")  # after a success, the same error fails only the samples
    draw = await backend.asample(QUESTION, 1, SamplingParams())
    assert "HTTP 401" in draw.completions[0].error


def test_prompt_token_bound_covers_tools():
    schema = {"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}
    messages = [HumanMessage("2+3?")]
    plain = OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m")
    tooled = plain.with_tools([schema])
    assert tooled.count_prompt_tokens(messages) > plain.count_prompt_tokens(messages) >= 4
