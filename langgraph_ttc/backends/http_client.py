"""The one HTTP stack of :class:`~langgraph_ttc.backends.OpenAICompatibleBackend`: aiohttp,
driven from blocking and async callers through one long-lived event loop.

Every request the backend makes (non-streamed, streamed, the model listing; direct or through
an HTTP proxy) goes through :class:`Wire`: an aiohttp session per backend, on the process's
backend loop (:mod:`~langgraph_ttc.backends.event_loop`), which blocking callers run while they
wait and async callers hand their draws to. An async caller's loop that comes back for a second
draw is a long-lived one (a server's, a notebook's): its draws then run on it, with a session of
its own (:meth:`Wire.adopt`), because the wake-ups between two threads cost more than the
request on a fast server. A loop seen once keeps handing its draws over, so ``asyncio.run`` per
question reuses the backend loop's connections instead of opening new ones every run. One
concurrency limit holds across all of them (:class:`~langgraph_ttc.backends.slots.Slots`), and
no call or run starts an event loop of its own.

Why aiohttp: it frames HTTP the way servers, gateways and hosted APIs send it (TLS 1.3, gzip,
close-delimited bodies, 1xx interim replies, redirects), refuses header injection, and costs
about 0.1 ms of client CPU per request, an eighth of the ``openai`` SDK's (figures in
docs/ARCHITECTURE.md). A user who needs the SDK itself (Azure AD token providers, a custom
``httpx`` client) passes an ``openai.OpenAI`` / ``AsyncOpenAI`` client: :class:`SDKWire` sends
every request through it instead, its errors said in this module's terms.

Example:
    >>> import json
    >>> from langgraph_ttc.testing.instant_server import InstantServer
    >>> with InstantServer() as server:
    ...     wire = Wire(server.base_url, HTTPOptions(), api_key="EMPTY", max_connections=4)
    ...     listed = run_blocking(wire.get_json("/models", wire.attempt(5.0)))
    ...     run_blocking(wire.aclose())
    >>> [m["id"] for m in listed["data"]]
    ['instant']
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import ssl
import threading
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import hdrs
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from langgraph_ttc.backends.event_loop import made_loop, run_blocking, run_in_background
from langgraph_ttc.errors import TTCConfigError

__all__ = [
    "ConnectFailed",
    "HTTPOptions",
    "HTTPStatusError",
    "ReplyTooLarge",
    "SDKWire",
    "Wire",
    "checked_base_url",
    "checked_headers",
]

MAX_ERROR_BODY = 4096  # Bytes of an error reply kept for the message.
MAX_REPLY_BYTES = 64 * 2**20  # A reply larger than this is refused, not read into memory.
_BAD_HEADER_CHARS = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class HTTPStatusError(Exception):
    """The server answered with a status outside 2xx (after redirects were followed).

    Example:
        >>> str(HTTPStatusError(400, {}, b'{"error": {"message": "bad model"}}'))
        'HTTP 400: bad model'
    """

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = dict(headers)
        self.body = body[:MAX_ERROR_BODY]
        super().__init__(f"HTTP {status}: {_error_message(self.body)}")


class ConnectFailed(aiohttp.ClientConnectionError):
    """No connection could be made (refused, unknown host, TLS, connect timeout), as reported
    by a user's ``openai`` client: aiohttp's own are ``ClientConnectorError`` and
    ``ConnectionTimeoutError``."""


class ReplyTooLarge(aiohttp.ClientPayloadError):
    """A reply over ``MAX_REPLY_BYTES``: refused, not retried (it would come back as large)."""


def _error_message(body: bytes) -> str:
    """The ``error.message`` of an OpenAI-style error body, else the body's text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text or "(no body)"
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return text


# -- options and the checks of bad input ------------------------------------------------------


@dataclass(frozen=True)
class HTTPOptions:
    """How to reach a server: TLS, proxies, extra headers and query, connect/read timeouts.

    Args:
        verify: check the server's TLS certificate (``True``), not (``False``), or against the
            CA bundle at this path (a private CA, a corporate gateway).
        cert: a client certificate: a PEM file holding certificate and key, or
            ``(certificate, key)`` paths.
        trust_env: use ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` (read when the backend
            first connects).
        default_headers: sent with every request (Azure's ``api-key``, OpenRouter's
            ``HTTP-Referer``); they override the defaults, ``Authorization`` included.
        default_query: added to every request's URL (Azure's ``api-version``), after any query
            the base URL carries.
        connect_timeout_s: most seconds to open a connection (TCP and TLS).
        read_timeout_s: most seconds between two reads of a reply (``None``: only the
            attempt's total timeout bounds it).

    Example:
        >>> HTTPOptions(default_headers={"api-key": "k"}).default_headers
        {'api-key': 'k'}
    """

    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    trust_env: bool = True
    default_headers: Mapping[str, str] = field(default_factory=dict)
    default_query: Mapping[str, str] = field(default_factory=dict)
    connect_timeout_s: float = 5.0
    read_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.verify, (bool, str, os.PathLike)):
            raise TTCConfigError(
                f"verify must be True, False or a CA bundle path; got {type(self.verify).__name__}."
            )
        if isinstance(self.verify, (str, os.PathLike)) and not os.path.isfile(self.verify):
            raise TTCConfigError(f"verify={str(self.verify)!r}: no CA bundle file there.")
        certs = (self.cert,) if isinstance(self.cert, (str, os.PathLike)) else self.cert or ()
        for path in certs:
            if not os.path.isfile(path):
                raise TTCConfigError(f"cert: no certificate file at {str(path)!r}.")
        if self.connect_timeout_s <= 0 or (
            self.read_timeout_s is not None and self.read_timeout_s <= 0
        ):
            raise TTCConfigError(
                "connect_timeout_s and read_timeout_s must be > 0; got "
                f"{self.connect_timeout_s}, {self.read_timeout_s}."
            )
        object.__setattr__(
            self, "default_headers", checked_headers(self.default_headers, "default_headers")
        )
        query = {str(k): str(v) for k, v in dict(self.default_query or {}).items()}
        for key, value in query.items():
            if _BAD_HEADER_CHARS.search(key + value) or " " in key:
                raise TTCConfigError(f"default_query[{key!r}] contains CR, LF, NUL or a space.")
        object.__setattr__(self, "default_query", query)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What aiohttp's ``ssl=`` takes: a context (CA bundle, client certificate), or False."""
        if self.verify is False and self.cert is None:
            return False
        cafile = None if isinstance(self.verify, bool) else os.fspath(self.verify)
        context = ssl.create_default_context(cafile=cafile)
        if self.verify is True:
            # The system's CAs, and certifi's where installed (what the openai SDK trusts): a
            # Python without system CAs (python.org's macOS builds) still reaches hosted APIs.
            with contextlib.suppress(ImportError, OSError):
                import certifi

                context.load_verify_locations(certifi.where())
        if self.verify is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            pair = (self.cert, None) if isinstance(self.cert, (str, os.PathLike)) else self.cert
            context.load_cert_chain(pair[0], pair[1])
        return context


def checked_headers(headers: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    """``headers`` as strings; a name that is no HTTP token, or a value with CR, LF or NUL,
    fails naming the header, never echoing its value (it may be a key).

    Example:
        >>> checked_headers({"X-Title": "ttc"}, "default_headers")
        {'X-Title': 'ttc'}
        >>> checked_headers({"api-key": "k\\r\\nX-Injected: yes"}, "default_headers")
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: default_headers['api-key'] contains a CR, LF or NUL character: a header value cannot (the value is not shown).
    """
    checked = {}
    for name, value in dict(headers or {}).items():
        name = str(name)
        if not _HEADER_NAME.match(name):
            raise TTCConfigError(f"{what}: {name!r} is not a valid HTTP header name.")
        value = str(value)
        if _BAD_HEADER_CHARS.search(value):
            raise TTCConfigError(
                f"{what}[{name!r}] contains a CR, LF or NUL character: a header value cannot "
                "(the value is not shown)."
            )
        checked[name] = value
    return checked


def checked_api_key(api_key: str) -> str:
    """The key; one with CR, LF or NUL fails at once (it would inject headers), not echoed.

    Example:
        >>> checked_api_key("sk-\\nX: y")
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: api_key contains a CR, LF or NUL character (a line break copied with it?); the key is not shown.
    """
    if _BAD_HEADER_CHARS.search(api_key):
        raise TTCConfigError(
            "api_key contains a CR, LF or NUL character (a line break copied with it?); "
            "the key is not shown."
        )
    return api_key


def checked_base_url(base_url: str) -> str:
    """The server URL without a trailing slash (before any query); a URL without http(s)://,
    without a host, or with spaces or control characters fails at once.

    Example:
        >>> checked_base_url("http://127.0.0.1:8000/v1/")
        'http://127.0.0.1:8000/v1'
        >>> checked_base_url("https://x.azure.com/openai/deployments/gpt4o/?api-version=1")
        'https://x.azure.com/openai/deployments/gpt4o?api-version=1'
        >>> checked_base_url("127.0.0.1:8000/v1")
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: base_url '127.0.0.1:8000/v1' needs a scheme: did you mean 'http://127.0.0.1:8000/v1'?
    """
    url = str(base_url).strip()
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        raise TTCConfigError(
            f"base_url {url!r} contains a space or a control character; quote it (%20) or fix it."
        )
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        hint = f"http://{url}" if "://" not in url else "http://HOST:PORT/v1"
        raise TTCConfigError(f"base_url {url!r} needs a scheme: did you mean {hint!r}?")
    try:
        host, _ = parsed.hostname, parsed.port
    except ValueError as exc:
        raise TTCConfigError(f"base_url {url!r}: {exc}.") from None
    if not host:
        raise TTCConfigError(f"base_url {url!r} has no host; e.g. http://127.0.0.1:8000/v1.")
    path = parsed.path.rstrip("/")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, parsed.query, ""))


def endpoint_url(base_url: str, path: str, query: Mapping[str, str]) -> URL:
    """``path`` under the base URL, the base URL's query and ``query`` after it (Azure's
    ``.../deployments/gpt4o?api-version=...`` gives ``.../gpt4o/chat/completions?api-version=...``).

    Example:
        >>> str(endpoint_url("https://h/dep?api-version=1", "/chat/completions", {"x": "2"}))
        'https://h/dep/chat/completions?api-version=1&x=2'
    """
    parsed = urllib.parse.urlsplit(base_url)
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True) + list(query.items())
    full = urllib.parse.urlunsplit(
        (parsed.scheme, parsed.netloc, parsed.path.rstrip("/") + path, "", "")
    )
    url = URL(full)
    return url.with_query(pairs) if pairs else url


# -- the wire: one backend's session, and the SDK stand-in ----------------------------------------


_live_wires: weakref.WeakSet[Wire] = weakref.WeakSet()


class Wire:
    """One backend's aiohttp session on the backend loop: its connection pool (at most
    ``max_connections`` connections), default headers, TLS and proxy settings.

    Methods are coroutines to run on the backend loop; the session is made there on first
    use. Failures: :class:`HTTPStatusError` for a status outside 2xx, aiohttp's
    ``ClientError`` / ``TimeoutError`` for the rest.
    """

    def __init__(
        self,
        base_url: str,
        options: HTTPOptions,
        *,
        api_key: str,
        max_connections: int,
        user_agent: str = "langgraph-ttc",
    ) -> None:
        self.base_url = base_url
        self.options = options
        self.max_connections = max_connections
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
            **options.default_headers,
        }
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[tuple, aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None
        self._proxy: dict[str, Any] = {}
        self._session_loop: asyncio.AbstractEventLoop | None = None
        # A backend dropped without close(): its session is closed on the loop, not left to
        # aiohttp's "Unclosed client session" warning (at exit, _close_live_wires waits).
        self._held: dict[str, aiohttp.ClientSession] = {}
        weakref.finalize(self, _close_soon, self._held).atexit = False
        _live_wires.add(self)
        # Adopted caller loops: their sessions (closed when the loop shuts down its async
        # generators, as asyncio.run does) and the draws seen on loops not adopted yet.
        self._loops_lock = threading.Lock()
        self._local: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, Any]] = {}
        self._seen: dict[asyncio.AbstractEventLoop, int] = {}

    def url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = endpoint_url(self.base_url, path, self.options.default_query)
        return url

    def session(self) -> aiohttp.ClientSession:
        """The session of the running loop: the backend loop's, made on first use, or an
        adopted caller loop's (:meth:`adopt`)."""
        loop = asyncio.get_running_loop()
        if self._session is not None and self._session_loop is loop and not self._session.closed:
            return self._session
        local = self._adopted_session(loop)
        if local is not None:
            return local
        self._session = self._new_session()
        self._session_loop = loop
        self._held["session"] = self._session
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            ssl=self.options.ssl_context() if self.base_url.startswith("https") else True,
            keepalive_timeout=4.0,  # below uvicorn's 5 s keep-alive (vLLM, llama.cpp)
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers=self.headers,
            # The proxy is looked up once here, not by aiohttp on every request (its
            # trust_env costs two thread-pool hops per request: proxy and ~/.netrc).
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
            cookie_jar=aiohttp.DummyCookieJar(),  # an API needs no cookies
        )
        self._proxy = self._env_proxy()
        return session

    async def adopt(self) -> bool:
        """Whether the running (caller's) loop draws itself: the backend loop does; another
        loop does from its second draw on, with a session of its own that is closed when the
        loop shuts down its async generators (``asyncio.run`` does, as does
        ``asyncio.Runner``). A loop seen once hands its draws to the backend loop."""
        loop = asyncio.get_running_loop()
        if loop is made_loop() or self._adopted_session(loop) is not None:
            return True
        with self._loops_lock:
            for gone in [seen for seen in self._seen if seen.is_closed()]:
                del self._seen[gone]
            seen = self._seen.get(loop, 0) + 1
            self._seen[loop] = seen
        if seen < 2:
            return False
        session = self._new_session()
        keeper = self._kept_until_shutdown(session, loop)
        await keeper.__anext__()  # registered with the loop's shutdown of async generators
        with self._loops_lock:
            self._local[loop] = (session, keeper)
            self._seen.pop(loop, None)
        return True

    def _adopted_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession | None:
        """The open session of ``loop`` if it draws itself, else ``None``."""
        local = self._local.get(loop)
        return None if local is None or local[0].closed else local[0]

    def _env_proxy(self) -> dict[str, Any]:
        """``proxy=`` (and ``proxy_auth=``) for this base URL from HTTP(S)_PROXY / NO_PROXY."""
        if not self.options.trust_env:
            return {}
        try:
            proxy, auth = get_env_proxy_for_url(URL(self.base_url))
        except LookupError:  # no proxy applies
            return {}
        return {"proxy": proxy, "proxy_auth": auth} if auth else {"proxy": proxy}

    def attempt(self, total: float | None, *, read: float | None = None) -> aiohttp.ClientTimeout:
        """The timeouts of one attempt: ``total`` seconds (None: unbounded), the connect and
        read bounds of the options, ``read`` overriding the latter (streams)."""
        key = (total, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read = self.options.connect_timeout_s, read or self.options.read_timeout_s
            timeout = aiohttp.ClientTimeout(
                total=total, connect=connect, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 16:  # the usual attempt has timeout_s: made once
                self._timeouts[key] = timeout
        return timeout

    async def post_json(
        self, path: str, payload: Mapping[str, Any], attempt: aiohttp.ClientTimeout
    ) -> bytes:
        """POST ``payload`` as JSON; the reply's body (after any 307/308 redirect)."""
        data = json.dumps(payload).encode()
        async with self.session().post(
            self.url(path), data=data, timeout=attempt, **self._proxy
        ) as response:
            return await _body(response)

    async def get_json(self, path: str, attempt: aiohttp.ClientTimeout) -> Any:
        session = self.session()
        async with session.get(self.url(path), timeout=attempt, **self._proxy) as response:
            return json.loads(await _body(response))

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, payload: Mapping[str, Any], attempt: aiohttp.ClientTimeout
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST ``payload`` and yield the reply's lines as they arrive; leaving early closes the
        response, and with it the connection (the server stops generating)."""
        data = json.dumps(payload).encode()
        response = await self.session().post(
            self.url(path),
            data=data,
            timeout=attempt,
            headers={"Accept": "text/event-stream"},
            **self._proxy,
        )
        try:
            if response.status >= 300:
                await _body(response)  # raises
            yield Lines(response.content, response.close)
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _kept_until_shutdown(
        self, session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
    ) -> AsyncIterator[None]:
        """Holds an adopted loop's session open until the loop shuts down its async
        generators (or the backend is closed), then closes it there, on its own loop."""
        try:
            yield
        finally:
            with self._loops_lock:
                self._local.pop(loop, None)
            if not session.closed:
                await session.close()

    async def aclose(self) -> None:
        """Close the session of the running loop (the backend loop's, or an adopted loop's)."""
        local = self._local.get(asyncio.get_running_loop())
        if local is not None:
            await local[1].aclose()  # its finally closes the session
            return
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


async def _body(response: aiohttp.ClientResponse) -> bytes:
    """The whole reply, at most ``MAX_REPLY_BYTES`` (after decompression); an error status
    raises :class:`HTTPStatusError` with the body."""
    cap = MAX_REPLY_BYTES
    length = response.content_length
    if length is not None and length > cap:
        response.close()
        raise ReplyTooLarge(f"the reply announces {length} bytes, over {cap}")
    if length is not None and hdrs.CONTENT_ENCODING not in response.headers:
        body = await response.read()  # the usual reply: its size is known and capped
    else:  # chunked, close-delimited or compressed: counted as it arrives
        chunks, size = [], 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > cap:
                response.close()
                raise ReplyTooLarge(f"the reply is over {cap} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
    if response.status >= 300:  # redirects are followed; what is left is an error
        raise HTTPStatusError(response.status, response.headers, body)
    return body


class Lines:
    """A streamed reply's lines as they arrive; :meth:`close` (from another task) ends the
    response at once, and a read waiting on it with it."""

    def __init__(self, lines: AsyncIterator[bytes], close: Any) -> None:
        self._lines = lines
        self.close = close

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines.__aiter__()


def _close_soon(held: dict) -> None:
    session = held.pop("session", None)
    if session is not None and not session.closed:
        run_in_background(session.close())


def _close_live_wires() -> None:
    """At exit, close the sessions still open (aiohttp warns of unclosed sessions otherwise)."""
    if made_loop() is None:
        return
    wires = list(_live_wires)
    if not wires:
        return

    async def close_all() -> None:
        await asyncio.gather(*(w.aclose() for w in wires), return_exceptions=True)

    with contextlib.suppress(Exception):
        run_blocking(close_all(), timeout=5)


atexit.register(_close_live_wires)


class SDKWire:
    """The same calls through a user's ``openai.OpenAI`` / ``AsyncOpenAI`` client (its own
    auth, transport and proxies); its errors are raised as :class:`HTTPStatusError`,
    :class:`ConnectFailed`, ``aiohttp.ClientConnectionError`` or ``TimeoutError``."""

    def __init__(self, client: Any) -> None:
        import openai  # the user made the client: openai is installed

        if not isinstance(client, (openai.OpenAI, openai.AsyncOpenAI)):
            raise TTCConfigError(
                f"client must be an openai.OpenAI or openai.AsyncOpenAI; got {type(client).__name__}."
            )
        self.client = client
        self.is_async = isinstance(client, openai.AsyncOpenAI)
        self.base_url = str(client.base_url).rstrip("/")

    def attempt(self, total: float | None, *, read: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=total, sock_read=read)

    async def _call(self, fn, *args, **kwargs):
        try:
            if self.is_async:
                return await fn(*args, **kwargs)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, lambda: fn(*args, **kwargs))
        except Exception as exc:
            raise _sdk_failure(exc) from exc

    async def post_json(
        self, path: str, payload: Mapping[str, Any], attempt: aiohttp.ClientTimeout
    ) -> bytes:
        return await self._call(
            self.client.post,
            path,
            body=dict(payload),
            cast_to=bytes,
            options={"timeout": attempt.total or attempt.sock_read},
        )

    async def get_json(self, path: str, attempt: aiohttp.ClientTimeout) -> Any:
        return json.loads(
            await self._call(
                self.client.get, path, cast_to=bytes, options={"timeout": attempt.total}
            )
        )

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, payload: Mapping[str, Any], attempt: aiohttp.ClientTimeout
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        httpx = _sdk_httpx()
        options = {"timeout": attempt.sock_read or attempt.total}
        body = dict(payload)
        if self.is_async:
            try:
                response = await self.client.post(
                    path, body=body, cast_to=httpx.Response, options=options, stream=True
                )
            except Exception as exc:
                raise _sdk_failure(exc) from exc
            try:
                yield Lines(_sdk_lines(response.aiter_lines()), _closer(response.aclose))
            finally:
                await response.aclose()
            return
        response = await self._call(
            self.client.post, path, body=body, cast_to=httpx.Response, options=options, stream=True
        )
        lines = iter(response.iter_lines())
        loop = asyncio.get_running_loop()

        async def read() -> AsyncIterator[bytes]:
            while True:
                try:
                    line = await loop.run_in_executor(None, next, lines, None)
                except Exception as exc:
                    raise _sdk_failure(exc) from exc
                if line is None:
                    return
                yield line.encode() + b"\n"

        try:
            yield Lines(read(), response.close)
        finally:
            await loop.run_in_executor(None, response.close)

    async def aclose(self) -> None:
        """The user's client stays theirs to close."""


def _sdk_httpx():
    """The HTTP client package of the installed openai SDK (httpx2 since openai 3, else httpx)."""
    import openai._base_client as base

    return getattr(base, "httpx2", None) or base.httpx


def _closer(aclose: Any) -> Any:
    """A plain callable that schedules an async close (``Lines.close`` is called, not awaited)."""

    def close() -> None:
        asyncio.ensure_future(aclose())

    return close


async def _sdk_lines(lines: AsyncIterator[str]) -> AsyncIterator[bytes]:
    try:
        async for line in lines:
            yield line.encode() + b"\n"
    except Exception as exc:
        raise _sdk_failure(exc) from exc


def _sdk_failure(exc: BaseException) -> BaseException:
    """An ``openai`` client's failure in this module's terms (one family for retry.py)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        return HTTPStatusError(exc.status_code, dict(response.headers), response.content or b"")
    if isinstance(exc, openai.APITimeoutError):
        return TimeoutError(str(exc))
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        if type(cause).__name__ in ("ConnectError", "ConnectTimeout"):
            return ConnectFailed(f"{cause}")
        return aiohttp.ClientConnectionError(f"{cause or exc}")
    return exc
