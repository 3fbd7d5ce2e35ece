"""A fault-injecting HTTP proxy for tests: put it between a client and any OpenAI-compatible server.

:class:`FaultProxy` listens on ``127.0.0.1`` (a free port), forwards every request to an upstream
base URL (a real llama.cpp or vLLM server, or an :class:`~langgraph_ttc.testing.instant_server.InstantServer`)
and, following a *fault schedule*, makes chosen POST requests fail the way flaky endpoints do. The
faults and their replies are those of :class:`~langgraph_ttc.testing.instant_server.InstantServer` (the same
names, bodies and headers), plus ``"truncate"``, which only a proxy can do well:

* ``"429"`` / ``"503"`` (with ``Retry-After`` / ``retry-after-ms`` when the :class:`Fault` says so),
  ``"500"``, ``"400"``, ``"401"``, ``"echo_auth"``: answered by the proxy; upstream never sees them.
* ``"drop"``: the connection is closed without an answer. ``"malformed"``: 200 with a non-JSON body.
* ``"hang"``: held ``hang_s`` seconds (released at once by :meth:`FaultProxy.stop`), then forwarded.
* ``"empty"``: forwarded, and upstream's answer is relayed with ``choices: []``.
* ``"truncate"``: forwarded, and the connection is dropped mid-response (status line, headers with
  the full ``Content-Length`` and half of upstream's body are sent).

The schedule is a list (entry ``i`` is the fault of the ``i``-th POST; past its end, or ``None``,
requests pass through) or a callable ``(index, body) -> fault or None``. Faults queued with
:meth:`FaultProxy.inject` go first. Every wait is bounded (``hang_s``, ``upstream_timeout_s``) so the
proxy can always be stopped.

Example:
    >>> import json, urllib.request
    >>> from langgraph_ttc.testing.instant_server import InstantServer
    >>> with InstantServer() as upstream, FaultProxy(upstream.base_url, ["503", None]) as proxy:
    ...     body = json.dumps({"model": "m", "prompt": "2+2?", "seed": 1}).encode()
    ...     request = urllib.request.Request(proxy.base_url + "/completions", body)
    ...     try:
    ...         urllib.request.urlopen(request)
    ...     except urllib.error.HTTPError as err:
    ...         print(err.code)
    ...     reply = json.load(urllib.request.urlopen(request))
    ...     len(reply["choices"]), proxy.stats.requests, proxy.stats.forwarded, upstream.stats.requests
    503
    (1, 2, 1, 1)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from langgraph_ttc.testing.instant_server import (
    FAULTS,
    LoopbackServer,
    ServerStats,
    _Handler,
    _Server,
)

__all__ = ["PROXY_FAULTS", "Fault", "FaultProxy", "ProxyStats"]

PROXY_FAULTS: tuple[str, ...] = (*FAULTS, "truncate")
"""Every fault a :class:`FaultProxy` can inject: those of ``InstantServer`` plus ``"truncate"``."""

# Faults answered by the proxy itself, exactly as InstantServer answers them.
_LOCAL = frozenset({"429", "500", "503", "400", "401", "echo_auth", "drop", "malformed"})
_FORWARDED_HEADERS = ("Content-Type", "Authorization", "Accept")


@dataclass(frozen=True)
class Fault:
    """One injected fault and its options.

    Args:
        kind: one of :data:`PROXY_FAULTS`.
        retry_after: for ``"429"``/``"503"``, the ``Retry-After`` header in seconds.
        retry_after_ms: for ``"429"``/``"503"``, the ``retry-after-ms`` header.
        hang_s: for ``"hang"``, how long to hold the request before forwarding it.

    Example:
        >>> Fault("429", retry_after=0.05).kind
        '429'
    """

    kind: str
    retry_after: float | None = None
    retry_after_ms: float | None = None
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in PROXY_FAULTS:
            raise ValueError(
                f"Unknown fault {self.kind!r}; choose one of {', '.join(PROXY_FAULTS)}."
            )
        if self.hang_s < 0:
            raise ValueError(f"hang_s must be >= 0; got {self.hang_s}.")

    def options(self) -> dict:
        """The options dict ``InstantServer``'s handler reads."""
        return {
            "retry_after": self.retry_after,
            "retry_after_ms": self.retry_after_ms,
            "hang_s": self.hang_s,
        }


FaultSpec = Fault | str | None
Schedule = Sequence[FaultSpec] | Callable[[int, dict], FaultSpec]


@dataclass
class ProxyStats(ServerStats):
    """What the proxy saw. ``requests`` counts POSTs (one per client attempt), ``faults`` the
    fault applied to each ("" for none), ``forwarded`` the requests relayed upstream (GETs too)
    and ``upstream_errors`` those upstream did not answer."""

    forwarded: int = 0
    upstream_errors: int = 0


class FaultProxy(LoopbackServer):
    """A threaded HTTP proxy on 127.0.0.1 that injects faults into requests to ``upstream``.

    Args:
        upstream: the upstream API root, e.g. ``"http://127.0.0.1:8000/v1"``. The proxy serves
            the same paths, so :attr:`base_url` ends with the same suffix.
        schedule: which fault each POST gets (see the module docstring); default none.
        upstream_timeout_s: timeout of one upstream request (bounds every forwarded request).
        port: port to bind on 127.0.0.1 (0 picks a free one).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        upstream: str,
        schedule: Schedule | None = None,
        *,
        upstream_timeout_s: float = 60.0,
        port: int = 0,
    ) -> None:
        parts = urlsplit(upstream.rstrip("/"))
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL; got {upstream!r}.")
        self.upstream = upstream.rstrip("/")
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self.upstream_timeout_s = upstream_timeout_s
        self.schedule: Schedule = schedule if schedule is not None else ()
        self.stats = ProxyStats()
        self._injected: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._path = parts.path
        self._bind(port, _ProxyHandler)

    # -- faults ---------------------------------------------------------------------------
    def inject(self, fault: Fault | str, *, times: int = 1) -> None:
        """Make the next ``times`` POSTs fail with ``fault``, before the schedule is consulted."""
        fault = _as_fault(fault)
        if fault is None:
            raise ValueError("inject needs a fault.")
        with self._lock:
            self._injected.extend(fault for _ in range(times))

    def _register(self, body: dict, auth: str | None) -> Fault | None:
        """Count one POST and decide its fault (a callable schedule is called under the lock,
        so it sees indices in arrival order)."""
        with self._lock:
            index = self.stats.requests
            self.stats.requests += 1
            self.stats.bodies.append(body)
            self.stats.auth_headers.append(auth)
            if self._injected:
                fault: Fault | None = self._injected.popleft()
            elif callable(self.schedule):
                fault = _as_fault(self.schedule(index, body))
            else:
                fault = _as_fault(self.schedule[index]) if index < len(self.schedule) else None
            self.stats.faults.append(fault.kind if fault else "")
            return fault

    # -- upstream -------------------------------------------------------------------------
    def _forward(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request upstream; a 502 JSON error if upstream does not answer."""
        connection = http.client.HTTPConnection(
            self._upstream_host, self._upstream_port, timeout=self.upstream_timeout_s
        )
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() in ("content-type", "retry-after", "retry-after-ms")
            }
            with self._lock:
                self.stats.forwarded += 1
            return response.status, kept, data
        except (OSError, http.client.HTTPException) as exc:
            with self._lock:
                self.stats.upstream_errors += 1
            message = f"Upstream {self.upstream} did not answer: {type(exc).__name__}: {exc}"
            payload = json.dumps({"error": {"message": message}}).encode()
            return 502, {"Content-Type": "application/json"}, payload
        finally:
            connection.close()


def _as_fault(spec: FaultSpec) -> Fault | None:
    if spec is None or spec == "":
        return None
    return spec if isinstance(spec, Fault) else Fault(str(spec))


class _ProxyHandler(_Handler):
    """Forwards to upstream; injected faults reuse InstantServer's handler code."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        proxy: FaultProxy = self.server.app  # type: ignore[assignment]
        self._relay(*proxy._forward("GET", self.path, b"", self._upstream_headers()))

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        proxy: FaultProxy = self.server.app  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        fault = proxy._register(body, self.headers.get("Authorization"))
        with proxy._lock:
            stats = proxy.stats  # a reset while this request runs must not skew the new stats
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            self._answer_post(proxy, raw, body, fault)
        finally:
            with proxy._lock:
                stats.in_flight -= 1

    def _answer_post(self, proxy: FaultProxy, raw: bytes, body: dict, fault: Fault | None) -> None:
        if fault is not None and fault.kind in _LOCAL:
            # InstantServer's own fault replies; "empty" and "hang" never reach its handler.
            self._answer(proxy, body, (fault.kind, fault.options()))  # type: ignore[arg-type]
            return
        if fault is not None and fault.kind == "hang" and proxy._closing.wait(fault.hang_s):
            return  # stopping: release the request without an answer
        status, headers, data = proxy._forward("POST", self.path, raw, self._upstream_headers())
        if fault is None or fault.kind == "hang":
            self._relay(status, headers, data)
        elif fault.kind == "empty":
            self._relay(status, headers, _without_choices(data))
        else:  # truncate: promise the whole body, send half, drop the connection
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

    def _upstream_headers(self) -> dict[str, str]:
        return {k: self.headers[k] for k in _FORWARDED_HEADERS if self.headers.get(k)}

    def _relay(self, status: int, headers: dict[str, str], data: bytes) -> None:
        content_type = headers.pop("Content-Type", None) or headers.pop(
            "content-type", "application/json"
        )
        self._send_raw(status, data, content_type, headers)


def _without_choices(data: bytes) -> bytes:
    """Upstream's JSON answer with ``choices: []`` (unchanged if it is not a JSON object)."""
    try:
        answer = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return data
    if isinstance(answer, dict):
        answer["choices"] = []
    return json.dumps(answer).encode()
