"""Server-sent events in OpenAI's chunk format, for a method's runs.

A stream opens with each choice's role chunk at once, then (only when asked: the ``--progress``
flag or ``ttc.progress``) progress chunks as the runs draw samples, critique and route, each
``{"choices": [], "ttc": {"event": "sample", ...}}``; then each choice's answer the moment its
run decides (content, or voted tool calls, then its ``finish_reason``); then, with
``stream_options.include_usage``, the usage chunk of every internal call; then ``[DONE]``. The
last chunk before ``[DONE]`` carries the ``ttc`` extension object. A failure after the stream
began is sent as OpenAI streams one: ``data: {"error": {...}}``.

Example:
    >>> sse({"a": 1})
    b'data: {"a":1}\\n\\n'
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from langgraph_ttc.serve.engine import Decided, Heartbeat, Progress
from langgraph_ttc.serve.errors import APIError
from langgraph_ttc.serve.replies import Choice, chunk, openai_tool_calls, total_usage, ttc_extension

__all__ = ["DONE", "KEEPALIVE", "choice_of", "method_stream", "sse"]

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: every client ignores it, proxies see traffic


def sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def choice_of(index: int, result: dict, message: Any) -> Choice:
    """A run's decision as a reply choice (its text, its voted tool calls)."""
    calls = list(getattr(message, "tool_calls", None) or [])
    text = message.content if isinstance(message.content, str) else str(message.content)
    if result.get("answer") is None and not calls:
        reason = "stop"
    else:
        reason = "tool_calls" if calls else "stop"
    return Choice(index=index, text=text, tool_calls=calls, finish_reason=reason)


async def method_stream(
    events: AsyncIterator[Any],
    *,
    reply_id: str,
    model: str,
    chat: bool,
    choices: int,
    include_usage: bool,
    progress: bool,
    on_result: Callable[[dict], None],
    on_answer: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """The SSE bytes of a method's runs (see the module docstring)."""
    created = int(time.time())
    base = {"reply_id": reply_id, "model": model, "created": created, "chat": chat}
    if chat:
        for i in range(choices):
            yield sse(chunk(**base, index=i, delta={"role": "assistant", "content": ""}))
    results: dict[int, dict] = {}
    answered = False
    try:
        async for event in events:
            if isinstance(event, Heartbeat):
                yield KEEPALIVE
            elif isinstance(event, Progress):
                if progress:
                    yield sse(chunk(**base, ttc={"choice": event.index, **_event(event.data)}))
            elif isinstance(event, Decided):
                if not answered:
                    answered = True
                    on_answer()
                results[event.index] = event.result
                on_result(event.result)
                choice = choice_of(event.index, event.result, event.message)
                for piece in _answer_chunks(base, choice, chat):
                    yield piece
                last = len(results) == choices and not include_usage
                extension = _extension(model, results) if last else None
                yield sse(
                    chunk(
                        **base,
                        index=choice.index,
                        finish_reason=choice.finish_reason,
                        ttc=extension,
                    )
                )
    except APIError as exc:
        yield sse(exc.body())
        return
    if include_usage:
        usage = total_usage(list(results.values())).to_dict()
        yield sse(chunk(**base, usage=usage, ttc=_extension(model, results)))
    yield DONE


def _answer_chunks(base: dict, choice: Choice, chat: bool) -> list[bytes]:
    if not chat:
        return [sse(chunk(**base, index=choice.index, text=choice.text))]
    out = []
    if choice.text:
        out.append(sse(chunk(**base, index=choice.index, delta={"content": choice.text})))
    if choice.tool_calls:
        calls = [{"index": i, **c} for i, c in enumerate(openai_tool_calls(choice.tool_calls))]
        out.append(sse(chunk(**base, index=choice.index, delta={"tool_calls": calls})))
    return out


def _extension(model: str, results: dict[int, dict]) -> dict:
    return ttc_extension(model, [results[i] for i in sorted(results)])


def _event(data: dict) -> dict:
    """A progress event for the wire: its kind and fields (no sample text is ever in one)."""
    data = dict(data)
    return {"event": data.pop("ttc_event"), **data}
