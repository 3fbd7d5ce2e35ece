"""The one HTTP stack (aiohttp on the backend loop, backends/http_client.py) against real local
servers that behave the way servers, gateways and hosted APIs do: TLS 1.3 with a private CA,
gzip, close-delimited replies, 1xx interim replies, redirects, a 413 sent before the body was
read, header injection refused before anything is sent, a base URL with a query string, and one
concurrency limit across event loops and threads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from http_servers import (
    Request,
    ScriptedServer,
    chat_reply,
    gzipped,
    instant,
    make_ca_and_server_cert,
    response,
)

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams, resolve_backend
from langgraph_ttc.backends.event_loop import backend_loop
from langgraph_ttc.backends.http_client import HTTPStatusError
from langgraph_ttc.backends.retry import describe_failure, is_connect_failure, is_retryable
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError
from langgraph_ttc.testing.instant_server import InstantServer
from langgraph_ttc.testing.processes import free_port

QUESTION = [("human", "What is 2+3?")]


def backend_for(server, **kwargs) -> OpenAICompatibleBackend:
    kwargs.setdefault("honours_n", False)
    return OpenAICompatibleBackend(server.base_url, "m", **kwargs)


# -- TLS 1.3 with a private CA ------------------------------------------------------------------


def slow_for_seed_zero(hang: dict):
    async def script(request: Request, writer) -> bool:
        if request.json.get("seed") == 0:
            hang["seen"] = True
            await request.server.release.wait()  # until the server stops
            return False
        writer.write(response(200, chat_reply(request)))
        await writer.drain()
        return True

    return script


@pytest.fixture
def tls(tmp_path):
    return make_ca_and_server_cert(tmp_path)


@pytest.mark.parametrize("driver", ["blocking", "async"])
def test_tls13_private_ca_a_slow_reply_times_out_on_time_and_the_rest_return_at_once(tls, driver):
    ca_file, context = tls
    with ScriptedServer(slow_for_seed_zero({}), tls=context) as server:
        backend = backend_for(server, verify=str(ca_file), timeout_s=3, max_retries=0)
        params = SamplingParams(seed=0)
        began = time.monotonic()
        if driver == "blocking":
            draw = backend.sample(QUESTION, 4, params)
        else:
            draw = asyncio.run(backend.asample(QUESTION, 4, params))
        took = time.monotonic() - began
        backend.close()
    slow, *rest = draw.completions
    assert "timed out after 3s" in slow.error
    assert all(c.ok for c in rest)
    # The others were answered long before the slow one's timeout (no reply holds the round),
    # and the slow one did not overrun it by much (generous bounds for a busy machine).
    assert max(c.latency_s for c in rest) < 2.5 and took < 20
    assert server.counts.requests == 4 and server.counts.connections <= server.counts.requests


def test_tls_without_the_ca_names_the_url_and_sends_nothing(tls):
    _, context = tls
    with ScriptedServer(instant, tls=context) as server:
        backend = backend_for(server)
        with pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED") as info:
            backend.sample(QUESTION, 2, SamplingParams())
        assert server.base_url in str(info.value) and server.counts.requests == 0
        # verify=False: the same server answers (what a user asks for with a self-signed cert).
        insecure = backend_for(server, verify=False)
        assert all(c.ok for c in insecure.sample(QUESTION, 2, SamplingParams()).completions)


def test_a_client_certificate_is_presented(tmp_path, tls):
    """The server requires a client certificate signed by its CA: with ``cert=`` it answers."""
    ca_file, context = tls
    from http_servers import make_ca_and_server_cert as make

    client_dir = tmp_path / "client"
    client_dir.mkdir()
    client_ca, _ = make(client_dir)  # a second CA; its server cert doubles as a client cert
    context.verify_mode = __import__("ssl").CERT_REQUIRED
    context.load_verify_locations(client_ca)
    cert = (str(client_dir / "server.pem"), str(client_dir / "server.key"))
    with ScriptedServer(instant, tls=context) as server:
        # TLS 1.3 checks the client's certificate after the handshake: the server hangs up.
        without = backend_for(server, verify=str(ca_file), max_retries=0)
        assert (
            "connection error" in without.sample(QUESTION, 1, SamplingParams()).completions[0].error
        )
        backend = backend_for(server, verify=str(ca_file), cert=cert)
        assert backend.sample(QUESTION, 1, SamplingParams()).completions[0].ok


# -- framing a maintained client handles ----------------------------------------------------------


def test_a_gzip_reply_is_decoded():
    with ScriptedServer(gzipped) as server:
        draw = backend_for(server).sample(QUESTION, 2, SamplingParams(seed=4))
    assert [c.text for c in draw.completions] == ["The answer is 4.", "The answer is 5."]


async def close_delimited(request: Request, writer) -> bool:
    body = chat_reply(request)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    writer.write(head + body[:10])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(body[10:])
    await writer.drain()
    return False  # the end of the reply is the end of the connection


def test_a_close_delimited_reply_is_read_whole_and_not_retried():
    with ScriptedServer(close_delimited) as server:
        draw = backend_for(server).sample(QUESTION, 3, SamplingParams(seed=1))
    assert all(c.ok for c in draw.completions) and draw.requests == 3
    assert server.counts.requests == 3


async def interim_then_reply(request: Request, writer) -> bool:
    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)  # the interim reply in its own segment
    writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(response(200, chat_reply(request)))
    await writer.drain()
    return True


def test_1xx_interim_replies_are_skipped():
    with ScriptedServer(interim_then_reply) as server:
        draw = backend_for(server).sample(QUESTION, 2, SamplingParams(seed=7))
    assert [c.text for c in draw.completions] == ["The answer is 7.", "The answer is 8."]


@pytest.mark.parametrize("status", [307, 308])
def test_307_and_308_are_followed_with_the_body(status):
    async def redirect(request: Request, writer) -> bool:
        if request.target.startswith("/v1/"):
            location = request.target.replace("/v1/", "/moved/v1/", 1)
            writer.write(response(status, b"", {"Location": location}, reason="Redirect"))
        else:
            writer.write(response(200, chat_reply(request)))
        await writer.drain()
        return True

    with ScriptedServer(redirect) as server:
        draw = backend_for(server).sample(QUESTION, 1, SamplingParams(seed=2))
    assert draw.completions[0].text == "The answer is 2."
    assert server.counts.targets == ["/v1/chat/completions", "/moved/v1/chat/completions"]


def test_a_413_sent_before_the_body_was_read_is_reported_with_its_message():
    """The server answers 413 on seeing the headers, then drains the body and closes (as
    servers that limit body sizes do): the client reports the 413 with its message."""

    async def too_large(request: Request, writer) -> bool:
        body = json.dumps({"error": {"message": "Request too large for this model."}}).encode()
        writer.write(response(413, body, {"Connection": "close"}, reason="Payload Too Large"))
        await writer.drain()
        length = int(request.headers["content-length"])
        while length > 0:  # lingering: read what is still coming, then close
            chunk = await request.reader.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)
        return False

    big = [("human", "x" * 3_000_000)]  # more than the socket buffers take at once
    with ScriptedServer(too_large) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "m", default_headers={"X-Read-Body": "0"}
        )
        draw = backend.sample(big, 1, SamplingParams())
    assert draw.completions[0].error == "HTTP 413: Request too large for this model."
    assert server.counts.requests == 1  # a 4xx is not retried


def test_a_4xx_body_is_shown_and_not_retried():
    async def bad(request: Request, writer) -> bool:
        body = json.dumps({"error": {"message": "max_tokens is too large: 99999"}}).encode()
        writer.write(response(400, body, reason="Bad Request"))
        await writer.drain()
        return True

    with ScriptedServer(bad) as server:
        draw = backend_for(server).sample(QUESTION, 1, SamplingParams())
    assert draw.completions[0].error == "HTTP 400: max_tokens is too large: 99999"
    assert server.counts.requests == 1


# -- bad input fails at construction, before anything is sent ---------------------------------


@pytest.mark.parametrize("bad", ["sk-abc\r\nX-Injected: yes", "sk-abc\nX: y", "sk-abc\x00"])
def test_a_key_with_cr_lf_or_nul_fails_at_construction_without_echoing_it(bad):
    with ScriptedServer() as server:
        with pytest.raises(TTCConfigError, match="api_key") as info:
            OpenAICompatibleBackend(server.base_url, "m", api_key=bad)
        assert "sk-abc" not in str(info.value)
        with pytest.raises(TTCConfigError, match="api-key") as info:
            OpenAICompatibleBackend(server.base_url, "m", default_headers={"api-key": bad})
        assert "sk-abc" not in str(info.value)
        with pytest.raises(TTCConfigError, match="api_key"):
            resolve_backend("m", base_url=server.base_url, api_key=bad)
    assert server.counts.connections == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1 x", "http:///v1", "http://:8000/v1", "http://h\r\n/v1"]
)
def test_a_base_url_with_spaces_or_no_host_fails_at_construction(url):
    with pytest.raises(TTCConfigError, match="base_url"):
        OpenAICompatibleBackend(url, "m")


def test_bad_options_fail_at_construction(tmp_path):
    with pytest.raises(TTCConfigError, match="CA bundle"):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", verify=str(tmp_path / "none.pem"))
    with pytest.raises(TTCConfigError, match="not a valid HTTP header name"):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", default_headers={"a b": "c"})
    with pytest.raises(TTCConfigError, match="connect_timeout_s"):
        OpenAICompatibleBackend("http://127.0.0.1:1/v1", "m", connect_timeout_s=0)


# -- a base URL with a query string (Azure's api-version) ----------------------------------------


async def sse(request: Request, writer) -> bool:
    if request.method == "GET":  # the model listing
        writer.write(response(200, json.dumps({"data": [{"id": "listed"}]}).encode()))
        await writer.drain()
        return True
    if not request.json.get("stream"):
        writer.write(response(200, chat_reply(request)))
        await writer.drain()
        return True
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    for piece in ("The ", "answer ", "is 5."):
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        writer.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}
    for event in (end, usage):
        writer.write(b"data: " + json.dumps(event).encode() + b"\n\n")
    writer.write(b"data: [DONE]\n\n")
    await writer.drain()
    return False


def test_a_base_url_query_string_reaches_non_streamed_streamed_and_listing_requests():
    with ScriptedServer(sse) as server:
        url = server.base_url + "/deployments/gpt4o?api-version=2024-06-01"
        backend = OpenAICompatibleBackend(url, "auto", default_query={"x-extra": "1"})
        plain = backend.sample(QUESTION, 1, SamplingParams(seed=5))
        streamed = backend.sample(QUESTION, 1, SamplingParams(seed=5), until=lambda done: False)
    assert plain.completions[0].text == "The answer is 5."
    assert streamed.completions[0].text == "The answer is 5."
    assert streamed.completions[0].completion_tokens == 3
    query = "?api-version=2024-06-01&x-extra=1"
    expected = "/v1/deployments/gpt4o/chat/completions" + query
    assert server.counts.targets == ["/v1/deployments/gpt4o/models" + query, expected, expected]
    assert backend.model == "listed"


def test_default_headers_are_sent_and_override_the_defaults():
    with ScriptedServer() as server:
        backend = OpenAICompatibleBackend(
            server.base_url,
            "m",
            api_key="sk-secret",
            default_headers={"api-key": "azure-key", "HTTP-Referer": "https://example.org"},
        )
        backend.sample(QUESTION, 1, SamplingParams())
    head = server.counts.raw_heads[0].decode().lower()
    assert "api-key: azure-key" in head and "http-referer: https://example.org" in head
    assert "authorization: bearer sk-secret" in head


# -- one loop, one limit -----------------------------------------------------------------------


async def answer_after_a_tenth(request: Request, writer) -> bool:
    """A server that answers each request 0.1 s after it arrived (requests overlap)."""
    await asyncio.sleep(0.1)
    writer.write(response(200, chat_reply(request)))
    await writer.drain()
    return True


def test_the_concurrency_limit_holds_across_two_loops_and_a_thread():
    with ScriptedServer(answer_after_a_tenth) as server:
        backend = backend_for(server, max_concurrency=3)
        draws = []

        def on_a_loop() -> None:
            draws.append(asyncio.run(backend.asample(QUESTION, 6, SamplingParams(seed=1))))

        def blocking() -> None:
            draws.append(backend.sample(QUESTION, 6, SamplingParams(seed=2)))

        threads = [threading.Thread(target=f) for f in (on_a_loop, on_a_loop, blocking)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(draws) == 3 and all(c.ok for d in draws for c in d.completions)
    assert server.counts.requests == 18
    assert server.counts.max_in_flight == 3  # the limit was reached and held
    assert server.counts.connections <= 3


def test_at_most_one_event_loop_whatever_the_number_of_runs(instant_server):
    code = textwrap.dedent(
        """
        import asyncio, json, sys, threading
        from langgraph_ttc import OpenAICompatibleBackend, create_ttc_graph
        from langgraph_ttc.backends import event_loop
        made = []
        original = asyncio.BaseEventLoop.__init__
        def counting(loop, *args, **kwargs):  # every asyncio loop, however it is made
            made.append(1)
            original(loop, *args, **kwargs)
        asyncio.BaseEventLoop.__init__ = counting
        backend = OpenAICompatibleBackend(sys.argv[1], sys.argv[2], honours_n=False)
        graph = create_ttc_graph(backend, "majority", n=3)
        for _ in range(10):
            graph.invoke({"question": "What is 2 + 3?"})
        threads = [threading.Thread(target=graph.invoke, args=({"question": "1+1?"},))
                   for _ in range(4)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print(json.dumps({"loops": event_loop.loops_started(), "made": len(made)}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, instant_server.base_url, instant_server.model],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TTC_UVLOOP="0"),  # asyncio's loops only: all of them counted
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"loops": 1, "made": 1}
    assert "Unclosed" not in done.stderr


async def test_async_callers_run_on_the_backend_loop_and_can_be_cancelled():
    with InstantServer(honour_n=False, delay_s=30) as server:  # answers after the test
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        task = asyncio.ensure_future(backend.asample(QUESTION, 2, SamplingParams()))
        for _ in range(200):
            if server.stats.in_flight == 2:
                break
            await asyncio.sleep(0.02)
        assert server.stats.in_flight == 2 and asyncio.get_running_loop() is not backend_loop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        slots = backend._shared.slots
        for _ in range(200):  # the cancellation reaches the backend loop and frees the slots
            if slots.free == backend.max_concurrency:
                break
            await asyncio.sleep(0.02)
        assert slots.free == backend.max_concurrency


# -- failures, provoked against local sockets ------------------------------------------------


def test_a_refused_connection_is_a_connect_failure_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAICompatibleBackend(url, "m")
    began = time.monotonic()
    with pytest.raises(BackendUnavailable, match="Cannot reach") as info:
        backend.sample(QUESTION, 1, SamplingParams())
    assert url in str(info.value) and time.monotonic() - began < 10


def test_failures_are_one_family_classified_by_retry():
    """Real failures from local sockets (refused, dropped, hung, 503) through the wire."""
    from langgraph_ttc.backends.event_loop import run_blocking
    from langgraph_ttc.backends.http_client import Wire

    def failure(url: str, total: float = 5):
        backend = OpenAICompatibleBackend(url, "m")
        wire = backend._wire()
        try:
            run_blocking(wire.post_json("/chat/completions", {"x": 1}, wire.attempt(total)))
        except Exception as exc:
            return exc
        finally:
            backend.close()
        raise AssertionError("no failure")

    refused = failure(f"http://127.0.0.1:{free_port()}/v1")
    assert is_connect_failure(refused) and is_retryable(refused)
    with InstantServer() as server:
        server.inject("drop")
        dropped = failure(server.base_url)
        server.inject("hang", hang_s=5)
        hung = failure(server.base_url, total=0.3)
        server.inject("503")
        busy = failure(server.base_url)
    assert not is_connect_failure(dropped) and is_retryable(dropped)
    assert describe_failure(dropped, 60).startswith("connection error")
    assert is_retryable(hung) and describe_failure(hung, 0.3) == "timed out after 0.3s"
    assert isinstance(busy, HTTPStatusError) and busy.status_code == 503 and is_retryable(busy)
    assert describe_failure(busy, 60) == "HTTP 503: Overloaded."
    assert Wire  # the class a backend's requests go through


def test_a_dropped_connection_on_first_contact_is_retried_not_fatal():
    with InstantServer(honour_n=False) as server:
        server.inject("drop")
        draw = OpenAICompatibleBackend(server.base_url, "instant").sample(
            QUESTION, 1, SamplingParams()
        )
    assert draw.completions[0].ok and draw.requests == 2


def test_a_dead_proxy_from_the_environment_is_used_and_no_proxy_exempts(monkeypatch):
    """trust_env=True (default): HTTP_PROXY applies; NO_PROXY exempts the host;
    trust_env=False ignores both."""
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    with InstantServer(honour_n=False) as server:
        monkeypatch.setenv("HTTP_PROXY", dead_proxy)
        monkeypatch.setenv("http_proxy", dead_proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(BackendUnavailable):
            OpenAICompatibleBackend(server.base_url, "instant").sample(
                QUESTION, 1, SamplingParams()
            )
        assert server.stats.requests == 0
        ignoring = OpenAICompatibleBackend(server.base_url, "instant", trust_env=False)
        assert ignoring.sample(QUESTION, 1, SamplingParams()).completions[0].ok
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        exempt = OpenAICompatibleBackend(server.base_url, "instant")
        assert exempt.sample(QUESTION, 1, SamplingParams()).completions[0].ok


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch):
    """The proxy gets the absolute URL (streamed and non-streamed requests, the listing)."""
    with ScriptedServer(sse) as proxy:
        root = proxy.base_url.rsplit("/v1", 1)[0]
        monkeypatch.setenv("HTTP_PROXY", root)
        monkeypatch.setenv("http_proxy", root)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        backend = OpenAICompatibleBackend("http://upstream.invalid:9/v1", "m")
        plain = backend.sample(QUESTION, 1, SamplingParams(seed=5))
        streamed = backend.sample(QUESTION, 1, SamplingParams(seed=5), until=lambda d: False)
    assert plain.completions[0].ok and streamed.completions[0].ok
    assert proxy.counts.targets == ["http://upstream.invalid:9/v1/chat/completions"] * 2


# -- a user's openai client --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["OpenAI", "AsyncOpenAI"])
def test_a_users_openai_client_sends_every_request(kind):
    openai = pytest.importorskip("openai")
    with InstantServer(honour_n=False) as server:
        client = getattr(openai, kind)(
            base_url=server.base_url, api_key="sk-from-client", max_retries=0
        )
        backend = OpenAICompatibleBackend(server.base_url, "auto", client=client)
        plain = backend.sample(QUESTION, 2, SamplingParams(seed=3))
        streamed = asyncio.run(
            backend.asample(QUESTION, 1, SamplingParams(seed=3), until=lambda d: False)
        )
        server.inject("400")
        failed = backend.sample(QUESTION, 1, SamplingParams(seed=3))
        auth = set(server.stats.auth_headers)
    assert backend.model == "instant"  # the listing went through the client too
    assert all(c.ok for c in plain.completions) and streamed.completions[0].ok
    assert streamed.completions[0].text == plain.completions[0].text
    assert failed.completions[0].error == "HTTP 400: Invalid request."
    assert auth == {"Bearer sk-from-client"}


# -- rounds ------------------------------------------------------------------------------------


def test_a_round_goes_out_at_once():
    """The gate holds every answer until 8 requests are in flight: only a round sent at once
    passes it."""
    with InstantServer(honour_n=False, gate=8, gate_timeout_s=60) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        draw = backend.sample(QUESTION, 8, SamplingParams(seed=1))
    assert all(c.ok for c in draw.completions) and server.stats.max_in_flight == 8


def test_a_round_retries_only_the_failed_requests_and_counts_every_attempt():
    with InstantServer(honour_n=False) as server:
        server.inject("503", times=2)
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        backend.backoff_s = 0.01
        draw = backend.sample(QUESTION, 4, SamplingParams(seed=1))
    assert all(c.ok for c in draw.completions) and draw.requests == 6 == server.stats.requests


async def test_a_round_larger_than_the_limit_is_paced_by_it():
    with InstantServer(honour_n=False, delay_s=0.02) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "instant", honours_n=False, max_concurrency=4
        )
        draw = await backend.asample(QUESTION, 16, SamplingParams(seed=1))
    assert all(c.ok for c in draw.completions) and server.stats.max_in_flight == 4


# -- the command line --------------------------------------------------------------------------


def test_cli_ca_bundle_and_headers_reach_the_backend(tls):
    from langgraph_ttc.cli.arguments import build_parser
    from langgraph_ttc.cli.run import backend_from_args

    ca_file, context = tls
    with ScriptedServer(tls=context) as server:
        args = build_parser().parse_args(
            ["run", "2+3?", "--base-url", server.base_url, "--model", "m"]
            + ["--ca-bundle", str(ca_file), "--header", "X-Title: ttc", "--header", "api-key: k"]
        )
        backend = backend_from_args(args)
        draw = backend.sample(QUESTION, 1, SamplingParams())
    assert draw.completions[0].ok
    head = server.counts.raw_heads[0].decode().lower()
    assert "x-title: ttc" in head and "api-key: k" in head
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "q", "--header", "no colon"])
    local = build_parser().parse_args(["run", "q", "--header", "a: b"])
    with pytest.raises(TTCConfigError, match="--base-url"):
        backend_from_args(local)


# -- streams -------------------------------------------------------------------------------------


async def one_fast_stream_the_rest_stall(request: Request, writer) -> bool:
    """Seed 0 streams a whole answer; the others send one token, then nothing until the server
    stops (a slow generation)."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    token = {"choices": [{"index": 0, "delta": {"content": "The "}, "finish_reason": None}]}
    writer.write(b"data: " + json.dumps(token).encode() + b"\n\n")
    await writer.drain()
    server = request.server
    if request.json.get("seed") != 0:
        server.stalled = getattr(server, "stalled", 0) + 1
        await server.release.wait()
        return False
    # Finish only once the stalled streams' first tokens are out, and a second later, so the
    # client has read them when `until` fires (their count is asserted), however busy the box.
    for _ in range(3000):
        if getattr(server, "stalled", 0) >= 2:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)
    end = {"choices": [{"index": 0, "delta": {"content": "end."}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    for event in (end, usage):
        writer.write(b"data: " + json.dumps(event).encode() + b"\n\n")
    writer.write(b"data: [DONE]\n\n")
    await writer.drain()
    return False


@pytest.mark.parametrize("driver", ["blocking", "async"])
def test_until_closes_the_streams_still_open_at_once(driver):
    """The draw's `until` holds after the first finished sample: the two stalled streams are
    closed then (not at their next token, which never comes), and the tokens that arrived are
    counted."""
    with ScriptedServer(one_fast_stream_the_rest_stall) as server:
        backend = backend_for(server, timeout_s=60)
        params = SamplingParams(seed=0)
        enough = lambda done: len(done) >= 1  # noqa: E731
        began = time.monotonic()
        if driver == "blocking":
            draw = backend.sample(QUESTION, 3, params, until=enough)
        else:
            draw = asyncio.run(backend.asample(QUESTION, 3, params, until=enough))
        took = time.monotonic() - began
    assert [c.text for c in draw.completions] == ["The end."]
    assert draw.extra["cancelled"] == 2 and took < 20  # not the 60 s read timeout
    assert draw.completion_tokens == 2 + 1 + 1  # the finished one's, and one token each


def test_a_reply_over_the_size_cap_fails_the_sample_without_being_kept(monkeypatch):
    """Announced (Content-Length) or not (chunked, gzip): past the cap the reply is refused."""
    from langgraph_ttc.backends import http_client

    monkeypatch.setattr(http_client, "MAX_REPLY_BYTES", 1000)

    async def chunked_big(request: Request, writer) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):
            writer.write(b"200\r\n" + b"x" * 0x200 + b"\r\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async def announced_big(request: Request, writer) -> bool:
        writer.write(response(200, b"x" * 2000))
        await writer.drain()
        return True

    for script in (chunked_big, announced_big, gzipped):
        with ScriptedServer(script) as server:
            draw = backend_for(server).sample(QUESTION, 1, SamplingParams())
        error = draw.completions[0].error
        assert server.counts.requests == 1  # not retried
        if script is gzipped:  # a small reply under the cap is read whole
            assert error is None
        else:
            assert "over 1000" in error


def test_the_async_driver_hands_back_results_errors_and_survives_a_closed_caller():
    from langgraph_ttc.backends.event_loop import backend_loop, run_on_backend_loop

    async def on_backend(value):
        assert asyncio.get_running_loop() is backend_loop()
        if isinstance(value, Exception):
            raise value
        return value

    assert asyncio.run(run_on_backend_loop(on_backend(7))) == 7
    with pytest.raises(KeyError, match="gone"):
        asyncio.run(run_on_backend_loop(on_backend(KeyError("gone"))))

    released = threading.Event()

    async def slow():
        await asyncio.sleep(0.05)
        released.set()
        return 1

    async def leave_early():
        asyncio.ensure_future(run_on_backend_loop(slow()))
        await asyncio.sleep(0)

    caller = asyncio.new_event_loop()  # closed while the work still runs there, uncancelled
    caller.run_until_complete(leave_early())
    caller.close()
    assert released.wait(30)  # the backend loop finished the work and lives on
    assert asyncio.run(run_on_backend_loop(on_backend(8))) == 8


# -- a long-lived caller loop draws itself -------------------------------------------------------


def test_a_long_lived_loop_draws_itself_from_its_second_draw_and_closes_its_session():
    with InstantServer(honour_n=False) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        seen = {}

        async def three_draws():
            loop = asyncio.get_running_loop()
            for i in range(3):
                draw = await backend.asample(QUESTION, 2, SamplingParams(seed=i))
                assert len(draw.completions) == 2 and all(c.ok for c in draw.completions)
                seen[i] = loop in backend._shared.wire._local
            seen["session"] = backend._shared.wire._local[loop][0]

        asyncio.run(three_draws())
        # The first draw went to the backend loop; from the second on, this loop drew itself.
        assert [seen[i] for i in range(3)] == [False, True, True]
        assert seen["session"].closed  # closed when asyncio.run shut the loop down
        assert not backend._shared.wire._local
        assert backend.sample(QUESTION, 1, SamplingParams()).completions[0].ok  # still usable


def test_the_limit_holds_across_a_long_lived_loop_and_a_blocking_thread():
    with ScriptedServer(answer_after_a_tenth) as server:
        backend = backend_for(server, max_concurrency=3)
        draws = []

        async def drawing_here() -> None:
            for seed in range(3):  # the second and third draws run on this loop
                draws.append(await backend.asample(QUESTION, 6, SamplingParams(seed=seed)))

        threads = [
            threading.Thread(target=lambda: asyncio.run(drawing_here())),
            threading.Thread(
                target=lambda: draws.append(backend.sample(QUESTION, 6, SamplingParams()))
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(draws) == 4 and all(c.ok for d in draws for c in d.completions)
    assert server.counts.requests == 24
    assert server.counts.max_in_flight == 3  # one limit over both loops


def test_slots_hand_a_slot_on_past_a_waiter_that_left():
    from langgraph_ttc.backends.slots import Slots

    slots = Slots(1)

    async def main():
        await slots.acquire()
        leaving = asyncio.ensure_future(slots.acquire())
        staying = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        slots.release()  # to the waiter still there
        await asyncio.wait_for(staying, 5)
        with pytest.raises(TimeoutError):
            await slots.acquire(timeout=0.01)
        slots.release()

    asyncio.run(main())
    assert slots.free == 1


def test_slots_skip_a_waiter_whose_loop_closed():
    from langgraph_ttc.backends.slots import Slots

    slots = Slots(1)
    asyncio.run(slots.acquire())  # held by a loop that is gone
    other = asyncio.new_event_loop()
    waiting = other.create_task(slots.acquire())
    other.run_until_complete(asyncio.sleep(0.01))  # waiting now, then its loop closes under it
    other.close()
    slots.release()  # its loop cannot be woken: the slot goes back to the pool
    assert slots.free == 1 and not waiting.done()
    waiting.get_coro().close()  # what collecting it would do; it takes nothing on its way out
    waiting._log_destroy_pending = False
    assert slots.free == 1
