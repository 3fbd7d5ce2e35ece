"""JSON POSTs to an OpenAI-compatible server over pooled keep-alive connections.

The non-streamed requests of :class:`~langgraph_ttc.backends.OpenAICompatibleBackend` go here.
The ``openai`` client's cheapest call (``post`` with ``cast_to=bytes``) spends 0.6-1.7 ms of
client CPU per request in its own layers, bare aiohttp 0.17-0.24 ms, the standard library's
``http.client`` on threads 0.25-0.3 ms; this module spends 0.08-0.14 ms
(``python benchmarks/protocol_layers.py``). With tens of samples per question against a fast
server, that is most of the client's cost.

One protocol, two drivers, as the rest of the library has one body in a blocking and an async
shell: the reply is parsed by httptools (the parser uvicorn uses) in :class:`_Reply`; a round of
requests goes out on as many connections, paced by one window (:func:`_due`), and its replies
are yielded as they arrive (``post_each``): the blocking :class:`HTTPTransport` waits on them
with one ``selectors`` loop (no thread per request, no event loop), the async
:class:`AsyncHTTPTransport` as asyncio protocol exchanges (no task per request). Streams and the model
listing go through the ``openai`` client, and so does everything when an HTTP proxy applies.

Failures are raised (or returned, by :meth:`HTTPTransport.post_all`) as :class:`TransportError`
subclasses, which :mod:`langgraph_ttc.backends.retry` classifies next to the ``openai`` client's
own errors.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import select
import selectors
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

import httptools

try:  # the CA bundle older openai clients (httpx) trust; the system's CAs are always loaded
    import certifi
except ImportError:  # pragma: no cover
    certifi = None

__all__ = [
    "AsyncHTTPTransport",
    "ConnectFailure",
    "ConnectionDropped",
    "HTTPStatusFailure",
    "HTTPTransport",
    "ReadTimeout",
    "TransportError",
    "proxied",
]

MAX_IDLE_S = 4.0  # Below uvicorn's 5 s keep-alive (vLLM, llama.cpp's Python server).
READ_SIZE = 65536


class TransportError(Exception):
    """A request that got no usable HTTP reply, or an error status."""


class ConnectFailure(TransportError):
    """No connection could be made: refused, unknown host, TLS failure or connect timeout."""


class ReadTimeout(TransportError):
    """The server did not send (the rest of) its reply within the attempt's timeout."""


class ConnectionDropped(TransportError):
    """The connection closed, or broke, before a whole reply arrived."""


class HTTPStatusFailure(TransportError):
    """The server answered with a status outside 2xx.

    Example:
        >>> error = HTTPStatusFailure(429, {"Retry-After": "2"}, b'{"error": {"message": "slow"}}')
        >>> error.status_code, error.headers["retry-after"], error.message
        (429, '2', 'slow')
    """

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.message = _error_message(content) or http.client.responses.get(status_code, "")
        super().__init__(f"HTTP {status_code}: {self.message}")


def _error_message(content: bytes) -> str:
    """What an error body says: OpenAI's ``{"error": {"message": ...}}``, else the text."""
    text = content.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return str(error)


def proxied(base_url: str) -> bool:
    """Whether the environment routes ``base_url`` through an HTTP proxy (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY`` unless ``NO_PROXY`` exempts the host); such requests are
    left to the ``openai`` client, which speaks to proxies.

    Example:
        >>> import os
        >>> names = ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
        >>> saved = {name: os.environ.pop(name) for name in names if name in os.environ}
        >>> os.environ["HTTP_PROXY"] = "http://proxy.internal:3128"
        >>> proxied("http://10.0.0.5:8000/v1"), proxied("https://10.0.0.5:8000/v1")
        (True, False)
        >>> os.environ["NO_PROXY"] = "10.0.0.5"
        >>> proxied("http://10.0.0.5:8000/v1")
        False
        >>> for name in ("HTTP_PROXY", "NO_PROXY"):
        ...     del os.environ[name]
        >>> os.environ.update(saved)
    """
    parts = urllib.parse.urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class _Reply:
    """One HTTP response being read: fed bytes as they arrive, complete at the message's end.

    Example:
        >>> reply = _Reply()
        >>> reply.feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
        True
        >>> reply.content(), reply.keep_alive
        (b'{}', True)
    """

    __slots__ = ("_parser", "chunks", "complete", "headers", "keep_alive", "status")

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.complete = False
        self.keep_alive = False

    def feed(self, data: bytes) -> bool:
        """Read ``data``; whether the response is now complete."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise ConnectionDropped(f"malformed HTTP reply: {exc}") from None
        return self.complete

    def content(self) -> bytes:
        """The 2xx reply's body, else :class:`HTTPStatusFailure`."""
        content = b"".join(self.chunks)
        if not 200 <= self.status < 300:
            raise HTTPStatusFailure(self.status, self.headers, content)
        return content

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class _Endpoint:
    """What both drivers share: where to connect, TLS, and the bytes of a request.

    Example:
        >>> endpoint = _Endpoint("http://[::1]:8000/v1?api-version=2", {"Authorization": "x"}, 5)
        >>> print(endpoint.request("/chat/completions", {}).decode())  # doctest: +NORMALIZE_WHITESPACE
        POST /v1/chat/completions?api-version=2 HTTP/1.1
        Host: [::1]:8000
        Authorization: x
        Content-Type: application/json
        Accept: application/json
        Connection: keep-alive
        Content-Length: 2
        <BLANKLINE>
        {}
    """

    def __init__(self, base_url: str, headers: Mapping[str, str], connect_timeout: float):
        parts = urllib.parse.urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.query = f"?{parts.query}" if parts.query else ""  # e.g. an api-version
        self.headers = dict(headers)
        self.connect_timeout = connect_timeout
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        if self.port != (443 if self.https else 80):
            host = f"{host}:{self.port}"
        fixed = {
            "Host": host,
            **headers,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Connection": "keep-alive",
        }
        self._head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._tls: ssl.SSLContext | None = None

    def request(self, path: str, payload: Mapping) -> bytes:
        body = json.dumps(payload).encode()
        target = (self.prefix + path + self.query).encode()
        return b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            target,
            self._head,
            len(body),
            body,
        )

    def tls(self) -> ssl.SSLContext | None:
        if self.https and self._tls is None:
            self._tls = ssl.create_default_context()  # the system's CAs, SSL_CERT_FILE
            if certifi is not None:
                self._tls.load_verify_locations(certifi.where())
        return self._tls


class HTTPTransport:
    """Blocking JSON POSTs; thread-safe. Idle connections are kept and reused by any thread;
    one idle longer than ``MAX_IDLE_S`` or already closed by the server is dropped instead.

    Example:
        >>> from langgraph_ttc.testing_server import InstantServer
        >>> body = {"model": "instant", "messages": [{"role": "user", "content": "2+2?"}]}
        >>> with InstantServer() as server:
        ...     transport = HTTPTransport(server.base_url, {"Authorization": "Bearer EMPTY"})
        ...     replies = transport.post_all("/chat/completions", [body, body], timeout=10)
        ...     transport.close()
        >>> [len(json.loads(reply)["choices"]) for reply in replies]
        [1, 1]
    """

    def __init__(
        self, base_url: str, headers: Mapping[str, str], *, connect_timeout: float = 5.0
    ) -> None:
        self._endpoint = _Endpoint(base_url, headers, connect_timeout)
        self.headers = self._endpoint.headers
        self._idle: list[tuple[socket.socket, float]] = []
        self._lock = threading.Lock()

    def post(self, path: str, payload: Mapping, timeout: float) -> bytes:
        """POST ``payload`` as JSON to ``base_url + path``; the 2xx reply's body.

        Raises:
            ConnectFailure, ReadTimeout, ConnectionDropped, HTTPStatusFailure.
        """
        (outcome,) = self.post_all(path, [payload], timeout)
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome  # type: ignore[return-value]  # never None without `until`

    def post_all(
        self,
        path: str,
        payloads: Sequence[Mapping],
        timeout: float,
        window: int | None = None,
        until: float | None = None,
    ) -> list[bytes | TransportError | None]:
        """Every outcome of :meth:`post_each`, in the payloads' order."""
        outcomes: list[bytes | TransportError | None] = [None] * len(payloads)
        for index, outcome in self.post_each(path, payloads, timeout, window, until):
            outcomes[index] = outcome
        return outcomes

    def post_each(
        self,
        path: str,
        payloads: Sequence[Mapping],
        timeout: float,
        window: int | None = None,
        until: float | None = None,
    ) -> Iterator[tuple[int, bytes | TransportError | None]]:
        """POST the payloads concurrently from this thread, at most ``window`` at a time (all
        by default), each on its own connection; yields ``(index, outcome)`` as each ends: the
        reply body or the failure. ``timeout`` bounds each request from when it is sent,
        ``until`` (a ``time.monotonic`` instant) all of them: a payload still queued then is
        not sent (outcome ``None``). Closing the iterator early drops the requests in flight."""
        queue = deque(enumerate(payloads))
        window = len(payloads) if window is None else max(window, 1)
        self._open_at_once(min(window, len(payloads)), timeout)
        in_flight: dict[socket.socket, tuple[int, _Reply, float]] = {}
        selector = selectors.DefaultSelector()
        try:
            while queue or in_flight:
                while due := _due(queue, len(in_flight), window, timeout, until, time.monotonic()):
                    index, payload, limit, now = due
                    sent = self._send(path, payload, limit)
                    if isinstance(sent, TransportError):
                        yield index, sent
                        continue
                    in_flight[sent] = (index, _Reply(), now + limit)
                    selector.register(sent, selectors.EVENT_READ)
                if not in_flight:
                    break  # out of time: the rest stay unsent
                first_deadline = min(deadline for _, _, deadline in in_flight.values())
                for key, _ in selector.select(max(first_deadline - time.monotonic(), 0)):
                    sock = key.fileobj
                    index, reply, _ = in_flight[sock]
                    outcome = self._read(sock, reply)
                    if outcome is not None:
                        selector.unregister(sock)
                        del in_flight[sock]
                        yield index, outcome
                now = time.monotonic()
                for sock, (index, _, deadline) in list(in_flight.items()):
                    if now >= deadline:  # no (whole) reply in time
                        selector.unregister(sock)
                        del in_flight[sock]
                        sock.close()
                        yield index, ReadTimeout("no reply within the attempt's timeout")
            for index, _ in queue:
                yield index, None
        finally:
            for sock in in_flight:
                sock.close()
            selector.close()

    def _send(self, path: str, payload: Mapping, timeout: float) -> socket.socket | TransportError:
        """A connection with the request written to it, or why there is none."""
        try:
            sock = self._take(timeout)
        except ConnectFailure as exc:
            return exc
        try:
            sock.settimeout(timeout)
            sock.sendall(self._endpoint.request(path, payload))
        except OSError as exc:
            sock.close()
            return _broken(exc)
        return sock

    def _read(self, sock: socket.socket, reply: _Reply) -> bytes | TransportError | None:
        """Read what arrived; the outcome once the reply is whole or the connection broke."""
        try:
            data = sock.recv(READ_SIZE)
            while isinstance(sock, ssl.SSLSocket) and sock.pending():
                data += sock.recv(sock.pending())  # decrypted already, so never "ready"
            if not data:
                raise ConnectionDropped("the server closed the connection")
            if not reply.feed(data):
                return None
        except (OSError, ConnectionDropped) as exc:
            sock.close()
            return _broken(exc)
        return self._finish(sock, reply)

    def _finish(self, sock: socket.socket, reply: _Reply) -> bytes | TransportError:
        if reply.keep_alive:
            with self._lock:
                self._idle.append((sock, time.monotonic()))
        else:
            sock.close()
        try:
            return reply.content()
        except HTTPStatusFailure as exc:
            return exc

    def close(self) -> None:
        """Close the idle connections (the transport stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock, _ in idle:
            sock.close()

    def _open_at_once(self, wanted: int, timeout: float) -> None:
        """Open the connections a round lacks side by side (each connect and TLS handshake is
        a round trip or two to a distant server); a failure here is left for the request that
        needs the connection to meet and report."""
        with self._lock:
            missing = wanted - len(self._idle)
        if missing < 2:
            return
        limit = min(timeout, self._endpoint.connect_timeout)
        with concurrent.futures.ThreadPoolExecutor(missing, "ttc-connect") as pool:
            opened = [pool.submit(self._connect, limit) for _ in range(missing)]
        now = time.monotonic()
        for future in opened:
            if future.exception() is None:
                with self._lock:
                    self._idle.append((future.result(), now))

    def _take(self, timeout: float) -> socket.socket:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                sock, since = self._idle.pop()
            if now - since < MAX_IDLE_S and not _closed_by_peer(sock):
                return sock
            sock.close()
        return self._connect(min(timeout, self._endpoint.connect_timeout))

    def _connect(self, timeout: float) -> socket.socket:
        endpoint = self._endpoint
        try:
            sock = socket.create_connection((endpoint.host, endpoint.port), max(timeout, 0.001))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = endpoint.tls()
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=endpoint.host)
        except OSError as exc:  # refused, DNS, TLS (ssl.SSLError), connect timeout
            raise ConnectFailure(f"{type(exc).__name__}: {exc}") from exc
        return sock


class AsyncHTTPTransport:
    """:class:`HTTPTransport` for one event loop, as an asyncio protocol (close it with
    :meth:`aclose` on that loop).

    Example:
        >>> import asyncio
        >>> from langgraph_ttc.testing_server import InstantServer
        >>> body = {"model": "instant", "messages": [{"role": "user", "content": "2+2?"}]}
        >>> async def ask(url):
        ...     transport = AsyncHTTPTransport(url, {"Authorization": "Bearer EMPTY"})
        ...     replies = [r async for _, r in transport.post_each("/chat/completions", [body] * 2, 10)]
        ...     await transport.aclose()
        ...     return [len(json.loads(r)["choices"]) for r in replies]
        >>> with InstantServer() as server:
        ...     asyncio.run(ask(server.base_url))
        [1, 1]
    """

    def __init__(
        self, base_url: str, headers: Mapping[str, str], *, connect_timeout: float = 5.0
    ) -> None:
        self._endpoint = _Endpoint(base_url, headers, connect_timeout)
        self._idle: list[tuple[_Connection, float]] = []
        self._open: set[_Connection] = set()

    async def post(self, path: str, payload: Mapping, timeout: float) -> bytes:
        """Async :meth:`HTTPTransport.post`: a round of one; ``timeout`` bounds the whole
        attempt, and a cancelled post spends its connection (a reply may still be coming)."""
        async with contextlib.aclosing(self.post_each(path, [payload], timeout)) as outcomes:
            ((_, outcome),) = [pair async for pair in outcomes]
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome  # type: ignore[return-value]  # never None without `until`

    async def post_each(
        self,
        path: str,
        payloads: Sequence[Mapping],
        timeout: float,
        window: int | None = None,
        until: float | None = None,
    ) -> AsyncIterator[tuple[int, bytes | TransportError | None]]:
        """Async :meth:`HTTPTransport.post_each` (``until`` on the loop's clock, which is
        ``time.monotonic``): one coroutine for the round, no task per request. Close it early
        (``contextlib.aclosing``) to drop the requests in flight."""
        loop = asyncio.get_running_loop()
        queue = deque(enumerate(payloads))
        window = len(payloads) if window is None else max(window, 1)
        await self._open_at_once(loop, min(window, len(payloads)), timeout)
        pending: dict[asyncio.Future, tuple[int, _Connection, _Reply, asyncio.TimerHandle]] = {}
        finished: deque[asyncio.Future] = deque()
        woken: list[asyncio.Future] = []

        def on_done(done: asyncio.Future) -> None:
            finished.append(done)
            if woken and not woken[0].done():
                woken[0].set_result(None)

        try:
            while queue or pending:
                while due := _due(queue, len(pending), window, timeout, until, loop.time()):
                    index, payload, limit, now = due
                    try:
                        connection = self._take() or await self._connect(loop, limit)
                    except ConnectFailure as exc:
                        yield index, exc
                        continue
                    reply, done = _Reply(), loop.create_future()
                    connection.expect(reply, done)
                    timer = loop.call_at(now + limit, _expire, done)
                    done.add_done_callback(on_done)
                    connection.transport.write(self._endpoint.request(path, payload))
                    pending[done] = (index, connection, reply, timer)
                if not pending:
                    break  # out of time: the rest stay unsent
                if not finished:
                    woken[:] = [loop.create_future()]
                    await woken[0]
                while finished:
                    done = finished.popleft()
                    index, connection, reply, timer = pending.pop(done)
                    timer.cancel()
                    yield index, self._outcome(loop, done, connection, reply)
            for index, _ in queue:
                yield index, None
        finally:
            for _, connection, _, timer in pending.values():
                timer.cancel()
                connection.close()

    def _outcome(
        self, loop, done: asyncio.Future, connection: _Connection, reply: _Reply
    ) -> bytes | TransportError:
        """What an exchange that ended came to; its connection goes back to the pool if the
        reply was whole and the server keeps it open."""
        failure = done.exception()
        if failure is not None:
            connection.close()
            return _broken(failure)
        if reply.keep_alive and not connection.closed:
            self._idle.append((connection, loop.time()))
        else:
            connection.close()
        try:
            return reply.content()
        except HTTPStatusFailure as exc:
            return exc

    async def _open_at_once(self, loop, wanted: int, timeout: float) -> None:
        """Async :meth:`HTTPTransport._open_at_once`."""
        missing = wanted - len(self._idle)
        if missing < 2:
            return
        limit = min(timeout, self._endpoint.connect_timeout)
        opened = await asyncio.gather(
            *(self._connect(loop, limit) for _ in range(missing)), return_exceptions=True
        )
        now = loop.time()
        self._idle += [(c, now) for c in opened if isinstance(c, _Connection)]

    async def aclose(self) -> None:
        """Close every connection (the transport stays usable)."""
        self._idle = []
        open_now, self._open = list(self._open), set()
        for connection in open_now:
            connection.close()
        await asyncio.sleep(0)  # the transports finish closing on the next loop iteration

    def _take(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection, since = self._idle.pop()
            if not connection.closed and now - since < MAX_IDLE_S:
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Connection:
        endpoint = self._endpoint
        tls = endpoint.tls()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(self._open),
                    endpoint.host,
                    endpoint.port,
                    ssl=tls,
                    server_hostname=endpoint.host if tls else None,
                ),
                min(timeout, endpoint.connect_timeout),
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailure(f"{type(exc).__name__}: {exc}") from exc
        return connection


class _Connection(asyncio.Protocol):
    """One keep-alive connection of :class:`AsyncHTTPTransport`; one exchange at a time."""

    def __init__(self, registry: set) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._registry = registry
        self._reply: _Reply | None = None
        self._done: asyncio.Future | None = None

    def expect(self, reply: _Reply, done: asyncio.Future) -> None:
        self._reply, self._done = reply, done

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._registry.add(self)

    def data_received(self, data: bytes) -> None:
        reply, done = self._reply, self._done
        if reply is None or done is None or done.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        try:
            if reply.feed(data):
                self._reply = self._done = None
                done.set_result(None)
        except ConnectionDropped as exc:
            done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._registry.discard(self)
        done = self._done
        if done is not None and not done.done():
            done.set_exception(_broken(exc or ConnectionDropped("the server closed it")))

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()


def _due(queue: deque, busy: int, window: int, timeout: float, until: float | None, now: float):
    """The next ``(index, payload, time limit, now)`` of a round to send, or ``None``: the
    window is full, nothing is queued, or the round's time is up."""
    if not queue or busy >= window or (until is not None and now >= until):
        return None
    index, payload = queue.popleft()
    return index, payload, timeout if until is None else min(timeout, until - now), now


def _expire(done: asyncio.Future) -> None:
    if not done.done():
        done.set_exception(ReadTimeout("no reply within the attempt's timeout"))


def _broken(exc: BaseException) -> TransportError:
    """A failure while sending or reading, as the retry layer understands it."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return ReadTimeout("no reply within the attempt's timeout")
    return ConnectionDropped(f"{type(exc).__name__}: {exc}")


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or is broken)."""
    try:
        if hasattr(select, "poll"):  # no FD_SETSIZE limit
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
