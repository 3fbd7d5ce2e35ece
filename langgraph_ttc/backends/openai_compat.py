"""Any OpenAI-compatible server: vLLM, llama.cpp's server, OpenAI itself, proxies.

One :meth:`~OpenAICompatibleBackend.asample` call sends ONE request with ``n=n``. Servers that
ignore ``n`` (llama.cpp returns a single choice) are noticed on the first reply: the missing
samples are topped up with concurrent single-choice requests, and the backend remembers that the
server ignores ``n`` so later calls go straight to concurrent single requests. All requests to the
endpoint share one concurrency limit (``max_concurrency``).

A draw is written once, as a coroutine (requests: :mod:`~langgraph_ttc.backends.openai_requests`;
streams: :mod:`~langgraph_ttc.backends.openai_streamed`), run for blocking and async callers alike
on the process's backend loop over one aiohttp session per backend
(:mod:`~langgraph_ttc.backends.http_client`): :meth:`~OpenAICompatibleBackend.sample` waits for
it, :meth:`~OpenAICompatibleBackend.asample` awaits it from any event loop. Neither starts an
event loop or a thread per call, and ``max_concurrency`` is one limit whatever mix of threads and
loops uses the backend. Every request (non-streamed, streamed, the model listing, through a
proxy) goes over that session, or through a user's ``openai`` client when one is given.

Seeds: request ``i`` carries ``params.seed_for(i)`` where ``i`` is the index of its first sample,
so every sample of a draw has a distinct, reproducible seed. With a server that honours ``n``
(vLLM), one request returns several samples: the seed applies to the whole request and the server
draws its choices from that one seeded generator, so they still differ from each other and
reproduce together. ``Completion.seed`` records the nominal per-sample seed ``seed_for(i)``.

Retries (tenacity is the only retry layer; give a user's openai client ``max_retries=0``): rate
limits (429, honouring ``Retry-After`` / ``retry-after-ms``, capped), 408/409, 5xx, timeouts,
dropped connections, malformed or empty replies; 307/308 are followed; bounded by ``max_retries`` AND ``max_retry_seconds``.
Other 4xx fail at once. A request that finally fails gives its samples back as
``Completion(error=...)``. Until a first request has succeeded, a failure that means the
endpoint itself is wrong (connection refused, unknown host, connect timeout; HTTP 401/403/404:
bad key, wrong path or model name) raises :class:`~langgraph_ttc.errors.BackendUnavailable`
naming the URL, within about ``CONNECT_TIMEOUT_S`` seconds.
The API key and ``Authorization`` header are redacted from every error message and log line.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.utils.function_calling import convert_to_openai_tool
from tenacity import RetryCallState

from langgraph_ttc.backends.base import (
    Backend,
    Completion,
    Draw,
    SamplingParams,
    StopTrace,
    Until,
)
from langgraph_ttc.backends.event_loop import run_blocking, run_on_backend_loop
from langgraph_ttc.backends.http_client import (
    HTTPOptions,
    SDKWire,
    Wire,
    checked_api_key,
    checked_base_url,
)
from langgraph_ttc.backends.openai_requests import (
    Result,
    Spec,
    deadline_after,
    request_round,
    retry_options,
)
from langgraph_ttc.backends.openai_streamed import sample_streamed
from langgraph_ttc.backends.openai_wire import completions_from, request_body, usage_from
from langgraph_ttc.backends.reasoning import (
    ThinkingControl,
    detect_control,
    thinking_fields,
    warn_once,
)
from langgraph_ttc.backends.retry import (
    backoff_seconds,
    describe_failure,
    is_connect_failure,
    is_endpoint_failure,
    redact,
    retry_after_seconds,
    status_code,
)
from langgraph_ttc.backends.slots import Slots
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # Bounds how long an unreachable endpoint takes to be reported.
AUTO_MODEL = "auto"  # Model name meaning: ask the server's /models and use the model it serves.

__all__ = ["OpenAICompatibleBackend", "retry_after_seconds"]


@dataclass
class _Shared:
    """What a backend and its copies (``with_tools``) share: what was learned about the server,
    the connection pool and the concurrency limit (both on the backend loop)."""

    honours_n: bool | None
    model: str
    max_concurrency: int
    reasoning: bool | None = None  # told, or learned from a first reply that carried thinking
    verified: bool = False  # a request has succeeded: the URL, key and model are right
    lock: threading.Lock = field(default_factory=threading.Lock)
    wire: Wire | SDKWire | None = None
    slots: Slots | None = None  # max_concurrency, across loops and threads
    slots_pid: int | None = None  # a forked child gets its own (the parent's holders are not its)


class OpenAICompatibleBackend(Backend):
    """Samples from an OpenAI-compatible HTTP server with ``n=``, top-up, retries and seeds.

    Args:
        base_url: the server's API root, e.g. ``"http://127.0.0.1:8000/v1"``.
        model: the served model name; ``"auto"`` asks the server's ``/models`` on first use.
        api_key: defaults to ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local servers ignore it).
        mode: ``"chat"`` uses ``/chat/completions``; ``"completion"`` uses ``/completions`` with
            the messages rendered as a few-shot transcript (for base models without a chat
            template); its stops default to ``TRANSCRIPT_STOPS``.
        max_concurrency: most requests in flight to this endpoint at once.
        timeout_s: timeout of one HTTP attempt.
        max_retries: retries after the first attempt of a request.
        max_retry_seconds: total time one request may spend retrying.
        vllm_extras: send ``top_k``, ``min_p`` (and ``include_stop_str_in_output``) via
            ``extra_body``; vLLM understands them, OpenAI rejects them.
        honours_n: whether the server honours ``n``; ``None`` = find out on the first
            multi-sample request (then remembered, also by copies from :meth:`with_tools`).
        tools: OpenAI tool schemas (or LangChain tools / functions) offered in chat mode.
        extra_body: extra JSON fields sent with every request.
        include_stop_str_in_output: vLLM only (needs ``vllm_extras``): keep the matched stop.
        reasoning: the model thinks before it answers: requests ask for ``max_tokens`` plus
            room to think (``thinking_budget``, default ``DEFAULT_THINKING_TOKENS``). ``None``
            finds out from the first reply that carries thinking (then remembered).
        thinking_control: how the server takes ``SamplingParams.thinking_budget``: ``"vllm"``
            (``thinking_token_budget``), ``"llama.cpp"`` (``thinking_budget_tokens``) or
            ``"openai"`` (``reasoning_effort``); default: ``"openai"`` for api.openai.com,
            ``"vllm"`` with ``vllm_extras``, else the budget only caps the total (said once).
            See :mod:`langgraph_ttc.backends.reasoning`.
        aiohttp: kept for compatibility and ignored: every request goes over aiohttp.
        verify: check the server's TLS certificate (``True``), not (``False``), or against the
            CA bundle at this path (a private CA, a corporate gateway).
        cert: a client certificate: one PEM file with certificate and key, or
            ``(certificate, key)`` paths.
        trust_env: use ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` from the environment.
        default_headers: headers sent with every request (Azure's ``api-key``, OpenRouter's
            ``HTTP-Referer``); a value with CR, LF or NUL fails here, naming the header.
        default_query: query parameters added to every URL (Azure's ``api-version``); a query
            in ``base_url`` is kept too.
        connect_timeout_s: most seconds to open a connection (TCP and TLS).
        read_timeout_s: most seconds between two reads of a reply (default: ``timeout_s``
            bounds the whole attempt; a stream's reads are bounded by ``timeout_s``).
        client: an ``openai.OpenAI`` or ``AsyncOpenAI`` client (Azure AD token providers, a
            custom ``httpx`` client): every request then goes through it, with its own URL,
            auth and transport (``base_url`` and the options above then do not apply; give it
            ``max_retries=0``, as retries are tenacity's here).

    Example:
        >>> from langgraph_ttc.testing.instant_server import InstantServer
        >>> with InstantServer(honour_n=False) as server:
        ...     backend = OpenAICompatibleBackend(server.base_url, "instant")
        ...     draw = backend.sample([("human", "2+2?")], n=3, params=SamplingParams(seed=0))
        >>> len(draw.completions), draw.requests, backend.honours_n
        (3, 3, False)
    """

    backoff_s: float = 0.5
    """First wait between retries without a Retry-After hint (doubles up to 16x, plus jitter)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        mode: Literal["chat", "completion"] = "chat",
        max_concurrency: int = 16,
        timeout_s: float = 60,
        max_retries: int = 4,
        max_retry_seconds: float = 120,
        vllm_extras: bool = False,
        honours_n: bool | None = None,
        tools: Sequence[Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        include_stop_str_in_output: bool = False,
        reasoning: bool | None = None,
        thinking_control: ThinkingControl | None = None,
        aiohttp: bool | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        trust_env: bool = True,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, str] | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float | None = None,
        client: Any = None,
    ) -> None:
        if mode not in ("chat", "completion"):
            raise TTCConfigError(f'mode must be "chat" or "completion"; got {mode!r}.')
        if max_concurrency < 1:
            raise TTCConfigError(f"max_concurrency must be >= 1; got {max_concurrency}.")
        if max_retries < 0 or max_retry_seconds < 0 or timeout_s <= 0:
            raise TTCConfigError(
                "max_retries and max_retry_seconds must be >= 0 and timeout_s > 0; got "
                f"{max_retries}, {max_retry_seconds}, {timeout_s}."
            )
        if not model:
            raise TTCConfigError(
                'OpenAICompatibleBackend needs a model name (the served name, or "auto").'
            )
        if client is not None:
            self._sdk = SDKWire(client)
            base_url = base_url or self._sdk.base_url
        else:
            self._sdk = None
        self.base_url = checked_base_url(base_url)
        self._api_key = checked_api_key(api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY")
        self.http_options = HTTPOptions(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            default_headers=dict(default_headers or {}),
            default_query=dict(default_query or {}),
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self.mode = mode
        self.needs_exemplars = mode == "completion"  # base models learn the format from examples
        self.max_concurrency = max_concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.max_retry_seconds = float(max_retry_seconds)
        self.vllm_extras = vllm_extras
        self.extra_body = dict(extra_body or {})
        self.include_stop_str_in_output = include_stop_str_in_output
        if tools and mode != "chat":
            raise TTCConfigError('Tools need mode="chat"; the completions endpoint has no tools.')
        self.tools: tuple[dict, ...] = _convert_tools(tools)
        self.thinking_control = detect_control(base_url, thinking_control, vllm_extras=vllm_extras)
        self.aiohttp = aiohttp
        self._shared = _Shared(
            honours_n=honours_n, model=model, max_concurrency=max_concurrency, reasoning=reasoning
        )

    # -- public properties ------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self._shared.model

    @property
    def model_id(self) -> str:  # type: ignore[override]
        return self._shared.model

    @property
    def honours_n(self) -> bool:  # type: ignore[override]
        """False once the server has been seen to ignore ``n`` (or was declared to); else True.

        Callers that batch on this flag thus try one ``n=`` request first; if the server ignores
        ``n``, that draw is topped up and later callers see False and fan out single requests.
        """
        return self._shared.honours_n is not False

    takes_thinking_budget = True  # mapped by thinking_control, or said once that it is not

    @property
    def reasoning(self) -> bool:  # type: ignore[override]
        """True when told so, or once a reply has carried thinking."""
        return self._shared.reasoning is True

    def __repr__(self) -> str:
        return (
            f"OpenAICompatibleBackend(base_url={self.base_url!r}, model={self.model!r}, "
            f"mode={self.mode!r}, honours_n={self._shared.honours_n!r})"
        )

    def with_tools(self, tools: Sequence[Any]) -> OpenAICompatibleBackend:
        """A copy that offers ``tools`` (OpenAI tool dicts, LangChain tools or functions).

        The copy shares this backend's connections, concurrency limit and what it learned.
        """
        if self.mode != "chat":
            raise TTCConfigError('Tools need mode="chat"; the completions endpoint has no tools.')
        clone = copy.copy(self)
        clone.tools = _convert_tools(tools)
        return clone

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """The base upper bound plus the bytes of tool schemas and tool calls sent along."""
        extra = len(json.dumps(self.tools).encode()) if self.tools else 0
        for message in messages:
            calls = getattr(message, "tool_calls", None)
            if calls:
                extra += len(json.dumps(calls, default=str).encode())
        return super().count_prompt_tokens(messages) + extra

    # -- sampling: the plan of a draw, then a blocking and an async body --------------------
    def _draw_rounds(self, n: int) -> Generator[list[Spec], list[Result], list[Result]]:
        """The requests of a draw of ``n``, round by round: one ``n=`` request, topped up with
        single requests if the server ignores ``n`` (remembered), asked again if it caps ``n``.
        Yields each round's (start, count) specs and receives their results."""
        shared = self._shared
        if n == 1 or shared.honours_n is False:
            return (yield [(i, 1) for i in range(n)])
        (first,) = yield [(0, n)]
        results = [first]
        got = len(first.completions)
        if first.failed:
            return results
        if got == 1 and n > 1:
            if shared.honours_n:
                logger.warning(
                    "%s returned 1 choice for n=%d; treating it as ignoring n.", self.base_url, n
                )
            shared.honours_n = False
            results += yield [(i, 1) for i in range(got, n)]
        elif got < n:  # The server caps n: ask again for what is missing.
            while got < n:
                (more,) = yield [(got, n - got)]
                results.append(more)
                got += len(more.completions)
                if more.failed:
                    break
        elif shared.honours_n is None:
            shared.honours_n = True
        return results

    gives_logprobs = True  # the server decides; vLLM and llama.cpp's server report them
    stops_traces = True  # streamed requests, closed mid-trace
    cancels = True  # streamed requests, closed when the draw's `until` fires

    def sample(
        self,
        messages: Sequence[BaseMessage],
        n: int,
        params: SamplingParams,
        *,
        timeout: float | None = None,
        stop_trace: StopTrace | None = None,
        until: Until | None = None,
    ) -> Draw:
        """Draw ``n`` samples (one ``n=`` request, topped up when the server ignores ``n``).

        ``timeout`` bounds the whole draw in seconds; samples not finished by then fail. With
        ``stop_trace`` or ``until`` every sample is its own streamed request, so it can end
        early (see :meth:`Backend.sample <langgraph_ttc.backends.base.Backend.sample>`). Runs
        :meth:`asample`'s body on the backend loop and waits for it.
        """
        if n <= 0:
            return Draw()
        return run_blocking(self._adraw(messages, n, params, timeout, stop_trace, until))

    async def asample(
        self,
        messages: Sequence[BaseMessage],
        n: int,
        params: SamplingParams,
        *,
        timeout: float | None = None,
        stop_trace: StopTrace | None = None,
        until: Until | None = None,
    ) -> Draw:
        """Async :meth:`sample`: awaits the same body, on the caller's loop once it has come
        back for a second draw (a long-lived loop), else on the backend loop (see
        :meth:`Wire.adopt <langgraph_ttc.backends.http_client.Wire.adopt>`)."""
        if n <= 0:
            return Draw()
        body = self._adraw(messages, n, params, timeout, stop_trace, until)
        wire = self._wire()
        if isinstance(wire, Wire) and await wire.adopt():
            return await body
        return await run_on_backend_loop(body)

    async def _adraw(self, messages, n, params, timeout, stop_trace, until) -> Draw:
        """The one body of a draw, on the backend loop or an adopted caller loop: rounds of
        requests, or streams."""
        deadline = deadline_after(timeout)
        listed = await self._resolve_model(deadline)
        if stop_trace is not None or until is not None:
            results = await sample_streamed(self, messages, n, params, deadline, stop_trace, until)
            return self._draw(results, n, listed)
        body = self._body(convert_to_messages(messages), params)
        rounds = self._draw_rounds(n)
        specs = next(rounds)
        while True:
            results = await request_round(self, body, specs, params, deadline)
            try:
                specs = rounds.send(results)
            except StopIteration as done:
                return self._draw(done.value, n, listed)

    def _draw(self, results: list[Result], n: int, listed: int) -> Draw:
        kept = sorted((r for r in results if not r.cancelled), key=lambda r: r.start)
        completions = [c for r in kept for c in r.completions]
        extra = {
            "honours_n": self._shared.honours_n,
            "failed_requests": sum(r.failed for r in results),
        }
        cancelled = sum(r.cancelled for r in results)
        if cancelled:
            extra["cancelled"] = cancelled
        return Draw(
            completions=tuple(completions[:n]),
            requests=listed + sum(r.attempts for r in results),
            prompt_tokens=sum(r.prompt_tokens for r in results),
            completion_tokens=sum(r.completion_tokens for r in results),
            cached_tokens=sum(r.cached_tokens for r in results),
            extra=extra,
            cancelled_thinking_tokens=sum(r.cancelled_thinking for r in results if r.cancelled),
        )

    def _body(self, messages: Sequence[BaseMessage], params: SamplingParams) -> dict[str, Any]:
        extra = dict(self.extra_body)
        if self.vllm_extras:
            if params.top_k is not None:
                extra["top_k"] = params.top_k
            if params.min_p is not None:
                extra["min_p"] = params.min_p
            if self.include_stop_str_in_output:
                extra["include_stop_str_in_output"] = True
        if params.thinking_budget is not None and self.thinking_control is None:
            warn_once(
                f"thinking-control:{self.base_url}",
                "%s cannot pass a thinking budget to %s: the budget only caps the total "
                "(max_tokens + thinking_budget). Pass thinking_control='vllm', 'llama.cpp' or "
                "'openai', or wrap a mode='completion' backend in BudgetForcingBackend(...).",
                type(self).__name__,
                self.base_url,
            )
        return request_body(
            messages,
            params,
            mode=self.mode,
            tools=self.tools,
            extra=extra,
            new_tokens=self.new_tokens(params),
            thinking=thinking_fields(self.thinking_control, params),
            openai_reasoning=self.thinking_control == "openai"
            and (self.reasoning or params.thinking_budget is not None),
        )

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.mode == "chat" else "/completions"

    def _retry_options(self, deadline: float | None, began: float) -> dict[str, Any]:
        return retry_options(self, deadline, began)

    def _check_endpoint(self, exc: BaseException) -> None:
        """Before any success, a failure that means the endpoint itself is wrong is final."""
        if not self._shared.verified and is_endpoint_failure(exc):
            raise self._unavailable(exc) from None

    def _result(
        self, reply: dict, start: int, count: int, params: SamplingParams, attempts: int, began
    ) -> Result:
        seeds = [params.seed_for(start + j) for j in range(count)]
        completions = completions_from(reply, count, seeds, time.monotonic() - began)
        self._learn_reasoning(completions, params)
        usage = usage_from(reply)
        return Result(
            start, count, attempts, completions, usage.prompt, usage.completion, usage.cached
        )

    def _learn_reasoning(self, completions: Sequence[Completion], params: SamplingParams) -> None:
        """A first reply that carries thinking tells a backend not told otherwise that it
        serves a reasoning model: later requests leave room to think (said once)."""
        if self._shared.reasoning is None and any(
            c.thinking is not None or c.thinking_tokens for c in completions
        ):
            self._shared.reasoning = True
            logger.warning(
                "%s serves a reasoning model (its reply carried thinking); later requests ask "
                "for max_tokens + %d tokens to think. Pass reasoning=True to start that way.",
                self.base_url,
                self.thinking_room(params) or self.default_thinking_tokens,
            )

    def _failed(
        self, exc: BaseException, start: int, count: int, params: SamplingParams, attempts, began
    ) -> Result:
        error = self._describe(exc)
        latency = time.monotonic() - began
        logger.warning("request to %s failed for good: %s", self.base_url, error)
        failed = [
            Completion(text="", seed=params.seed_for(start + j), latency_s=latency, error=error)
            for j in range(count)
        ]
        return Result(start, count, attempts, failed, failed=True)

    # -- the model name "auto" ----------------------------------------------------------------
    async def _resolve_model(self, deadline: float | None) -> int:
        """Replace the model name ``"auto"`` by the first model the server lists (1 request)."""
        if self._shared.model != AUTO_MODEL:
            return 0
        wire = self._wire()
        try:
            page = await wire.get_json(
                "/models", wire.attempt(_attempt_timeout(self.timeout_s, deadline))
            )
            ids = [m["id"] for m in page["data"]]
        except Exception as exc:
            raise self._listing_failed(exc) from None
        return self._use_listed(ids)

    def _listing_failed(self, exc: BaseException) -> BackendUnavailable:
        if is_connect_failure(exc):
            return self._unavailable(exc)
        return BackendUnavailable(
            f"Could not list the models served at {self.base_url}: {self._describe(exc)}. "
            "Pass the model name explicitly (model=... or TTC_MODEL)."
        )

    def _use_listed(self, ids: list[str]) -> int:
        if not ids:
            raise BackendUnavailable(
                f"The server at {self.base_url} lists no models; pass model=... explicitly."
            )
        self._shared.model = ids[0]
        logger.info("%s serves %s; using %s", self.base_url, ids, ids[0])
        return 1

    # -- the connection pool and the concurrency limit (on the backend loop) -------------------
    def _wire(self) -> Wire | SDKWire:
        """The backend's aiohttp session holder (or the user's ``openai`` client)."""
        shared = self._shared
        if shared.wire is None:
            with shared.lock:
                if shared.wire is None:
                    shared.wire = self._sdk or Wire(
                        self.base_url,
                        self.http_options,
                        api_key=self._api_key,
                        max_connections=shared.max_concurrency,
                    )
        return shared.wire

    def _slots(self) -> Slots:
        """The one concurrency limit of this backend and its copies, whichever loops and
        threads their requests run on."""
        shared = self._shared
        if shared.slots is None or shared.slots_pid != os.getpid():  # first use, or a fork
            with shared.lock:
                if shared.slots is None or shared.slots_pid != os.getpid():
                    shared.slots = Slots(shared.max_concurrency)
                    shared.slots_pid = os.getpid()
        return shared.slots

    async def aclose(self) -> None:
        """Close the backend's connections (it stays usable: they reopen on the next request):
        the backend loop's and, when this loop draws itself, this loop's."""
        wire = self._shared.wire
        if wire is not None:
            if isinstance(wire, Wire) and asyncio.get_running_loop() in wire._local:
                await wire.aclose()
            await run_on_backend_loop(wire.aclose())

    def close(self) -> None:
        """Blocking :meth:`aclose`."""
        wire = self._shared.wire
        if wire is not None:
            run_blocking(wire.aclose())

    # -- errors ------------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        if status_code(exc) is not None:
            return BackendUnavailable(
                f"The server at {self.base_url} refused the first request ({self._describe(exc)}). "
                f"Check the model name ({self.model!r}; the server's /models lists what it serves), "
                "the API key, and that base_url ends with /v1."
            )
        return BackendUnavailable(
            f"Cannot reach the OpenAI-compatible server at {self.base_url} "
            f"({self._describe(exc)}). Check that the server is running and that base_url "
            "(--base-url / TTC_BASE_URL) is right, including the /v1 suffix."
        )

    def _describe(self, exc: BaseException) -> str:
        """A short, secret-free description of a failure."""
        return redact(describe_failure(exc, self.timeout_s), self._api_key)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return backoff_seconds(exc, state.attempt_number, self.backoff_s)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.info(
            "retrying %s (attempt %d) in %.2fs after: %s",
            self.base_url,
            state.attempt_number,
            state.upcoming_sleep,
            self._describe(exc) if exc else "?",
        )


# -- pure helpers ---------------------------------------------------------------------------


def _attempt_timeout(timeout_s: float, deadline: float | None) -> float:
    if deadline is None:
        return timeout_s
    return max(min(timeout_s, deadline - time.monotonic()), 0.001)


def _checked_url(base_url: str) -> str:
    """Kept for callers of the old name: see
    :func:`~langgraph_ttc.backends.http_client.checked_base_url`."""
    return checked_base_url(base_url)


def _convert_tools(tools: Sequence[Any] | None) -> tuple[dict, ...]:
    if not tools:
        return ()
    converted = []
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "function":
            converted.append(dict(tool))  # already an OpenAI tool schema
            continue
        try:
            converted.append(convert_to_openai_tool(tool))
        except (ValueError, TypeError) as exc:
            raise TTCConfigError(
                f"Cannot use {tool!r} as a tool: {exc} Pass OpenAI tool dicts "
                '({"type": "function", "function": {...}}), LangChain tools or typed functions.'
            ) from None
    return tuple(converted)
