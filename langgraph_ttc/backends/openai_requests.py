"""Non-streamed requests of :class:`~langgraph_ttc.backends.OpenAICompatibleBackend`, written
once: one coroutine per request (first attempt, then tenacity's retries) and one per round of
concurrent requests, run on the backend loop for blocking and async callers alike (see
:mod:`~langgraph_ttc.backends.http_client`).

Retries (tenacity is the only retry layer): rate limits (429, honouring ``Retry-After`` /
``retry-after-ms``, capped), 408/409, 5xx, timeouts, dropped connections, malformed or empty
replies; bounded by ``max_retries`` AND ``max_retry_seconds``. Other 4xx fail at once, their
body in the error. A request whose complete reply arrived is never sent again for a transport
reason (aiohttp reads close-delimited and gzip replies whole). Until a first request has
succeeded, a failure that means the endpoint itself is wrong raises
:class:`~langgraph_ttc.errors.BackendUnavailable` (see ``OpenAICompatibleBackend``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

from langgraph_ttc.backends.base import Completion, SamplingParams
from langgraph_ttc.backends.retry import DeadlineExceeded, EmptyReply, is_retryable
from langgraph_ttc.errors import BackendUnavailable

if TYPE_CHECKING:
    from langgraph_ttc.backends.openai_compat import OpenAICompatibleBackend
    from langgraph_ttc.backends.slots import Slots

__all__ = [
    "Result",
    "Spec",
    "Tried",
    "acquire",
    "gather",
    "request",
    "request_round",
    "with_retries",
]

# A draw is planned as rounds of (first sample index, sample count) requests; see _draw_rounds.
Spec = tuple[int, int]


@dataclass
class Result:
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


async def request_round(
    backend: OpenAICompatibleBackend,
    body: dict,
    specs: list[Spec],
    params: SamplingParams,
    deadline: float | None,
) -> list[Result]:
    """A round's requests, concurrently (one task each: a slow reply holds nobody else)."""
    if len(specs) == 1:
        return [await request(backend, body, *specs[0], params, deadline)]
    return await gather([request(backend, body, *s, params, deadline) for s in specs])


async def request(
    backend: OpenAICompatibleBackend,
    body: dict,
    start: int,
    count: int,
    params: SamplingParams,
    deadline: float | None,
) -> Result:
    """One logical request for ``count`` samples (indices ``start``...), with retries."""
    payload = json_payload(backend, body, start, count, params)
    slots = backend._slots()
    began = time.monotonic()
    try:  # the first attempt, kept lean; tenacity takes over once it failed
        await acquire(slots, deadline)  # past the deadline, the attempt is not sent
    except DeadlineExceeded as exc:
        return backend._failed(exc, start, count, params, 0, began)
    try:
        reply = reply_json(await _post(backend, payload, deadline))
    except BackendUnavailable:
        raise
    except Exception as exc:
        failed_first = exc
    else:
        return backend._result(reply, start, count, params, 1, began)
    finally:
        slots.release()
    return await _retried(backend, payload, start, count, params, deadline, began, failed_first)


async def _retried(backend, payload, start, count, params, deadline, began, failed_first):
    """The retries of a request whose first attempt failed with ``failed_first``."""

    async def send() -> dict:
        return reply_json(await _post(backend, payload, deadline))

    tried = await with_retries(backend, send, deadline, began, failed_first=failed_first)
    if tried.error is not None:
        return backend._failed(tried.error, start, count, params, tried.attempts, began)
    return backend._result(tried.value, start, count, params, tried.attempts, began)


@dataclass
class Tried:
    """What :func:`with_retries` got: the last attempt's value, or the error it gave up on."""

    value: Any = None
    error: Exception | None = None
    attempts: int = 0  # the attempts sent (one that timed out waiting for a slot was not)


async def with_retries(
    backend: OpenAICompatibleBackend,
    send: Callable[[], Awaitable[Any]],
    deadline: float | None,
    began: float,
    *,
    failed_first: Exception | None = None,
) -> Tried:
    """``send()`` under one of the backend's concurrency slots, retried as :func:`retry_options`
    says (``failed_first``: the outcome of a first attempt already sent). The one retry loop of
    requests and streams; an endpoint that is wrong (BackendUnavailable) is raised at once.

    Example:
        >>> from langgraph_ttc.backends import OpenAICompatibleBackend
        >>> backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", "m")  # never contacted
        >>> async def send(): return "sent"
        >>> tried = asyncio.run(with_retries(backend, send, None, time.monotonic()))
        >>> tried.value, tried.attempts, tried.error
        ('sent', 1, None)
    """
    slots = backend._slots()
    tried = Tried(attempts=0 if failed_first is None else 1)
    # tenacity's blocking iterator decides, this loop sleeps without blocking: half the CPU
    # of AsyncRetrying, which re-inspects its callbacks on every attempt.
    waits: list[float] = []
    try:
        for attempt in Retrying(sleep=waits.append, **retry_options(backend, deadline, began)):
            if waits:
                await asyncio.sleep(waits.pop())
            with attempt:
                if failed_first is not None:
                    failure, failed_first = failed_first, None
                    raise failure
                await acquire(slots, deadline)
                try:
                    tried.attempts += 1
                    tried.value = await send()
                finally:
                    slots.release()
    except BackendUnavailable:
        raise
    except Exception as exc:
        tried.error = exc
    return tried


async def _post(backend: OpenAICompatibleBackend, payload: dict, deadline: float | None) -> bytes:
    """One POST. A first failure that means the endpoint is wrong is final; a success marks
    the endpoint as verified."""
    wire = backend._wire()
    try:
        content = await wire.post_json(
            backend._path, payload, wire.attempt(attempt_timeout(backend.timeout_s, deadline))
        )
    except Exception as exc:
        backend._check_endpoint(exc)
        raise
    backend._shared.verified = True
    return content


def json_payload(
    backend: OpenAICompatibleBackend, body: dict, start: int, count: int, params: SamplingParams
) -> dict:
    """The JSON a request posts: the body with the model, ``n``, the seed of its first sample,
    and ``extra_body`` merged into the top level (as the ``openai`` client's ``create`` would)."""
    payload = dict(body, model=backend._shared.model)
    if count > 1:
        payload["n"] = count
    seed = params.seed_for(start)
    if seed is not None:
        payload["seed"] = seed
    extra = payload.pop("extra_body", None)
    if extra:
        payload.update(extra)
    return payload


def retry_options(
    backend: OpenAICompatibleBackend, deadline: float | None, began: float
) -> dict[str, Any]:
    window = backend.max_retry_seconds
    if deadline is not None:
        window = min(window, deadline - began)
    return dict(
        stop=stop_after_attempt(backend.max_retries + 1) | stop_before_delay(window),
        wait=backend._wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=backend._log_retry,
        reraise=True,
    )


def reply_json(content: bytes) -> dict:
    """The parsed reply; malformed JSON or a reply without choices is retried."""
    reply = json.loads(content)
    if not isinstance(reply, dict) or not reply.get("choices"):
        raise EmptyReply()
    return reply


def deadline_after(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + max(timeout, 0.0)


def remaining(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` (None: no deadline); past it, the attempt is not sent."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded()
    return left


def attempt_timeout(timeout_s: float, deadline: float | None) -> float:
    if deadline is None:
        return timeout_s
    return max(min(timeout_s, deadline - time.monotonic()), 0.001)


async def acquire(slots: Slots, deadline: float | None) -> None:
    """Take a concurrency slot before ``deadline`` (a free one without suspending)."""
    left = remaining(deadline)  # past the deadline, the attempt is not sent
    try:
        await slots.acquire(left)
    except TimeoutError:
        raise DeadlineExceeded() from None


async def gather(coros: list) -> list:
    """Run coroutines concurrently; if one raises (endpoint unavailable), cancel the rest."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
