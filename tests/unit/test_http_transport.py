"""The transport of non-streamed requests (backends/http_transport.py) against real local HTTP
servers: a blocking round goes out at once from one thread, keep-alive connections are reused
(and dropped when the server closed them), failures come back per request, the async driver
times out and cancels cleanly, and a proxied URL is left to the openai client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import pytest

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.backends.http_transport import (
    AsyncHTTPTransport,
    ConnectFailure,
    ConnectionDropped,
    HTTPStatusFailure,
    HTTPTransport,
    ReadTimeout,
    _Reply,
    proxied,
)
from langgraph_ttc.backends.retry import backoff_seconds, describe_failure, is_retryable
from langgraph_ttc.errors import BackendUnavailable
from langgraph_ttc.testing_server import InstantServer

BODY = {"model": "instant", "messages": [{"role": "user", "content": "What is 2+3?"}]}
QUESTION = [("human", "What is 2+3?")]
HEADERS = {"Authorization": "Bearer EMPTY"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("ttc-openai")}


# -- the reply parser ----------------------------------------------------------------------


def test_a_chunked_reply_split_anywhere_reads_whole():
    raw = (
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    for cut in range(1, len(raw)):
        reply = _Reply()
        done = reply.feed(raw[:cut])
        done = reply.feed(raw[cut:]) or done
        assert done and json.loads(reply.content()) == {"a": 1}


def test_an_error_status_keeps_its_message_and_retry_after():
    reply = _Reply()
    reply.feed(
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0.25\r\nContent-Length: 30\r\n\r\n"
        b'{"error": {"message": "slow"}}'
    )
    with pytest.raises(HTTPStatusFailure) as info:
        reply.content()
    error = info.value
    assert error.status_code == 429 and describe_failure(error, 60) == "HTTP 429: slow"
    assert is_retryable(error) and backoff_seconds(error, 1, 5.0) == 0.25


def test_garbage_instead_of_http_is_a_dropped_connection():
    with pytest.raises(ConnectionDropped, match="malformed HTTP reply"):
        _Reply().feed(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


# -- the blocking driver -------------------------------------------------------------------


def test_a_round_goes_out_at_once_from_one_thread():
    """The gate holds every answer until 8 requests are in flight: only a round sent at once
    passes it, and no request thread is started for it."""
    with InstantServer(honour_n=False, gate=8, gate_timeout_s=60) as server:
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        before = request_threads()
        draw = backend.sample(QUESTION, 8, SamplingParams(seed=1))
        assert server.stats.max_in_flight == 8 and server.stats.requests == 8
        assert request_threads() == before  # no thread per request
        backend.close()
    assert draw.requests == 8 and all(c.ok for c in draw.completions)
    assert len({c.seed for c in draw.completions}) == 8


def test_keep_alive_connections_are_reused_round_after_round():
    with InstantServer() as server:
        transport = HTTPTransport(server.base_url, HEADERS)
        transport.post_all("/chat/completions", [BODY] * 4, timeout=30)
        first = {sock.getsockname() for sock, _ in transport._idle}
        replies = transport.post_all("/chat/completions", [BODY] * 4, timeout=30)
        second = {sock.getsockname() for sock, _ in transport._idle}
        transport.close()
    assert all(json.loads(r)["choices"] for r in replies)
    assert len(first) == 4 and second == first


class OneReplyServer:
    """Answers one request per connection with keep-alive promised, then closes the connection
    (as a server whose keep-alive timeout has passed)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.finished = threading.Event()  # the last connection has been closed
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.finished.clear()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                conn.shutdown(socket.SHUT_WR)
                self.finished.set()
                conn.recv(1)  # wait for the client's close, or EOF

    def close(self) -> None:
        self.listener.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused():
    server = OneReplyServer()
    try:
        transport = HTTPTransport(server.base_url, HEADERS)
        assert transport.post("/chat/completions", BODY, timeout=30) == b"{}"
        assert server.finished.wait(30)  # the server has closed its end
        assert transport.post("/chat/completions", BODY, timeout=30) == b"{}"  # no error
        transport.close()
    finally:
        server.close()
    assert server.connections == 2


def test_failures_come_back_per_request_and_the_rest_succeed():
    with InstantServer(honour_n=False) as server:
        server.inject("500", times=1)
        server.inject("drop", times=1)
        transport = HTTPTransport(server.base_url, HEADERS)
        outcomes = transport.post_all("/chat/completions", [BODY] * 4, timeout=30)
        transport.close()
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert sorted(type(f).__name__ for f in failures) == ["ConnectionDropped", "HTTPStatusFailure"]
    assert sum(isinstance(o, bytes) for o in outcomes) == 2


def test_a_round_with_failures_retries_only_those_and_counts_every_attempt():
    with InstantServer(honour_n=False) as server:
        server.inject("503", times=2)
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        backend.backoff_s = 0.01
        draw = backend.sample(QUESTION, 6, SamplingParams(seed=5))
        backend.close()
        assert draw.requests == server.stats.requests == 8
    assert all(c.ok for c in draw.completions)


def test_a_hung_round_times_out_and_the_refused_url_fails_to_connect():
    with InstantServer(honour_n=False) as server:
        server.inject("hang", times=1, hang_s=60)
        transport = HTTPTransport(server.base_url, HEADERS)  # the other two have 3 s to answer
        outcomes = transport.post_all("/chat/completions", [BODY] * 3, timeout=3)
        transport.close()
    assert sum(isinstance(o, ReadTimeout) for o in outcomes) == 1
    assert describe_failure(next(o for o in outcomes if isinstance(o, ReadTimeout)), 3) == (
        "timed out after 3s"
    )
    refused = HTTPTransport(f"http://127.0.0.1:{closed_port()}/v1", HEADERS)
    with pytest.raises(ConnectFailure, match="ConnectionRefusedError"):
        refused.post("/chat/completions", BODY, timeout=5)


# -- the async driver ----------------------------------------------------------------------


async def test_the_async_transport_reuses_its_connections():
    with InstantServer() as server:
        transport = AsyncHTTPTransport(server.base_url, HEADERS)
        for _ in range(3):
            replies = await asyncio.gather(
                *(transport.post("/chat/completions", BODY, 30) for _ in range(4))
            )
        opened = len(transport._open)
        await transport.aclose()
    assert all(json.loads(r)["choices"] for r in replies)
    assert opened == 4 and not transport._open


async def test_an_async_hang_times_out_and_a_cancelled_post_spends_its_connection():
    with InstantServer() as server:
        transport = AsyncHTTPTransport(server.base_url, HEADERS)
        server.inject("hang", times=2, hang_s=10)
        with pytest.raises(ReadTimeout):
            await transport.post("/chat/completions", BODY, 0.3)
        task = asyncio.ensure_future(transport.post("/chat/completions", BODY, 30))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not transport._idle  # neither connection is handed out again
        reply = await transport.post("/chat/completions", BODY, 30)
        await transport.aclose()
    assert json.loads(reply)["choices"]


async def test_an_async_round_slides_its_window_and_reports_each_request():
    with InstantServer(honour_n=False, delay_s=0.02) as server:
        server.inject("500", times=1)
        transport = AsyncHTTPTransport(server.base_url, HEADERS)
        seen = [
            pair
            async for pair in transport.post_each("/chat/completions", [BODY] * 7, 30, window=3)
        ]
        await transport.aclose()
        assert server.stats.max_in_flight <= 3 and server.stats.requests == 7
    assert sorted(index for index, _ in seen) == list(range(7))
    failures = [o for _, o in seen if isinstance(o, Exception)]
    assert [type(f).__name__ for f in failures] == ["HTTPStatusFailure"]


async def test_an_async_round_out_of_time_leaves_the_rest_unsent_and_closing_drops_the_rest():
    loop = asyncio.get_running_loop()
    with InstantServer(honour_n=False, delay_s=30) as server:  # answers after the round's end
        transport = AsyncHTTPTransport(server.base_url, HEADERS)
        outcomes = dict(
            [
                pair
                async for pair in transport.post_each(
                    "/chat/completions", [BODY] * 4, 30, window=2, until=loop.time() + 1.0
                )
            ]
        )
        assert server.stats.requests == 2
        assert [outcomes[i] for i in (2, 3)] == [None, None]
        assert all(isinstance(outcomes[i], ReadTimeout) for i in (0, 1))
        server.inject("hang", times=3, hang_s=10)

        async def first_reply():
            round_ = transport.post_each("/chat/completions", [BODY] * 3, 30)
            async with contextlib.aclosing(round_) as replies:
                async for pair in replies:
                    return pair

        waiting = asyncio.ensure_future(first_reply())
        await asyncio.sleep(0.3)
        waiting.cancel()  # the run is cancelled while all three hang
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for _ in range(3):
            await asyncio.sleep(0)  # the closed connections report their loss
        assert not transport._idle and not transport._open  # none is handed out again
        await transport.aclose()


async def test_an_async_draw_retries_only_the_failed_requests_and_counts_every_attempt():
    with InstantServer(honour_n=False) as server:
        server.inject("503", times=2)
        backend = OpenAICompatibleBackend(server.base_url, "instant", honours_n=False)
        backend.backoff_s = 0.01
        draw = await backend.asample(QUESTION, 6, SamplingParams(seed=5))
        await backend.aclose()
        assert draw.requests == server.stats.requests == 8
    assert all(c.ok for c in draw.completions)


async def test_an_async_refused_connection_is_a_connect_failure():
    transport = AsyncHTTPTransport(f"http://127.0.0.1:{closed_port()}/v1", HEADERS)
    with pytest.raises(ConnectFailure):
        await transport.post("/chat/completions", BODY, 5)


# -- proxies -------------------------------------------------------------------------------


def test_a_proxied_url_goes_through_the_openai_client(monkeypatch):
    """Through a proxy the openai client sends the requests (it speaks to proxies): here the
    proxy does not exist, so the request fails to connect; exempt the host and it works."""
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", dead_proxy)
    monkeypatch.setenv("http_proxy", dead_proxy)
    with InstantServer(honour_n=False) as server:
        assert proxied(server.base_url)
        backend = OpenAICompatibleBackend(server.base_url, "instant", max_retries=0)
        with pytest.raises(BackendUnavailable):
            backend.sample(QUESTION, 2, SamplingParams())
        assert backend._shared.transport is None and server.stats.requests == 0
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert not proxied(server.base_url)
        direct = OpenAICompatibleBackend(server.base_url, "instant")
        draw = direct.sample(QUESTION, 2, SamplingParams())
        assert direct._shared.transport is not None  # our transport, not the openai client
        direct.close()
    assert all(c.ok for c in draw.completions)


def test_a_round_larger_than_the_concurrency_limit_slides_a_window_over_it():
    with InstantServer(honour_n=False, delay_s=0.02) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, "instant", honours_n=False, max_concurrency=4
        )
        before = request_threads()
        draw = backend.sample(QUESTION, 10, SamplingParams(seed=2))
        assert request_threads() == before
        backend.close()
        assert server.stats.max_in_flight <= 4 and server.stats.requests == 10
    assert draw.requests == 10 and all(c.ok for c in draw.completions)


def test_payloads_still_queued_when_the_time_is_up_are_not_sent():
    with InstantServer(honour_n=False, delay_s=30) as server:  # answers after the round's end
        transport = HTTPTransport(server.base_url, HEADERS)
        began = time.monotonic()
        outcomes = transport.post_all(
            "/chat/completions", [BODY] * 4, timeout=30, window=2, until=began + 1.0
        )
        transport.close()
        assert server.stats.requests == 2
    assert outcomes[2:] == [None, None]
    assert all(isinstance(o, ReadTimeout) for o in outcomes[:2])


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path):
    """The instant server behind TLS, with a self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = InstantServer(honour_n=False)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server, server.base_url.replace("http://", "https://"), cert_file


async def test_tls_both_drivers_verify_the_certificate_and_answer(tls_server, monkeypatch):
    server, url, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust the test's own certificate
    backend = OpenAICompatibleBackend(url, "instant", honours_n=False)
    draw = await asyncio.to_thread(backend.sample, QUESTION, 6, SamplingParams(seed=1))
    again = await backend.asample(QUESTION, 6, SamplingParams(seed=1))
    await backend.aclose()
    backend.close()
    assert server.stats.requests == 12
    assert [c.text for c in draw.completions] == [c.text for c in again.completions]
    assert all(c.ok for c in draw.completions)


def test_tls_with_an_untrusted_certificate_names_the_url(tls_server, monkeypatch):
    server, url, _ = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    backend = OpenAICompatibleBackend(url, "instant", honours_n=False)
    with pytest.raises(BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED") as info:
        backend.sample(QUESTION, 3, SamplingParams())
    assert url in str(info.value) and server.stats.requests == 0
