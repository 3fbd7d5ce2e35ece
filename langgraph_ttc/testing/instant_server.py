"""An instant, in-process OpenAI-compatible server for tests and benchmarks.

:class:`InstantServer` answers ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models`` on
``127.0.0.1`` from a background thread, without any model: the reply text is a pure function of
(prompt, seed, choice index), so tests are reproducible. It can behave like vLLM (honours ``n``)
or like llama.cpp (ignores ``n`` and returns one choice), and it can be told to inject faults into
the next requests (rate limits, server errors, hangs, dropped connections, malformed bodies) so
retry and failure handling can be tested against a real HTTP stack.

Example:
    >>> import json, urllib.request
    >>> with InstantServer(honour_n=False) as server:
    ...     server.inject("429", times=1, retry_after=0.01)
    ...     body = json.dumps({"model": "m", "prompt": "Q: 1+1?\\nA:", "n": 3, "seed": 7}).encode()
    ...     request = urllib.request.Request(server.base_url + "/completions", body)
    ...     try:
    ...         urllib.request.urlopen(request)
    ...     except urllib.error.HTTPError as err:
    ...         print(err.code, err.headers["Retry-After"])
    ...     reply = json.load(urllib.request.urlopen(request))
    ...     len(reply["choices"]), server.stats.requests
    429 0.01
    (1, 2)

Reasoning mode (``reasoning="vllm"``, ``"vllm-legacy"``, ``"vllm-raw"`` or ``"openai"``): the
model thinks before it answers, and replies carry the thinking as vLLM (with and without a
reasoning parser) and OpenAI's reasoning models return it, whole and streamed (see
:mod:`langgraph_ttc.testing._instant_reasoning`).

Faults (see :meth:`InstantServer.inject`):
    ``"429"`` (with ``Retry-After`` / ``retry-after-ms``), ``"500"``, ``"503"``, ``"400"``, ``"401"``,
    ``"echo_auth"`` (a 400 whose body echoes the request's ``Authorization`` header, to check that
    clients redact secrets), ``"hang"`` (no answer for ``hang_s`` seconds), ``"drop"`` (close the
    connection without answering), ``"malformed"`` (200 with a body that is not JSON),
    ``"empty"`` (200 with ``choices: []``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langgraph_ttc.testing import _instant_reasoning as thinking

__all__ = ["FAULTS", "InstantServer", "ServerStats", "default_reply"]

FAULTS: tuple[str, ...] = (
    "429",
    "500",
    "503",
    "400",
    "401",
    "echo_auth",
    "hang",
    "drop",
    "malformed",
    "empty",
)


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def default_reply(prompt: str, seed: int | None, index: int) -> str:
    """The server's reply: a pure function of (prompt, seed, choice index).

    Example:
        >>> default_reply("2+2?", 1, 0) == default_reply("2+2?", 1, 0)
        True
    """
    value = _stable_int(prompt, seed, index) % 100
    return f"Let me think step by step. The answer is {value}."


@dataclass
class ServerStats:
    """What the server saw. ``bodies`` holds the JSON body of every POST, in arrival order."""

    requests: int = 0
    faults: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    streamed_tokens: int = 0  # tokens sent on streams before they ended or the client left
    streams_cut: int = 0  # streams the client closed before the last token


class LoopbackServer:
    """An HTTP server on 127.0.0.1 in a background thread: start/stop and context manager.

    Subclasses call :meth:`_bind` with their request handler; ``_closing`` is set on stop so
    handlers that wait (hang faults, delays) are released at once.
    """

    _path = "/v1"

    def _bind(self, port: int, handler: type) -> None:
        self._closing = threading.Event()
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._httpd.app = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self._path}"

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; hanging requests are released at once."""
        self._closing.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class InstantServer(LoopbackServer):
    """A minimal OpenAI-compatible HTTP server running in a background thread.

    Args:
        honour_n: if False, every request gets one choice whatever its ``n`` (like llama.cpp).
        max_n: if set, at most this many choices per request (like a server capping ``n``).
        model: the model id listed at ``/v1/models``.
        reply: pure function (prompt, seed, choice index) -> text.
        delay_s: latency added to every successful answer (to observe concurrency).
        token_delay_s: on streamed replies (``stream=True``), the time between tokens (to see
            that a stream the client closes stops costing tokens: ``stats.streamed_tokens``).
        cached_tokens: reported as ``usage.prompt_tokens_details.cached_tokens`` when > 0.
        port: port to bind on 127.0.0.1 (0 picks a free one).
        reasoning: serve a reasoning model, its replies shaped as ``"vllm"`` (``reasoning``
            field), ``"vllm-legacy"`` (``reasoning_content``), ``"vllm-raw"`` (``<think>`` in
            the text) or ``"openai"`` (hidden, ``reasoning_tokens`` in usage); replaces
            ``reply``.
        gate: hold every answer until this many requests have been in flight at once (since
            the stats were last reset), for at most ``gate_timeout_s``: requests sent in
            parallel pass at once, requests sent one after another wait out the timeout and
            ``stats.max_in_flight`` stays below ``gate``, however fast the machine. 0: no gate.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. ``base_url`` ends with
    ``/v1``. Token counts are whitespace-separated words.
    """

    def __init__(
        self,
        *,
        honour_n: bool = True,
        max_n: int | None = None,
        model: str = "instant",
        reply: Callable[[str, int | None, int], str] = default_reply,
        delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        cached_tokens: int = 0,
        port: int = 0,
        reasoning: str | None = None,
        gate: int = 0,
        gate_timeout_s: float = 30.0,
    ) -> None:
        if reasoning is not None and reasoning not in thinking.REASONING_MODES:
            raise ValueError(
                f"Unknown reasoning mode {reasoning!r}; choose one of "
                f"{', '.join(thinking.REASONING_MODES)}."
            )
        self.reasoning = reasoning
        self.honour_n = honour_n
        self.max_n = max_n
        self.model = model
        self.reply = reply
        self.delay_s = delay_s
        self.token_delay_s = token_delay_s
        self.cached_tokens = cached_tokens
        self.stats = ServerStats()
        self.gate = gate
        self.gate_timeout_s = gate_timeout_s
        self._faults: deque[tuple[str, dict]] = deque()
        self._lock = threading.Lock()
        self._in_flight_changed = threading.Condition(self._lock)
        self._unseeded = 0
        self._bind(port, _Handler)

    # -- faults ---------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        times: int = 1,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        hang_s: float = 30.0,
    ) -> None:
        """Make the next ``times`` POST requests fail with ``fault`` (queued after earlier faults).

        Args:
            fault: one of :data:`FAULTS`.
            retry_after: for ``"429"``/``"503"``, the ``Retry-After`` header in seconds.
            retry_after_ms: for ``"429"``/``"503"``, the ``retry-after-ms`` header.
            hang_s: for ``"hang"``, how long to hold the request before answering normally.
        """
        if fault not in FAULTS:
            raise ValueError(f"Unknown fault {fault!r}; choose one of {', '.join(FAULTS)}.")
        options = {"retry_after": retry_after, "retry_after_ms": retry_after_ms, "hang_s": hang_s}
        with self._lock:
            self._faults.extend((fault, options) for _ in range(times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self) -> tuple[str, dict] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # -- answering ------------------------------------------------------------------------
    def _wait_for_gate(self) -> None:
        """Hold a request until ``gate`` requests have been in flight at once (see ``gate``)."""
        deadline = time.monotonic() + self.gate_timeout_s
        with self._in_flight_changed:
            while self.stats.max_in_flight < self.gate and not self._closing.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._in_flight_changed.wait(min(left, 0.05))

    def _completion_body(self, path: str, body: dict) -> dict[str, Any]:
        chat = path.endswith("/chat/completions")
        if chat:
            prompt = "\n".join(_content_text(m.get("content")) for m in body.get("messages", []))
        else:
            prompt = body.get("prompt", "")
            if isinstance(prompt, list):
                prompt = "".join(map(str, prompt))
        seed = body.get("seed")
        if seed is None:
            with self._lock:
                self._unseeded += 1
                seed_key: object = f"unseeded-{self._unseeded}"
        else:
            seed_key = seed
        n = int(body.get("n") or 1) if self.honour_n else 1
        if self.max_n is not None:
            n = min(n, self.max_n)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        tools = body.get("tools") or []
        choices, raws, completion_tokens, reasoning_tokens = [], [], 0, 0
        for index in range(n):
            if self.reasoning:
                text = thinking.raw_reply(
                    prompt,
                    seed_key,
                    index,
                    chat=chat,
                    budget=body.get("thinking_token_budget") if "vllm" in self.reasoning else None,
                    effort=body.get("reasoning_effort") or "medium"
                    if self.reasoning == "openai"
                    else None,
                )
            else:
                text = self.reply(prompt, seed_key, index)  # type: ignore[arg-type]
            finish = "stop"
            for stop in stops:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            lead = text[: len(text) - len(text.lstrip(" "))]  # a continuation's leading space
            words = text[len(lead) :].split(" ")
            if max_tokens is not None and len(words) > max_tokens:
                text, finish = lead + " ".join(words[:max_tokens]), "length"
            tokens = len(text.split())
            completion_tokens += tokens
            raws.append(text)  # what the model generated, for a streamed reply
            choice: dict[str, Any] = {"index": index, "finish_reason": finish}
            rows = [
                _logprob_row(seed_key, index, i, int(body.get("top_logprobs") or 0) if chat
                             else int(body.get("logprobs") or 0))
                for i in range(tokens)
            ]  # fmt: skip
            logprobs = [row[0] for row in rows]
            if chat:
                message: dict[str, Any] = {"role": "assistant", "content": text}
                if self.reasoning:
                    message, hidden = thinking.chat_message(text, self.reasoning)
                    reasoning_tokens += hidden
                if tools:
                    name = tools[0].get("function", {}).get("name", "tool")
                    message["tool_calls"] = [
                        {
                            "id": f"call_{seed_key}_{index}",
                            "type": "function",
                            "function": {
                                "name": name,
                                "arguments": json.dumps({"seed": seed, "index": index}),
                            },
                        }
                    ]
                    choice["finish_reason"] = "tool_calls"
                choice["message"] = message
                if body.get("logprobs"):
                    choice["logprobs"] = {
                        "content": [
                            {
                                "token": w,
                                "logprob": row[0],
                                "top_logprobs": [
                                    {"token": f"{w}~{j}", "logprob": lp}
                                    for j, lp in enumerate(row[1])
                                ],
                            }
                            for w, row in zip(text.split(), rows, strict=True)
                        ]
                    }
            else:
                choice["text"] = text
                if body.get("logprobs") is not None:
                    choice["logprobs"] = {
                        "tokens": text.split(),
                        "token_logprobs": logprobs,
                        "text_offset": [],
                        "top_logprobs": [
                            {f"{w}~{j}": lp for j, lp in enumerate(row[1])}
                            for w, row in zip(text.split(), rows, strict=True)
                        ],
                    }
            choices.append(choice)
        prompt_tokens = len(prompt.split())
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {
                "cached_tokens": min(self.cached_tokens, prompt_tokens)
            }
        if self.reasoning == "openai" and chat:
            usage["completion_tokens_details"] = {
                "reasoning_tokens": reasoning_tokens,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        return {
            "id": f"cmpl-{self.stats.requests}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": choices,
            "usage": usage,
            "_raw": raws,  # not sent: each choice's generated text (thinking included)
        }


def _logprob_row(seed_key: object, index: int, position: int, k: int) -> tuple:
    """A token's log-probability and, for ``k`` alternatives, the top-k (descending; the sampled
    token first): deterministic, so confidence methods can be tested end to end."""
    top = -0.1 * (1 + _stable_int(seed_key, index, position) % 10)
    rest = max(1.0 - math.exp(top), 1e-9)
    alternatives = [top] + [math.log(rest / max(k - 1, 1))] * max(k - 1, 0)
    return top, tuple(alternatives[:k]) if k else ()


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _logprob_entries(choice: dict, chat: bool):
    """Per-token log-prob entries of a choice, to slice into stream chunks."""
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None
    if chat:
        return logprobs["content"]
    return {k: logprobs[k] for k in ("tokens", "token_logprobs", "top_logprobs")}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    app: InstantServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as production servers (uvicorn) set it: otherwise Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive reply and swamp what is measured.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        app = self.server.app
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [{"id": app.model, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"No route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "Request body is not JSON."}})
            return
        fault = app._next_fault()
        with app._lock:
            # The stats this request counts in: if they are replaced (reset) while it is
            # answered, its end must not be subtracted from the new ones.
            stats = app.stats
            stats.requests += 1
            stats.bodies.append(body)
            stats.auth_headers.append(self.headers.get("Authorization"))
            stats.faults.append(fault[0] if fault else "")
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            app._in_flight_changed.notify_all()
        try:
            if app.gate:
                app._wait_for_gate()
            self._answer(app, body, fault)
        finally:
            with app._lock:
                stats.in_flight -= 1

    def _answer(self, app: InstantServer, body: dict, fault: tuple[str, dict] | None) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/completions"):
            self._send_json(404, {"error": {"message": f"No route {self.path}"}})
            return
        if fault is not None:
            kind, options = fault
            if kind == "hang":
                if app._closing.wait(options["hang_s"]):
                    return
            elif kind == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            elif kind == "malformed":
                self._send_raw(200, b'{"choices": [ this is not json', "application/json")
                return
            elif kind == "empty":
                answer = app._completion_body(self.path, body)
                answer.pop("_raw")
                answer["choices"] = []
                self._send_json(200, answer)
                return
            elif kind == "echo_auth":
                auth = self.headers.get("Authorization")
                self._send_json(400, {"error": {"message": f"Bad request; you sent {auth}"}})
                return
            else:
                headers = {}
                if options["retry_after"] is not None:
                    headers["Retry-After"] = f"{options['retry_after']:g}"
                if options["retry_after_ms"] is not None:
                    headers["retry-after-ms"] = f"{options['retry_after_ms']:g}"
                message = {
                    "429": "Rate limit reached.",
                    "500": "Internal error.",
                    "503": "Overloaded.",
                    "400": "Invalid request.",
                    "401": "Incorrect API key provided.",
                }[kind]
                self._send_json(int(kind), {"error": {"message": message}}, headers)
                return
        if app.delay_s:
            app._closing.wait(app.delay_s)
        answer = app._completion_body(self.path, body)
        raws = answer.pop("_raw")
        if body.get("stream"):
            self._stream(app, answer, raws, body)
            return
        self._send_json(200, answer)

    def _stream(self, app: InstantServer, answer: dict, raws: list[str], body: dict) -> None:
        """The reply as server-sent events, one token per chunk (``token_delay_s`` apart), then
        the usage chunk when ``stream_options.include_usage``; stops when the client leaves.
        A reasoning model's tokens go out as its server streams them
        (:func:`~langgraph_ttc.testing._instant_reasoning.stream_pieces`)."""
        chat = answer["object"] == "chat.completion"
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for choice, raw in zip(answer["choices"], raws, strict=True):
                if chat:
                    pieces = thinking.stream_pieces(raw, app.reasoning)
                else:  # the completions endpoint runs no reasoning parser
                    pieces = [("text", piece) for _, piece in thinking.stream_pieces(raw, None)]
                entries = _logprob_entries(choice, chat)
                for i, (field_name, piece) in enumerate(pieces):
                    if app.token_delay_s and app._closing.wait(app.token_delay_s):
                        return
                    if field_name is not None:  # else generated but not sent (a think tag)
                        delta: dict[str, Any] = {"index": choice["index"], "finish_reason": None}
                        if chat:
                            delta["delta"] = {field_name: piece}
                            if entries is not None:
                                delta["logprobs"] = {"content": entries[i : i + 1]}
                        else:
                            delta["text"] = piece
                            if entries is not None:
                                delta["logprobs"] = {k: v[i : i + 1] for k, v in entries.items()}
                        self._event({"choices": [delta]})
                    with app._lock:
                        app.stats.streamed_tokens += 1
                end = {"index": choice["index"], "finish_reason": choice["finish_reason"]}
                end["delta" if chat else "text"] = {} if chat else ""
                self._event({"choices": [end]})
            if (body.get("stream_options") or {}).get("include_usage"):
                self._event({"choices": [], "usage": answer["usage"]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            with app._lock:
                app.stats.streams_cut += 1

    def _event(self, payload: dict) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, content_type: str, headers: dict | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
