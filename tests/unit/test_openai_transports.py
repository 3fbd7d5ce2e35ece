"""OpenAICompatibleBackend's async path with either transport of its async ``openai`` client
(httpx, or aiohttp with the extra): the JSON it posts is what ``create`` would send, the
failures read the same, and each event loop's clients are closed when the loop shuts down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading

import openai
import pytest
from langchain_core.messages import convert_to_messages

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.backends.retry import describe_failure, is_connect_failure, is_retryable
from langgraph_ttc.errors import BackendUnavailable
from langgraph_ttc.extras import MissingExtra, installed
from langgraph_ttc.testing_server import InstantServer

QUESTION = [("human", "What is 2+3?")]
HAS_AIOHTTP = installed("aiohttp") and hasattr(openai, "DefaultAioHttpClient")
TRANSPORTS = [
    pytest.param(False, id="httpx"),
    pytest.param(
        True,
        id="aiohttp",
        marks=pytest.mark.skipif(not HAS_AIOHTTP, reason="needs the aiohttp extra"),
    ),
]


def make(server: InstantServer, aiohttp: bool, **kwargs) -> OpenAICompatibleBackend:
    backend = OpenAICompatibleBackend(server.base_url, server.model, aiohttp=aiohttp, **kwargs)
    backend.backoff_s = 0.01  # keep retry tests fast
    return backend


def uses_aiohttp(backend: OpenAICompatibleBackend) -> bool:
    http_client = backend._shared.on_loop.client._client  # the openai client's transport
    return any("aiohttp" in k.__module__ for k in type(http_client).__mro__)


def never(done) -> bool:
    """An ``until`` that never fires: every sample becomes a streamed request, which goes
    through the async ``openai`` client (non-streamed ones use the library's transport)."""
    return False


# -- the JSON posted ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["chat", "completion"])
def test_the_posted_json_is_what_create_would_send(mode):
    """``post`` skips the SDK's transform of the body; the server must not see a difference."""
    schema = {"type": "function", "function": {"name": "calc", "parameters": {"type": "object"}}}
    params = SamplingParams(seed=7, stop=("\n\n",), top_logprobs=2, top_k=5, min_p=0.1)
    with InstantServer(honour_n=False) as server:
        backend = OpenAICompatibleBackend(
            server.base_url,
            "instant",
            mode=mode,
            vllm_extras=True,
            extra_body={"repetition_penalty": 1.1},
            tools=[schema] if mode == "chat" else None,
        )
        backend.sample(QUESTION, 1, params)
        body = backend._body(backend_messages(), params)
        payload = backend._payload(body, 0, 1, params)
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        endpoint = client.chat.completions if mode == "chat" else client.completions
        endpoint.create(**payload)
        ours, sdk = server.stats.bodies
    assert ours == sdk
    assert ours["top_k"] == 5 and ours["repetition_penalty"] == 1.1 and "extra_body" not in ours


def backend_messages():
    return convert_to_messages(QUESTION)


# -- the transports -----------------------------------------------------------------------------


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_the_transport_asked_for_answers_like_the_blocking_client(aiohttp):
    with InstantServer(honour_n=False) as server:
        backend = make(server, aiohttp)
        params = SamplingParams(seed=3, max_tokens=20)
        plain = await backend.asample(QUESTION, 4, params)
        assert backend._shared.on_loop.client is None  # not made for non-streamed requests
        done = await backend.asample(QUESTION, 4, params, until=never)
        blocking = await asyncio.to_thread(backend.sample, QUESTION, 4, params, until=never)
    assert uses_aiohttp(backend) is aiohttp
    texts = [c.text for c in done.completions]
    assert texts == [c.text for c in blocking.completions] == [c.text for c in plain.completions]
    assert all(c.ok for c in done.completions) and done.requests == 4


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_dropped_connection_on_first_contact_is_retried_not_fatal(aiohttp):
    with InstantServer(honour_n=False) as server:
        server.inject("drop")
        draw = await make(server, aiohttp).asample(QUESTION, 1, SamplingParams())
        assert draw.completions[0].ok and draw.requests == 2
        server.inject("drop", times=3)
        draw = await make(server, aiohttp, max_retries=1).asample(QUESTION, 1, SamplingParams())
    error = draw.completions[0].error
    assert draw.requests == 2 and error.startswith("connection error"), error


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_hung_request_is_reported_as_a_timeout(aiohttp):
    with InstantServer(honour_n=False) as server:
        server.inject("hang", hang_s=5)
        backend = make(server, aiohttp, timeout_s=0.3, max_retries=0)
        draw = await backend.asample(QUESTION, 1, SamplingParams())
    assert draw.completions[0].error == "timed out after 0.3s"


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_refused_connection_names_the_url_and_is_no_timeout(aiohttp):
    with InstantServer() as server:
        url = server.base_url
    backend = OpenAICompatibleBackend(url, "m", aiohttp=aiohttp)  # nothing listens there now
    with pytest.raises(BackendUnavailable, match="connection error") as info:
        await backend.asample(QUESTION, 2, SamplingParams())
    assert url in str(info.value) and "timed out" not in str(info.value)


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
def test_each_loops_client_is_closed_when_the_loop_shuts_down(aiohttp):
    """aiohttp prints "Unclosed client session" for a session left open at exit."""
    code = textwrap.dedent(
        """
        import asyncio, sys
        from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
        from langgraph_ttc.testing_server import InstantServer
        with InstantServer(honour_n=False) as server:
            backend = OpenAICompatibleBackend(
                server.base_url, "instant", aiohttp=sys.argv[1] == "True")
            async def draw():
                plain = await backend.asample([("human", "hi")], 3, SamplingParams())
                streamed = await backend.asample(
                    [("human", "hi")], 3, SamplingParams(), until=lambda done: False)
                return len(plain.completions) + len(streamed.completions)
            print(asyncio.run(draw()), asyncio.run(draw()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(aiohttp)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "6"]
    assert "Unclosed" not in done.stderr and "Exception" not in done.stderr, done.stderr


def test_asking_for_aiohttp_without_it_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # import aiohttp now fails
    with pytest.raises(MissingExtra, match=r"langgraph-ttc\[aiohttp\]"):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", aiohttp=True)


# -- failures as the openai client raises them -------------------------------------------------
# Each failure is provoked for real against a local socket (nothing listening, a server that
# drops the connection, a server that never answers), so the exceptions are the ones the
# installed openai (and aiohttp) build themselves, whatever their constructors need.


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def misbehaving_server(behaviour: str):
    """A TCP server on 127.0.0.1 that reads each request, then closes ("drop") or keeps the
    connection open without answering ("hang") until the test ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if behaviour == "drop":
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


async def openai_failure(port: int, aiohttp: bool, timeout: float = 60.0) -> BaseException:
    """The exception the async openai client raises for one request to ``port``."""
    http_client = openai.DefaultAioHttpClient() if aiohttp else None
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="k",
        max_retries=0,
        timeout=timeout,
        http_client=http_client,
    )
    try:
        await client.models.list()
    except openai.APIError as exc:
        return exc
    finally:
        await client.close()
    raise AssertionError("the request should have failed")


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_refused_connection_is_a_connect_failure(aiohttp):
    refused = await openai_failure(closed_port(), aiohttp)
    assert is_connect_failure(refused) and is_retryable(refused)
    assert describe_failure(refused, 60).startswith("connection error: ")


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_dropped_connection_is_retried_but_is_no_connect_failure(aiohttp):
    with misbehaving_server("drop") as port:
        dropped = await openai_failure(port, aiohttp)
    assert not is_connect_failure(dropped) and is_retryable(dropped)
    assert describe_failure(dropped, 60).startswith("connection error: ")


@pytest.mark.parametrize("aiohttp", TRANSPORTS)
async def test_a_server_that_never_answers_reads_as_a_timeout(aiohttp):
    # The server never answers, so the outcome is a timeout however slow the machine is.
    with misbehaving_server("hang") as port:
        slow = await openai_failure(port, aiohttp, timeout=0.5)
    assert not is_connect_failure(slow) and is_retryable(slow)
    assert describe_failure(slow, 0.5) == "timed out after 0.5s"


def test_the_posted_body_keeps_json_types():
    """The body goes out as JSON as built; a seed per request index, ``n`` only above one."""
    backend = OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", extra_body={"a": [1, 2]})
    body = backend._body(backend_messages(), SamplingParams(seed=10))
    payload = backend._json_payload(body, 2, 3, SamplingParams(seed=10))
    assert payload["n"] == 3 and payload["seed"] == SamplingParams(seed=10).seed_for(2)
    assert payload["a"] == [1, 2] and "extra_body" not in payload
    assert json.loads(json.dumps(payload)) == payload
