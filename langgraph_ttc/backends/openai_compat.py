"""Any OpenAI-compatible server: vLLM, llama.cpp's server, OpenAI itself, proxies.

One :meth:`~OpenAICompatibleBackend.asample` call sends ONE request with ``n=n``. Servers that
ignore ``n`` (llama.cpp returns a single choice) are noticed on the first reply: the missing
samples are topped up with concurrent single-choice requests, and the backend remembers that the
server ignores ``n`` so later calls go straight to concurrent single requests. All requests to the
endpoint share one :class:`asyncio.Semaphore` (``max_concurrency``) per event loop.

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
import copy
import email.utils
import functools
import json
import logging
import os
import random
import re
import ssl
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages, convert_to_openai_messages
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from langgraph_ttc.backends.base import Backend, Completion, Draw, SamplingParams, run_sync
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 60.0  # Never sleep longer than this on a server's Retry-After hint.
CONNECT_TIMEOUT_S = 5.0  # Bounds how long an unreachable endpoint takes to be reported.
MAX_ERROR_CHARS = 500
AUTO_MODEL = "auto"  # Model name meaning: ask the server's /models and use the model it serves.

__all__ = ["OpenAICompatibleBackend"]


class _EmptyReply(Exception):
    """The server answered 200 but with no choices."""


class _DeadlineExceeded(Exception):
    """The caller's time budget ran out before the request could be sent or retried."""


@dataclass
class _LoopState:
    client: Any
    semaphore: asyncio.Semaphore


@dataclass
class _Shared:
    """State shared by a backend and its copies (``with_tools``): what was learned, clients."""

    honours_n: bool | None
    model: str
    verified: bool = False  # a request has succeeded: the URL, key and model are right
    lock: threading.Lock = field(default_factory=threading.Lock)
    loops: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)


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


class OpenAICompatibleBackend(Backend):
    """Samples from an OpenAI-compatible HTTP server with ``n=``, top-up, retries and seeds.

    Args:
        base_url: the server's API root, e.g. ``"http://127.0.0.1:8000/v1"``.
        model: the served model name; ``"auto"`` asks the server's ``/models`` on first use.
        api_key: defaults to ``$OPENAI_API_KEY``, else ``"EMPTY"`` (local servers ignore it).
        mode: ``"chat"`` uses ``/chat/completions``; ``"completion"`` uses ``/completions`` with
            the messages rendered as a few-shot transcript (for base models without a chat
            template); its stops default to ``TRANSCRIPT_STOPS``.
        max_concurrency: most requests in flight to this endpoint at once (per event loop).
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
        self.base_url = base_url.rstrip("/")
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
        self._shared = _Shared(honours_n=honours_n, model=model)

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

    # -- sampling -------------------------------------------------------------------------
    async def asample(
        self,
        messages: Sequence[BaseMessage],
        n: int,
        params: SamplingParams,
        *,
        timeout: float | None = None,
    ) -> Draw:
        """Draw ``n`` samples (one ``n=`` request, topped up when the server ignores ``n``).

        ``timeout`` bounds the whole draw in seconds; samples not finished by then fail.
        """
        if n <= 0:
            return Draw()
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        extra_requests = await self._resolve_model(deadline)
        base = self._payload(messages, params)
        shared = self._shared
        if n == 1 or shared.honours_n is False:
            results = await _gather([self._request(base, i, 1, params, deadline) for i in range(n)])
        else:
            first = await self._request(base, 0, n, params, deadline)
            results = [first]
            got = len(first.completions)
            if not first.failed and got < n:
                if got == 1:
                    if shared.honours_n:
                        logger.warning(
                            "%s returned 1 choice for n=%d; treating it as ignoring n.",
                            self.base_url,
                            n,
                        )
                    shared.honours_n = False
                    results += await _gather(
                        [self._request(base, i, 1, params, deadline) for i in range(got, n)]
                    )
                else:  # The server caps n: ask again for what is missing.
                    while got < n:
                        more = await self._request(base, got, n - got, params, deadline)
                        results.append(more)
                        got += len(more.completions)
            elif not first.failed and shared.honours_n is None:
                shared.honours_n = True
        completions = [c for r in sorted(results, key=lambda r: r.start) for c in r.completions]
        return Draw(
            completions=tuple(completions[:n]),
            requests=extra_requests + sum(r.attempts for r in results),
            prompt_tokens=sum(r.prompt_tokens for r in results),
            completion_tokens=sum(r.completion_tokens for r in results),
            cached_tokens=sum(r.cached_tokens for r in results),
            extra={
                "honours_n": shared.honours_n,
                "failed_requests": sum(r.failed for r in results),
            },
        )

    def sample(
        self,
        messages: Sequence[BaseMessage],
        n: int,
        params: SamplingParams,
        *,
        timeout: float | None = None,
    ) -> Draw:
        """Synchronous :meth:`asample`; the temporary event loop's client is closed after."""

        async def run() -> Draw:
            try:
                return await self.asample(messages, n, params, timeout=timeout)
            finally:
                await self.aclose()

        return run_sync(run())

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop (others close when their loop dies)."""
        loop = asyncio.get_running_loop()
        with self._shared.lock:
            state = self._shared.loops.pop(loop, None)
        if state is not None:
            await state.client.close()

    def close(self) -> None:
        """Forget all clients; their connections close with their event loops."""
        with self._shared.lock:
            self._shared.loops.clear()

    # -- internals: clients -----------------------------------------------------------------
    def _loop_state(self) -> _LoopState:
        # An AsyncOpenAI (httpx) client and an asyncio.Semaphore belong to one event loop.
        loop = asyncio.get_running_loop()
        with self._shared.lock:
            for old in [old for old in self._shared.loops if old.is_closed()]:
                del self._shared.loops[old]  # its connections died with it
            state = self._shared.loops.get(loop)
            if state is None:
                from openai import AsyncOpenAI, DefaultAsyncHttpxClient, Timeout

                client = AsyncOpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key,
                    max_retries=0,  # tenacity is the single retry layer
                    timeout=Timeout(self.timeout_s, connect=min(self.timeout_s, CONNECT_TIMEOUT_S)),
                    # Sync callers get a new event loop (so a new client) per call: building
                    # the default SSL context each time cost ~60 ms of CPU per request.
                    http_client=DefaultAsyncHttpxClient(verify=_ssl_context()),
                )
                state = _LoopState(client, asyncio.Semaphore(self.max_concurrency))
                self._shared.loops[loop] = state
            return state

    async def _resolve_model(self, deadline: float | None) -> int:
        """Replace the model name ``"auto"`` by the first model the server lists."""
        if self._shared.model != AUTO_MODEL:
            return 0
        client = self._loop_state().client
        try:
            page = await client.models.list(timeout=_attempt_timeout(self.timeout_s, deadline))
        except Exception as exc:
            if _is_connect_failure(exc):
                raise self._unavailable(exc) from None
            raise BackendUnavailable(
                f"Could not list the models served at {self.base_url}: {self._describe(exc)}. "
                "Pass the model name explicitly (model=... or TTC_MODEL)."
            ) from None
        ids = [m.id for m in page.data]
        if not ids:
            raise BackendUnavailable(
                f"The server at {self.base_url} lists no models; pass model=... explicitly."
            )
        self._shared.model = ids[0]
        logger.info("%s serves %s; using %s", self.base_url, ids, ids[0])
        return 1

    # -- internals: one request ----------------------------------------------------------
    def _payload(self, messages: Sequence[BaseMessage], params: SamplingParams) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if self.mode == "chat":
            payload["messages"] = convert_to_openai_messages(list(messages))
            if params.stop:
                payload["stop"] = list(params.stop)
            if params.logprobs:
                payload["logprobs"] = True
            if self.tools:
                payload["tools"] = [dict(t) for t in self.tools]
        else:
            payload["prompt"] = render_transcript(messages)
            payload["stop"] = list(params.stop or TRANSCRIPT_STOPS)
            if params.logprobs:
                payload["logprobs"] = 1
        extra = dict(self.extra_body)
        if self.vllm_extras:
            if params.top_k is not None:
                extra["top_k"] = params.top_k
            if params.min_p is not None:
                extra["min_p"] = params.min_p
            if self.include_stop_str_in_output:
                extra["include_stop_str_in_output"] = True
        if extra:
            payload["extra_body"] = extra
        return payload

    async def _request(
        self,
        base: dict[str, Any],
        start: int,
        count: int,
        params: SamplingParams,
        deadline: float | None,
    ) -> _Result:
        """One logical request for ``count`` samples (indices ``start``...), with retries."""
        state = self._loop_state()
        payload = dict(base, model=self._shared.model)
        if count > 1:
            payload["n"] = count
        seed = params.seed_for(start)
        if seed is not None:
            payload["seed"] = seed
        create = (
            state.client.chat.completions.create
            if self.mode == "chat"
            else state.client.completions.create
        )
        attempts = 0
        began = time.monotonic()
        retry_window = self.max_retry_seconds
        if deadline is not None:
            retry_window = min(retry_window, deadline - began)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1) | stop_before_delay(retry_window),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise _DeadlineExceeded()
                    try:
                        await asyncio.wait_for(state.semaphore.acquire(), remaining)
                    except asyncio.TimeoutError:
                        raise _DeadlineExceeded() from None
                    try:
                        attempts += 1
                        response = await create(
                            **payload, timeout=_attempt_timeout(self.timeout_s, deadline)
                        )
                    except Exception as exc:
                        if not self._shared.verified and _is_endpoint_failure(exc):
                            raise self._unavailable(exc) from None
                        raise
                    finally:
                        state.semaphore.release()
                    self._shared.verified = True
                    if not getattr(response, "choices", None):
                        raise _EmptyReply()
        except BackendUnavailable:
            raise
        except Exception as exc:
            error = self._describe(exc)
            latency = time.monotonic() - began
            logger.warning("request to %s failed for good: %s", self.base_url, error)
            failed = [
                Completion(text="", seed=params.seed_for(start + j), latency_s=latency, error=error)
                for j in range(count)
            ]
            return _Result(start, count, attempts, failed, failed=True)
        return self._parse(response, start, count, params, attempts, time.monotonic() - began)

    def _parse(
        self,
        response: Any,
        start: int,
        count: int,
        params: SamplingParams,
        attempts: int,
        latency: float,
    ) -> _Result:
        choices = sorted(response.choices, key=lambda c: c.index or 0)[:count]
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached_tokens = int(getattr(details, "cached_tokens", 0) or 0)
        texts = [_choice_text(c) for c in choices]
        shares = _split_tokens(completion_tokens, texts)
        completions = [
            Completion(
                text=text,
                finish_reason=getattr(choice, "finish_reason", None),
                prompt_tokens=prompt_tokens,
                completion_tokens=share,
                cached_tokens=cached_tokens,
                latency_s=latency,
                seed=params.seed_for(start + j),
                logprobs=_choice_logprobs(choice),
                tool_calls=_choice_tool_calls(choice),
            )
            for j, (choice, text, share) in enumerate(zip(choices, texts, shares, strict=True))
        ]
        return _Result(
            start, count, attempts, completions, prompt_tokens, completion_tokens, cached_tokens
        )

    # -- internals: errors ---------------------------------------------------------------
    def _unavailable(self, exc: BaseException) -> BackendUnavailable:
        from openai import APIStatusError

        if isinstance(exc, APIStatusError):
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
        from openai import APIConnectionError, APIStatusError, APITimeoutError

        if isinstance(exc, APIStatusError):
            message = re.sub(r"^Error code: \d+ - ", "", str(exc.message))
            text = f"HTTP {exc.status_code}: {message}"
        elif isinstance(exc, APITimeoutError):
            text = f"timed out after {self.timeout_s:g}s"
        elif isinstance(exc, APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            text = f"connection error: {cause or exc}"
        elif isinstance(exc, _EmptyReply):
            text = "the server replied with no choices"
        elif isinstance(exc, _DeadlineExceeded):
            text = "the time budget ran out before the request could finish"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._redact(text)[:MAX_ERROR_CHARS]

    def _redact(self, text: str) -> str:
        if self._api_key and self._api_key != "EMPTY" and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return re.sub(r"(?i)(bearer|authorization:?)\s+[^\s'\",}]+", r"\1 ***", text)

    def _wait(self, state: RetryCallState) -> float:
        """Honour the server's Retry-After (capped), else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        response = getattr(exc, "response", None)
        hinted = retry_after_seconds(getattr(response, "headers", None)) if response else None
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER_S)
        initial = self.backoff_s
        exponent = min(state.attempt_number - 1, 4)
        return initial * 2**exponent + random.uniform(0, initial)

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


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi or ``SSL_CERT_FILE``), built once per process."""
    import httpx

    return httpx.create_ssl_context()


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


def _is_connect_failure(exc: BaseException) -> bool:
    """Connection refused, unknown host or connect timeout: nothing listens at the URL."""
    from openai import APIConnectionError

    if not isinstance(exc, APIConnectionError):
        return False
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ in ("ConnectError", "ConnectTimeout")


def _is_endpoint_failure(exc: BaseException) -> bool:
    """Before any success: nothing listens, or the URL, key or model name is wrong."""
    from openai import APIStatusError

    if isinstance(exc, APIStatusError):
        return exc.status_code in (401, 403, 404)
    return _is_connect_failure(exc)


def _is_retryable(exc: BaseException) -> bool:
    from openai import APIConnectionError, APIResponseValidationError, APIStatusError

    if isinstance(exc, (_EmptyReply, APIConnectionError, APIResponseValidationError)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, json.JSONDecodeError)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asks for via ``retry-after-ms`` or ``Retry-After`` (seconds or a date).

    Example:
        >>> retry_after_seconds({"retry-after-ms": "250"}), retry_after_seconds({"retry-after": "2"})
        (0.25, 2.0)
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(float(lowered["retry-after-ms"]) / 1000.0, 0.0)
        if "retry-after" in lowered:
            value = lowered["retry-after"]
            try:
                return max(float(value), 0.0)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def _choice_text(choice: Any) -> str:
    message = getattr(choice, "message", None)
    if message is not None:
        return message.content or ""
    return getattr(choice, "text", None) or ""


def _choice_logprobs(choice: Any) -> tuple[float, ...] | None:
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return None
    content = getattr(logprobs, "content", None)
    if content is not None:
        return tuple(float(t.logprob) for t in content)
    values = getattr(logprobs, "token_logprobs", None)
    if values is not None:
        return tuple(float(v) for v in values if v is not None)
    return None


def _choice_tool_calls(choice: Any) -> tuple[dict, ...]:
    """Tool calls as ``{"name", "args", "id"}``; unparsable arguments give ``args={}`` + ``error``."""
    message = getattr(choice, "message", None)
    calls = getattr(message, "tool_calls", None) or ()
    out = []
    for call in calls:
        function = getattr(call, "function", None)
        if function is None:
            continue
        entry: dict[str, Any] = {"name": function.name, "args": {}, "id": call.id}
        try:
            args = json.loads(function.arguments or "{}")
            if isinstance(args, dict):
                entry["args"] = args
            else:
                entry["error"] = f"tool arguments are not a JSON object: {function.arguments!r}"
        except json.JSONDecodeError:
            entry["error"] = f"tool arguments are not valid JSON: {function.arguments!r}"
        out.append(entry)
    return tuple(out)


def _split_tokens(total: int, texts: Sequence[str]) -> list[int]:
    """Share an n-request's completion tokens among its choices, proportional to text length."""
    if not texts:
        return []
    if len(texts) == 1:
        return [total]
    weights = [len(t) + 1 for t in texts]
    scale = sum(weights)
    shares = [total * w // scale for w in weights]
    for i in range(total - sum(shares)):
        shares[i % len(shares)] += 1
    return shares


def _convert_tools(tools: Sequence[Any] | None) -> tuple[dict, ...]:
    if not tools:
        return ()
    from langchain_core.utils.function_calling import convert_to_openai_tool

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
