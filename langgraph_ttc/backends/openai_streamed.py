"""Streamed samples of :class:`~langgraph_ttc.backends.OpenAICompatibleBackend`, written once:
each sample is its own streamed request, its server-sent events parsed from aiohttp's response
as they arrive (:class:`~langgraph_ttc.backends.openai_stream.StreamedReply` assembles them).

A sample ends early when its watch fires (DeepConf's confidence stop, Fu et al. 2025) or when
the draw's ``until`` is met (a Bayesian early stop, Aggarwal et al. 2023): the response is
closed, which closes its connection, and the server stops generating. Usage counts exactly
what arrived: tokens after the one that fired the watch are dropped, a cancelled sample's
tokens are reported apart (``Draw.cancelled_thinking_tokens``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage, convert_to_messages

from langgraph_ttc.backends.base import Completion, SamplingParams, StopTrace, Until
from langgraph_ttc.backends.openai_requests import Result, json_payload, with_retries
from langgraph_ttc.backends.openai_stream import StreamedReply, sse_data

if TYPE_CHECKING:
    from langgraph_ttc.backends.openai_compat import OpenAICompatibleBackend

__all__ = ["sample_streamed"]


async def sample_streamed(
    backend: OpenAICompatibleBackend,
    messages: Sequence[BaseMessage],
    n: int,
    params: SamplingParams,
    deadline: float | None,
    stop_trace: StopTrace | None,
    until: Until | None,
) -> list[Result]:
    """``n`` streamed samples at once; once ``until`` holds for the finished ones, the rest
    are cancelled (they end at their next line, or before they start)."""
    messages = convert_to_messages(messages)
    body = stream_body(backend, messages, params)
    cancel = Cancel()
    tasks = [
        asyncio.ensure_future(stream(backend, body, i, params, deadline, stop_trace, cancel))
        for i in range(n)
    ]
    results: list[Result] = []
    finished: list[Completion] = []
    try:
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            results.append(result)
            if not (result.cancelled or result.failed):
                finished += result.completions
                if until is not None and not cancel.is_set() and until(finished):
                    cancel.fire()
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return fill_prompt_tokens(backend, results, messages)


class Cancel(asyncio.Event):
    """Set when the draw's ``until`` holds; :meth:`fire` also closes the streams still open, so
    a stream waiting for its next token ends now, not when that token comes."""

    def __init__(self) -> None:
        super().__init__()
        self.closers: dict[int, Any] = {}

    def fire(self) -> None:
        self.set()
        for close in list(self.closers.values()):
            close()


def stream_body(
    backend: OpenAICompatibleBackend, messages: Sequence[BaseMessage], params: SamplingParams
) -> dict:
    body = backend._body(messages, params)
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


def fill_prompt_tokens(backend: OpenAICompatibleBackend, results: list[Result], messages):
    """A stream cut short never gets the usage chunk: its prompt (the same as the draw's
    other samples) is counted as a finished one reported it, else by the upper bound."""
    known = [r.prompt_tokens for r in results if r.prompt_known and r.attempts]
    estimate = known[0] if known else backend.count_prompt_tokens(messages)
    for result in results:
        if not result.prompt_known and result.attempts:
            result.prompt_tokens = estimate
    return results


async def stream(
    backend: OpenAICompatibleBackend,
    body: dict,
    index: int,
    params: SamplingParams,
    deadline: float | None,
    stop_trace: StopTrace | None,
    cancel: Cancel,
) -> Result:
    """One streamed sample: read line by line; stop when its watch says so, or when the draw
    is cancelled (leaving the response closes it)."""
    if cancel.is_set():
        return Result(index, 1, 0, [], cancelled=True)
    payload = json_payload(backend, body, index, 1, params)
    wire = backend._wire()
    began = time.monotonic()
    watch = stop_trace() if stop_trace is not None else None

    async def send() -> tuple[StreamedReply, str | None]:
        reply, ended = StreamedReply(), None  # a retry starts over
        # The attempt's total is the draw's deadline; timeout_s bounds each read.
        left = None if deadline is None else max(deadline - time.monotonic(), 1e-3)
        opened = wire.stream(backend._path, payload, wire.attempt(left, read=backend.timeout_s))
        try:
            lines = await opened.__aenter__()
        except Exception as exc:
            backend._check_endpoint(exc)
            raise
        backend._shared.verified = True
        cancel.closers[index] = lines.close
        try:
            async for line in lines:
                ended = read_line(reply, line, watch, cancel)
                if ended:
                    break
        except Exception:
            if not cancel.is_set():
                raise  # else: the draw closed it (its `until` held)
        finally:
            cancel.closers.pop(index, None)
            await opened.__aexit__(None, None, None)
        if ended is None and reply.finish_reason is None and cancel.is_set():
            ended = "cancelled"
        return reply, ended

    tried = await with_retries(backend, send, deadline, began)
    if tried.error is not None:
        return backend._failed(tried.error, index, 1, params, tried.attempts, began)
    reply, ended = tried.value
    return streamed_result(backend, reply, ended, index, params, tried.attempts, began)


def read_line(reply: StreamedReply, line: bytes, watch, cancel: asyncio.Event) -> str | None:
    """Feed one stream line; ``"stopped"`` when the trace's watch fires, ``"cancelled"`` when
    the draw was cancelled, else ``None`` (read on).

    Example:
        >>> reply, cancel = StreamedReply(), asyncio.Event()
        >>> read_line(reply, b'data: {"choices": [{"delta": {"content": "4"}}]}\\n', None, cancel)
        >>> cancel.set(); read_line(reply, b": ping\\n", None, cancel), reply.text
        (None, '4')
    """
    chunk = sse_data(line.rstrip(b"\r\n"))
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


def streamed_result(backend, reply: StreamedReply, ended, index, params, attempts, began) -> Result:
    # A trace its watch stopped is "stopped", not cut off inside its thinking.
    found, thinking_tokens = reply.split(stopped=ended in ("stopped", "cancelled"))
    if ended == "cancelled":
        return Result(
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
    backend._learn_reasoning([completion], params)
    return Result(
        index,
        1,
        attempts,
        [completion],
        reply.prompt_tokens or 0,
        reply.tokens,
        reply.cached_tokens,
        prompt_known=reply.prompt_tokens is not None,
    )
