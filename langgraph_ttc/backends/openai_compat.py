"""Any OpenAI-compatible server: vLLM, llama.cpp's server, OpenAI itself, proxies.

One :meth:`~OpenAICompatibleBackend.asample` call sends ONE request with ``n=n``. Servers that
ignore ``n`` (llama.cpp returns a single choice) are noticed on the first reply: the missing
samples are topped up with concurrent single-choice requests, and the backend remembers that the
server ignores ``n`` so later calls go straight to concurrent single requests. All requests to the
endpoint share one concurrency limit (``max_concurrency``).

Blocking and async callers each get a real body; neither starts an event loop or a thread per
request. Non-streamed requests go through :mod:`~langgraph_ttc.backends.http_transport` (pooled
keep-alive connections, the JSON read raw, not as a pydantic model per choice):
:meth:`~OpenAICompatibleBackend.sample` sends a draw's concurrent requests at once from the
calling thread, :meth:`~OpenAICompatibleBackend.asample` as asyncio protocol exchanges. Streamed
requests, the model listing and requests through an HTTP proxy use the ``openai`` package's
``OpenAI`` / ``AsyncOpenAI`` clients (blocking streams on a small thread pool).

Seeds: request ``i`` carries ``params.seed_for(i)`` where ``i`` is the index of its first sample,
so every sample of a draw has a distinct, reproducible seed. With a server that honours ``n``
(vLLM), one request returns several samples: the seed applies to the whole request and the server
draws its choices from that one seeded generator, so they still differ from each other and
reproduce together. ``Completion.seed`` records the nominal per-sample seed ``seed_for(i)``.

Retries (tenacity is the only retry layer; the openai client's own retries are off): rate limits
(429, honouring ``Retry-After`` / ``retry-after-ms``, capped), 408/409, 5xx, timeouts, dropped
connections, malformed or empty replies; bounded by ``max_retries`` AND ``max_retry_seconds``.
Other 4xx fail at once. A request that finally fails gives its samples back as
``Completion(error=...)``. Until a first request has succeeded, a failure that means the
endpoint itself is wrong (connection refused, unknown host, connect timeout; HTTP 401/403/404:
bad key, wrong path or model name) raises :class:`~langgraph_ttc.errors.BackendUnavailable`
naming the URL, within about ``CONNECT_TIMEOUT_S`` seconds.
The API key and ``Authorization`` header are redacted from every error message and log line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.utils.function_calling import convert_to_openai_tool
from openai import APIStatusError, AsyncOpenAI, OpenAI, Timeout
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from langgraph_ttc.backends.base import (
    Backend,
    Completion,
    Draw,
    SamplingParams,
    StopTrace,
    Until,
)
from langgraph_ttc.backends.http_transport import (
    AsyncHTTPTransport,
    HTTPStatusFailure,
    HTTPTransport,
    proxied,
)
from langgraph_ttc.backends.openai_stream import StreamedReply, sse_data
from langgraph_ttc.backends.openai_wire import completions_from, request_body, usage_from
from langgraph_ttc.backends.reasoning import (
    ThinkingControl,
    detect_control,
    thinking_fields,
    warn_once,
)
from langgraph_ttc.backends.retry import (
    DeadlineExceeded,
    EmptyReply,
    backoff_seconds,
    describe_failure,
    is_connect_failure,
    is_endpoint_failure,
    is_retryable,
    redact,
    retry_after_seconds,
)
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError
from langgraph_ttc.extras import require

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # Bounds how long an unreachable endpoint takes to be reported.
AUTO_MODEL = "auto"  # Model name meaning: ask the server's /models and use the model it serves.

__all__ = ["OpenAICompatibleBackend", "retry_after_seconds"]

# A draw is planned as rounds of (first sample index, sample count) requests; see _draw_rounds.
Spec = tuple[int, int]


@dataclass
class _Result:
    """The outcome of one logical request (after retries) for ``count`` samples from ``start``."""

    start: int
    count: int
    attempts: int
    completions: list[Completion]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    failed: bool = False
    cancelled: bool = False  # ended by the draw's `until` before it finished: not returned
    cancelled_thinking: int = 0  # the thinking tokens a cancelled stream generated
    prompt_known: bool = True  # False: a cut stream, whose prompt count the server never sent


@dataclass
class _Shared:
    """What a backend and its copies (``with_tools``) share: what was learned about the server,
    the clients and the concurrency limit."""

    honours_n: bool | None
    model: str
    max_concurrency: int
    reasoning: bool | None = None  # told, or learned from a first reply that carried thinking
    verified: bool = False  # a request has succeeded: the URL, key and model are right
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: OpenAI | None = None
    transport: HTTPTransport | None = None  # non-streamed requests (None: not made yet)
    proxied: bool = False  # an HTTP proxy applies: non-streamed requests use `client`
    slots: threading.BoundedSemaphore | None = None
    pool: concurrent.futures.ThreadPoolExecutor | None = None
    on_loop: _LoopClients | None = None  # the current event loop's semaphore and clients


@dataclass
class _LoopClients:
    """What one event loop's requests use (asyncio objects belong to the loop that made them);
    closed together when that loop shuts down (see ``OpenAICompatibleBackend._aopen``)."""

    loop: Any
    slots: asyncio.Semaphore
    transport: AsyncHTTPTransport | None  # non-streamed requests; None when proxied
    client: AsyncOpenAI | None = None  # made on first use: streams, the model listing, proxies
    closer: Any = None

    async def aclose(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()
        if self.client is not None:
            await self.client.close()


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
        aiohttp: the transport of the async ``openai`` client (streamed requests, requests
            through a proxy, the model listing). ``None`` (default): aiohttp when it is
            installed (``pip install 'langgraph-ttc[aiohttp]'``; the ``openai`` client's
            ``DefaultAioHttpClient``), else httpx. ``True`` requires aiohttp; ``False`` keeps
            httpx. Either way each event loop's connections are closed when the loop shuts
            down (``asyncio.run`` closes them), or by :meth:`aclose`.

    Example:
        >>> from langgraph_ttc.testing_server import InstantServer
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
        self.base_url = _checked_url(base_url)
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
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
        if aiohttp:
            require("aiohttp", "aiohttp", "OpenAICompatibleBackend(aiohttp=True)")
            if not hasattr(openai, "DefaultAioHttpClient"):
                raise TTCConfigError(
                    f"aiohttp=True needs openai>=1.89 (DefaultAioHttpClient); this is openai "
                    f"{openai.__version__}: pip install -U 'langgraph-ttc[aiohttp]'."
                )
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
    def _draw_rounds(self, n: int) -> Generator[list[Spec], list[_Result], list[_Result]]:
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
        early (see :meth:`Backend.sample <langgraph_ttc.backends.base.Backend.sample>`).
        """
        if n <= 0:
            return Draw()
        deadline = _deadline(timeout)
        listed = self._resolve_model(deadline)
        if stop_trace is not None or until is not None:
            return self._sample_streamed(messages, n, params, deadline, stop_trace, until, listed)
        body = self._body(convert_to_messages(messages), params)
        rounds = self._draw_rounds(n)
        specs = next(rounds)
        while True:
            if len(specs) == 1:
                results = [self._request(body, *specs[0], params, deadline)]
            else:
                results = self._request_round(body, specs, params, deadline)
            try:
                specs = rounds.send(results)
            except StopIteration as done:
                return self._draw(done.value, n, listed)

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
        """Async :meth:`sample`."""
        if n <= 0:
            return Draw()
        deadline = _deadline(timeout)
        await self._aopen()
        listed = await self._aresolve_model(deadline)
        if stop_trace is not None or until is not None:
            return await self._asample_streamed(
                messages, n, params, deadline, stop_trace, until, listed
            )
        body = self._body(convert_to_messages(messages), params)
        rounds = self._draw_rounds(n)
        specs = next(rounds)
        while True:
            if len(specs) == 1:
                results = [await self._arequest(body, *specs[0], params, deadline)]
            else:
                results = await self._arequest_round(body, specs, params, deadline)
            try:
                specs = rounds.send(results)
            except StopIteration as done:
                return self._draw(done.value, n, listed)

    def _draw(self, results: list[_Result], n: int, listed: int) -> Draw:
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

    # -- streamed samples: each may end early -------------------------------------------------
    def _sample_streamed(self, messages, n, params, deadline, stop_trace, until, listed) -> Draw:
        messages = convert_to_messages(messages)
        body = self._stream_body(messages, params)
        cancel = threading.Event()
        pool = self._pool()
        futures = [
            pool.submit(self._stream, body, i, params, deadline, stop_trace, cancel)
            for i in range(n)
        ]
        results, finished = [], []
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            if not (result.cancelled or result.failed):
                finished += result.completions
                if until is not None and not cancel.is_set() and until(finished):
                    cancel.set()  # the rest end at their next token, or before they start
        return self._draw(self._fill_prompt_tokens(results, messages), n, listed)

    async def _asample_streamed(
        self, messages, n, params, deadline, stop_trace, until, listed
    ) -> Draw:
        messages = convert_to_messages(messages)
        body = self._stream_body(messages, params)
        cancel = asyncio.Event()
        tasks = [
            asyncio.ensure_future(self._astream(body, i, params, deadline, stop_trace, cancel))
            for i in range(n)
        ]
        results, finished = [], []
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                results.append(result)
                if not (result.cancelled or result.failed):
                    finished += result.completions
                    if until is not None and not cancel.is_set() and until(finished):
                        cancel.set()
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self._draw(self._fill_prompt_tokens(results, messages), n, listed)

    def _stream_body(self, messages: Sequence[BaseMessage], params: SamplingParams) -> dict:
        body = self._body(messages, params)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        return body

    def _fill_prompt_tokens(self, results: list[_Result], messages) -> list[_Result]:
        """A stream cut short never gets the usage chunk: its prompt (the same as the draw's
        other samples) is counted as a finished one reported it, else by the upper bound."""
        known = [r.prompt_tokens for r in results if r.prompt_known and r.attempts]
        estimate = known[0] if known else self.count_prompt_tokens(messages)
        for result in results:
            if not result.prompt_known and result.attempts:
                result.prompt_tokens = estimate
        return results

    def _stream(self, body, index, params, deadline, stop_trace, cancel) -> _Result:
        """One streamed sample: read token by token; stop when its watch says so, or when the
        draw is cancelled."""
        client, slots = self._client()
        endpoint = client.chat.completions if self.mode == "chat" else client.completions
        payload = self._payload(body, index, 1, params)
        reply, began, attempts = StreamedReply(), time.monotonic(), 0
        watch = stop_trace() if stop_trace is not None else None
        ended = None
        if cancel.is_set():
            return _Result(index, 1, 0, [], cancelled=True)
        try:
            for attempt in Retrying(**self._retry_options(deadline, began)):
                with attempt:
                    if not slots.acquire(timeout=_remaining(deadline)):
                        raise DeadlineExceeded()
                    try:
                        attempts += 1
                        stream = endpoint.with_streaming_response.create(
                            **payload, timeout=_attempt_timeout(self.timeout_s, deadline)
                        )
                        with self._contact(stream) as response:
                            for line in response.iter_lines():
                                ended = _read_line(reply, line, watch, cancel)
                                if ended:
                                    break
                    finally:
                        slots.release()
        except BackendUnavailable:
            raise
        except Exception as exc:
            return self._failed(exc, index, 1, params, attempts, began)
        return self._streamed_result(reply, ended, index, params, attempts, began)

    async def _astream(self, body, index, params, deadline, stop_trace, cancel) -> _Result:
        """Async :meth:`_stream`."""
        client, slots = self._aclient()
        endpoint = client.chat.completions if self.mode == "chat" else client.completions
        payload = self._payload(body, index, 1, params)
        reply, began, attempts = StreamedReply(), time.monotonic(), 0
        watch = stop_trace() if stop_trace is not None else None
        ended = None
        if cancel.is_set():
            return _Result(index, 1, 0, [], cancelled=True)
        try:
            async for attempt in AsyncRetrying(**self._retry_options(deadline, began)):
                with attempt:
                    try:
                        await asyncio.wait_for(slots.acquire(), _remaining(deadline))
                    except asyncio.TimeoutError:
                        raise DeadlineExceeded() from None
                    try:
                        attempts += 1
                        stream = endpoint.with_streaming_response.create(
                            **payload, timeout=_attempt_timeout(self.timeout_s, deadline)
                        )
                        async with self._acontact(stream) as response:
                            async for line in response.iter_lines():
                                ended = _read_line(reply, line, watch, cancel)
                                if ended:
                                    break
                    finally:
                        slots.release()
        except BackendUnavailable:
            raise
        except Exception as exc:
            return self._failed(exc, index, 1, params, attempts, began)
        return self._streamed_result(reply, ended, index, params, attempts, began)

    def _streamed_result(self, reply, ended, index, params, attempts, began) -> _Result:
        # A trace its watch stopped is "stopped", not cut off inside its thinking.
        found, thinking_tokens = reply.split(stopped=ended in ("stopped", "cancelled"))
        if ended == "cancelled":
            return _Result(
                index,
                1,
                attempts,
                [],
                0,
                reply.tokens,
                0,
                cancelled=True,
                cancelled_thinking=thinking_tokens,
                prompt_known=False,
            )
        completion = Completion(
            text=found.answer,
            finish_reason="stopped" if ended == "stopped" else reply.finish_reason,
            prompt_tokens=reply.prompt_tokens or 0,
            completion_tokens=reply.tokens,
            cached_tokens=reply.cached_tokens,
            latency_s=time.monotonic() - began,
            seed=params.seed_for(index),
            logprobs=tuple(reply.logprobs) or None,
            top_logprobs=tuple(reply.top_logprobs) or None,
            thinking=found.thinking,
            thinking_tokens=thinking_tokens,
            truncated_in_thinking=found.truncated,
        )
        self._learn_reasoning([completion], params)
        return _Result(
            index,
            1,
            attempts,
            [completion],
            reply.prompt_tokens or 0,
            reply.tokens,
            reply.cached_tokens,
            prompt_known=reply.prompt_tokens is not None,
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

    # -- one request, with retries: a blocking and an async body around shared steps ---------
    def _request_round(
        self, body: dict, specs: list[Spec], params: SamplingParams, deadline: float | None
    ) -> list[_Result]:
        """Concurrent requests from one thread: their first attempts go out on the transport's
        connections, as many at once as there are free concurrency slots (one ``selectors``
        wait, no thread each); a request whose first attempt failed goes on retrying in
        :meth:`_request` on the backend's threads. With no free slot (or through a proxy)
        every request runs in :meth:`_request` on the threads."""
        _, slots = self._client()
        transport = self._transport()
        taken = 0
        while transport is not None and taken < len(specs) and slots.acquire(blocking=False):
            taken += 1
        if not taken:
            pool = self._pool()
            futures = [pool.submit(self._request, body, *s, params, deadline) for s in specs]
            return [f.result() for f in futures]
        began = time.monotonic()
        results: list[_Result | concurrent.futures.Future | None] = [None] * len(specs)
        payloads = [self._json_payload(body, *spec, params) for spec in specs]
        try:
            for index, outcome in transport.post_each(
                self._path, payloads, self.timeout_s, window=taken, until=deadline
            ):
                results[index] = self._round_result(
                    outcome, body, specs[index], params, deadline, began, self._retry
                )
        finally:
            for _ in range(taken):
                slots.release()
        return [r.result() if isinstance(r, concurrent.futures.Future) else r for r in results]

    def _round_result(self, outcome, body, spec: Spec, params, deadline, began, retry):
        """What one request of a round came to, read as soon as it arrived (while the server
        still works on the others): a result, or its retries (started by ``retry``: on the
        threads, or as a task) running."""
        if outcome is None:  # the draw's time ran out before it was sent
            return self._failed(DeadlineExceeded(), *spec, params, 0, began)
        try:
            if isinstance(outcome, Exception):
                raise outcome
            reply = _reply_json(outcome)
        except Exception as exc:
            self._check_endpoint(exc)
            return retry(body, spec, params, deadline, exc)
        self._shared.verified = True
        return self._result(reply, *spec, params, 1, began)

    def _request(
        self,
        body: dict,
        start: int,
        count: int,
        params: SamplingParams,
        deadline: float | None,
        failed_first: Exception | None = None,
    ) -> _Result:
        """One logical request for ``count`` samples (indices ``start``...), with retries.
        ``failed_first``: how its first attempt, already sent, failed (see
        :meth:`_request_round`); the retries go on from there."""
        _, slots = self._client()
        payload = self._json_payload(body, start, count, params)
        began = time.monotonic()
        if failed_first is None:  # the first attempt; tenacity takes over once it failed
            try:
                if not slots.acquire(timeout=_remaining(deadline)):
                    raise DeadlineExceeded()
            except DeadlineExceeded as exc:
                return self._failed(exc, start, count, params, 0, began)
            try:
                reply = _reply_json(self._post(payload, deadline))
            except BackendUnavailable:
                raise
            except Exception as exc:
                failed_first = exc
            else:
                return self._result(reply, start, count, params, 1, began)
            finally:
                slots.release()
        attempts = 1
        try:
            for attempt in Retrying(**self._retry_options(deadline, began)):
                with attempt:
                    if failed_first is not None:
                        failure, failed_first = failed_first, None
                        raise failure
                    if not slots.acquire(timeout=_remaining(deadline)):
                        raise DeadlineExceeded()
                    try:
                        attempts += 1
                        content = self._post(payload, deadline)
                    finally:
                        slots.release()
                    reply = _reply_json(content)
        except BackendUnavailable:
            raise
        except Exception as exc:
            return self._failed(exc, start, count, params, attempts, began)
        return self._result(reply, start, count, params, attempts, began)

    async def _arequest_round(
        self, body: dict, specs: list[Spec], params: SamplingParams, deadline: float | None
    ) -> list[_Result]:
        """Async :meth:`_request_round`: the first attempts as one round on the loop's
        transport (one coroutine, no task each); retries of failed ones run as tasks."""
        held = self._on_loop()
        slots, transport = held.slots, held.transport
        taken = 0
        while transport is not None and taken < len(specs) and not slots.locked():
            await slots.acquire()  # does not suspend: a slot is free
            taken += 1
        if not taken:
            return await _gather([self._arequest(body, *s, params, deadline) for s in specs])
        began = time.monotonic()
        results: list[_Result | asyncio.Future | None] = [None] * len(specs)
        payloads = [self._json_payload(body, *spec, params) for spec in specs]
        round_ = transport.post_each(
            self._path, payloads, self.timeout_s, window=taken, until=deadline
        )
        try:
            async with contextlib.aclosing(round_) as outcomes:
                async for index, outcome in outcomes:
                    results[index] = self._round_result(
                        outcome, body, specs[index], params, deadline, began, self._aretry
                    )
        except BaseException:  # the endpoint is wrong, or the run was cancelled
            for started in results:
                if isinstance(started, asyncio.Future):
                    started.cancel()
            raise
        finally:
            for _ in range(taken):
                slots.release()
        retries = [r for r in results if isinstance(r, asyncio.Future)]
        if retries:
            await _gather(retries)
        return [r.result() if isinstance(r, asyncio.Future) else r for r in results]

    def _aretry(self, body, spec: Spec, params, deadline, failure) -> asyncio.Future:
        return asyncio.ensure_future(self._arequest(body, *spec, params, deadline, failure))

    def _retry(self, body, spec: Spec, params, deadline, failure) -> concurrent.futures.Future:
        return self._pool().submit(self._request, body, *spec, params, deadline, failure)

    async def _arequest(
        self,
        body: dict,
        start: int,
        count: int,
        params: SamplingParams,
        deadline: float | None,
        failed_first: Exception | None = None,
    ) -> _Result:
        """Async :meth:`_request`."""
        slots = self._on_loop().slots
        payload = self._json_payload(body, start, count, params)
        began = time.monotonic()
        if failed_first is None:  # the first attempt; tenacity takes over once it failed
            try:
                await _acquire(slots, deadline)
            except DeadlineExceeded as exc:
                return self._failed(exc, start, count, params, 0, began)
            try:
                reply = _reply_json(await self._apost(payload, deadline))
            except BackendUnavailable:
                raise
            except Exception as exc:
                failed_first = exc
            else:
                return self._result(reply, start, count, params, 1, began)
            finally:
                slots.release()
        attempts = 1
        # tenacity's blocking iterator decides, this loop sleeps without blocking: half the
        # CPU of AsyncRetrying, which re-inspects its callbacks on every attempt.
        waits: list[float] = []
        try:
            for attempt in Retrying(sleep=waits.append, **self._retry_options(deadline, began)):
                if waits:
                    await asyncio.sleep(waits.pop())
                with attempt:
                    if failed_first is not None:
                        failure, failed_first = failed_first, None
                        raise failure
                    await _acquire(slots, deadline)
                    try:
                        attempts += 1
                        content = await self._apost(payload, deadline)
                    finally:
                        slots.release()
                    reply = _reply_json(content)
        except BackendUnavailable:
            raise
        except Exception as exc:
            return self._failed(exc, start, count, params, attempts, began)
        return self._result(reply, start, count, params, attempts, began)

    def _json_payload(self, body: dict, start: int, count: int, params: SamplingParams) -> dict:
        """The JSON a non-streamed request posts: :meth:`_payload` with ``extra_body`` merged
        into the top level, as the ``openai`` client's ``create`` would merge it."""
        payload = self._payload(body, start, count, params)
        extra = payload.pop("extra_body", None)
        if extra:
            payload.update(extra)
        return payload

    def _post(self, payload: dict, deadline: float | None) -> bytes:
        """One attempt: the JSON posted and the reply's bytes. A first failure that means the
        endpoint is wrong is final; a success marks the endpoint as verified."""
        try:
            content = self._send(payload, _attempt_timeout(self.timeout_s, deadline))
        except Exception as exc:
            self._check_endpoint(exc)
            raise
        self._shared.verified = True
        return content

    async def _apost(self, payload: dict, deadline: float | None) -> bytes:
        """Async :meth:`_post`."""
        try:
            content = await self._asend(payload, _attempt_timeout(self.timeout_s, deadline))
        except Exception as exc:
            self._check_endpoint(exc)
            raise
        self._shared.verified = True
        return content

    def _send(self, payload: dict, timeout: float) -> bytes:
        """Post over the backend's :class:`~langgraph_ttc.backends.http_transport.HTTPTransport`
        or, through an HTTP proxy, the ``openai`` client's documented ``post`` (which speaks to
        proxies). Neither walks the body through ``create``'s typed-dict transform or builds
        pydantic models of the reply."""
        transport = self._transport()
        if transport is not None:
            return transport.post(self._path, payload, timeout)
        client, _ = self._client()
        return client.post(self._path, body=payload, cast_to=bytes, options={"timeout": timeout})

    async def _asend(self, payload: dict, timeout: float) -> bytes:
        """Async :meth:`_send`: the loop's
        :class:`~langgraph_ttc.backends.http_transport.AsyncHTTPTransport`, else (proxied) the
        async ``openai`` client."""
        transport = self._on_loop().transport
        if transport is not None:
            return await transport.post(self._path, payload, timeout)
        client, _ = self._aclient()
        return await client.post(
            self._path, body=payload, cast_to=bytes, options={"timeout": timeout}
        )

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.mode == "chat" else "/completions"

    def _payload(self, body: dict, start: int, count: int, params: SamplingParams) -> dict:
        payload = dict(body, model=self._shared.model)
        if count > 1:
            payload["n"] = count
        seed = params.seed_for(start)
        if seed is not None:
            payload["seed"] = seed
        return payload

    def _retry_options(self, deadline: float | None, began: float) -> dict[str, Any]:
        window = self.max_retry_seconds
        if deadline is not None:
            window = min(window, deadline - began)
        return dict(
            stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(window),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )

    @contextlib.contextmanager
    def _contact(self, stream):
        """Open a streamed response; a first failure that means the endpoint is wrong is final."""
        try:
            response = stream.__enter__()
        except Exception as exc:
            self._check_endpoint(exc)
            raise
        self._shared.verified = True
        try:
            yield response
        finally:
            stream.__exit__(None, None, None)

    @contextlib.asynccontextmanager
    async def _acontact(self, stream):
        """Async :meth:`_contact`."""
        try:
            response = await stream.__aenter__()
        except Exception as exc:
            self._check_endpoint(exc)
            raise
        self._shared.verified = True
        try:
            yield response
        finally:
            await stream.__aexit__(None, None, None)

    def _check_endpoint(self, exc: BaseException) -> None:
        """Before any success, a failure that means the endpoint itself is wrong is final."""
        if not self._shared.verified and is_endpoint_failure(exc):
            raise self._unavailable(exc) from None

    def _result(
        self, reply: dict, start: int, count: int, params: SamplingParams, attempts: int, began
    ) -> _Result:
        seeds = [params.seed_for(start + j) for j in range(count)]
        completions = completions_from(reply, count, seeds, time.monotonic() - began)
        self._learn_reasoning(completions, params)
        usage = usage_from(reply)
        return _Result(
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
    ) -> _Result:
        error = self._describe(exc)
        latency = time.monotonic() - began
        logger.warning("request to %s failed for good: %s", self.base_url, error)
        failed = [
            Completion(text="", seed=params.seed_for(start + j), latency_s=latency, error=error)
            for j in range(count)
        ]
        return _Result(start, count, attempts, failed, failed=True)

    # -- the model name "auto" ----------------------------------------------------------------
    def _resolve_model(self, deadline: float | None) -> int:
        """Replace the model name ``"auto"`` by the first model the server lists (1 request)."""
        if self._shared.model != AUTO_MODEL:
            return 0
        client, _ = self._client()
        try:
            page = client.models.list(timeout=_attempt_timeout(self.timeout_s, deadline))
        except Exception as exc:
            raise self._listing_failed(exc) from None
        return self._use_listed([m.id for m in page.data])

    async def _aresolve_model(self, deadline: float | None) -> int:
        if self._shared.model != AUTO_MODEL:
            return 0
        client, _ = self._aclient()
        try:
            page = await client.models.list(timeout=_attempt_timeout(self.timeout_s, deadline))
        except Exception as exc:
            raise self._listing_failed(exc) from None
        return self._use_listed([m.id for m in page.data])

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

    # -- clients -----------------------------------------------------------------------------
    def _client_options(self) -> dict[str, Any]:
        return dict(
            base_url=self.base_url,
            api_key=self._api_key,
            max_retries=0,  # tenacity is the single retry layer
            timeout=Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_S)),
        )

    def _client(self) -> tuple[OpenAI, threading.BoundedSemaphore]:
        shared = self._shared
        with shared.lock:
            if shared.client is None:
                shared.client = OpenAI(**self._client_options())
                shared.slots = threading.BoundedSemaphore(shared.max_concurrency)
            return shared.client, shared.slots

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for a blocking draw's concurrent requests (leaf work: they submit nothing)."""
        shared = self._shared
        with shared.lock:
            if shared.pool is None:
                shared.pool = concurrent.futures.ThreadPoolExecutor(
                    shared.max_concurrency, thread_name_prefix="ttc-openai"
                )
            return shared.pool

    def _transport(self) -> HTTPTransport | None:
        """The pooled HTTP transport of non-streamed requests; ``None`` when an HTTP proxy
        applies to the URL (the ``openai`` client handles proxies)."""
        shared = self._shared
        if shared.transport is None and not shared.proxied:
            headers = self._wire_headers()
            with shared.lock:
                if shared.transport is None:
                    shared.proxied = proxied(self.base_url)
                    if not shared.proxied:
                        shared.transport = HTTPTransport(
                            self.base_url, headers, connect_timeout=CONNECT_TIMEOUT_S
                        )
        return shared.transport

    def _wire_headers(self) -> dict[str, str]:
        """The headers the ``openai`` client would send: auth, organization, project, identity."""
        client, _ = self._client()
        headers = {**client.default_headers, **client.auth_headers}
        return {k: v for k, v in headers.items() if isinstance(v, str)}

    def _loop_transport(self) -> AsyncHTTPTransport | None:
        """A new event loop's transport of non-streamed requests (``None`` when proxied).
        Called under the lock, after :meth:`_transport` made the blocking one."""
        transport = self._shared.transport
        if transport is None:
            return None
        return AsyncHTTPTransport(
            self.base_url, transport.headers, connect_timeout=CONNECT_TIMEOUT_S
        )

    def _on_loop(self) -> _LoopClients:
        """The running event loop's semaphore and clients (another loop, say a second
        ``asyncio.run``, cannot reuse the last one's connections: its shutdown closed them)."""
        loop = asyncio.get_running_loop()
        shared = self._shared
        held = shared.on_loop
        if held is not None and held.loop is loop:
            return held
        self._transport()  # made first: it takes the lock
        with shared.lock:
            if shared.on_loop is None or shared.on_loop.loop is not loop:
                shared.on_loop = _LoopClients(
                    loop, asyncio.Semaphore(shared.max_concurrency), self._loop_transport()
                )
            return shared.on_loop

    def _aclient(self) -> tuple[AsyncOpenAI, asyncio.Semaphore]:
        """The running loop's ``AsyncOpenAI`` client, made on first use (making one costs
        20-75 ms, which a run that needs none should not pay on every ``asyncio.run``)."""
        held = self._on_loop()
        if held.client is None:
            held.client = AsyncOpenAI(**self._client_options(), **self._async_transport())
        return held.client, held.slots

    async def _aopen(self) -> None:
        """Have the running loop close its clients when it shuts down.

        ``asyncio.run`` (and ``asyncio.Runner``, pytest-asyncio) close every live async
        generator of the loop before closing it (``loop.shutdown_asyncgens``); the closer is
        one, so no connection or aiohttp session outlives its loop unclosed (aiohttp would
        print "Unclosed client session" at exit).
        """
        held = self._on_loop()
        if held.closer is not None:  # the usual case: this loop's clients have one
            return
        with self._shared.lock:
            if held.closer is not None:
                return
            held.closer = closer = _close_with_loop(held)
        await closer.__anext__()  # runs to its yield: the loop now tracks it

    def _async_transport(self) -> dict[str, Any]:
        """``http_client=`` for the async client: openai's aiohttp transport when wanted and
        installed (see the ``aiohttp`` argument), else nothing (openai's httpx default)."""
        factory = getattr(openai, "DefaultAioHttpClient", None)
        if self.aiohttp is False or factory is None:
            return {}
        try:
            return {"http_client": factory()}
        except (ImportError, RuntimeError):  # openai's stand-in raises this without aiohttp
            if self.aiohttp:
                raise
            return {}

    async def aclose(self) -> None:
        """Close the async connections and client (call from the loop that used them)."""
        shared = self._shared
        with shared.lock:
            held, shared.on_loop = shared.on_loop, None
        if held is not None:
            await held.aclose()

    def close(self) -> None:
        """Close the blocking client and its threads (the backend stays usable: they reopen)."""
        _close_shared(self._shared)

    # -- errors ------------------------------------------------------------------------------
    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        if isinstance(exc, (APIStatusError, HTTPStatusFailure)):
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


def _checked_url(base_url: str) -> str:
    """The server URL without a trailing slash; a URL without http(s):// fails at once (it
    would otherwise only fail after the connection retries).

    Example:
        >>> _checked_url("http://127.0.0.1:8000/v1/")
        'http://127.0.0.1:8000/v1'
        >>> _checked_url("127.0.0.1:8000/v1")
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: base_url '127.0.0.1:8000/v1' needs a scheme: did you mean 'http://127.0.0.1:8000/v1'?
    """
    url = str(base_url).strip()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        hint = f"http://{url}" if "://" not in url else "http://HOST:PORT/v1"
        raise TTCConfigError(f"base_url {url!r} needs a scheme: did you mean {hint!r}?")
    return url.rstrip("/")


def _read_line(reply: StreamedReply, line, watch, cancel) -> str | None:
    """Feed one stream line; ``"stopped"`` when the trace's watch fires, ``"cancelled"`` when
    the draw was cancelled, else ``None`` (read on)."""
    chunk = sse_data(line)
    if chunk is None:
        return None
    new = reply.feed(chunk)
    start = len(reply.logprobs) - len(new)
    for offset, (logprob, top) in enumerate(new):
        if watch is not None and watch(logprob, top):
            # Tokens after this one in the same chunk were not wanted: they are not counted.
            del reply.logprobs[start + offset + 1 :]
            del reply.top_logprobs[start + offset + 1 :]
            return "stopped"
    if reply.finish_reason is None and cancel.is_set():
        return "cancelled"
    return None


async def _close_with_loop(held: _LoopClients):
    """Yields once; closes a loop's clients when closed, i.e. when the loop shuts down."""
    try:
        yield
    finally:
        await held.aclose()


def _close_shared(shared: _Shared) -> None:
    with shared.lock:
        client, pool, transport = shared.client, shared.pool, shared.transport
        shared.client = shared.pool = shared.transport = None
    if pool is not None:
        pool.shutdown(wait=False)
    if transport is not None:
        transport.close()
    if client is not None:
        client.close()


def _reply_json(content: bytes) -> dict:
    """The parsed reply; malformed JSON or a reply without choices is retried."""
    reply = json.loads(content)
    if not isinstance(reply, dict) or not reply.get("choices"):
        raise EmptyReply()
    return reply


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + max(timeout, 0.0)


def _remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (None: no deadline); past it, the attempt is not sent."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded()
    return left


async def _acquire(slots: asyncio.Semaphore, deadline: float | None) -> None:
    """Take a concurrency slot before ``deadline``; a free slot is taken without the timer task
    that ``asyncio.wait_for`` would start."""
    left = _remaining(deadline)  # past the deadline, the attempt is not sent
    if not slots.locked():
        await slots.acquire()  # does not suspend: a slot is free and nobody waits
        return
    try:
        await asyncio.wait_for(slots.acquire(), left)
    except asyncio.TimeoutError:
        raise DeadlineExceeded() from None


def _attempt_timeout(timeout_s: float, deadline: float | None) -> float:
    if deadline is None:
        return timeout_s
    return max(min(timeout_s, deadline - time.monotonic()), 0.001)


async def _gather(coros: list) -> list[_Result]:
    """Run requests concurrently; if one raises (endpoint unavailable), cancel the rest."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


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
