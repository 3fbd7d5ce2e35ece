"""A streamed OpenAI-compatible reply, assembled chunk by chunk (pure: no I/O).

Streaming is how a sample can end early: a DeepConf watch stops a trace whose confidence falls
(Fu et al. 2025), and a Bayesian early stop cancels samples still running (Aggarwal et al.
2023). Closing the stream ends the request; what arrived before is all that is counted.

Chunk shapes follow the OpenAI API reference for ``stream=True`` (chat: ``choices[].delta`` and
``choices[].logprobs.content``; text completions: ``choices[].text`` and
``choices[].logprobs.{tokens, token_logprobs, top_logprobs}``), with the usage of the request in
a last chunk when ``stream_options={"include_usage": true}``; vLLM and llama.cpp's server send
the same shapes.

Example:
    >>> reply = StreamedReply()
    >>> reply.feed({"choices": [{"index": 0, "delta": {"content": "4"}, "logprobs": {"content":
    ...     [{"token": "4", "logprob": -0.1, "top_logprobs": [{"token": "4", "logprob": -0.1}]}]}}]})
    [(-0.1, (-0.1,))]
    >>> reply.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    ...             "usage": {"prompt_tokens": 7, "completion_tokens": 1}})
    []
    >>> reply.text, reply.finish_reason, reply.tokens, reply.prompt_tokens
    ('4', 'stop', 1, 7)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["StreamedReply", "sse_data"]


def sse_data(line: str | bytes) -> dict | None:
    """The JSON of one server-sent-events line (``None`` for other lines and ``[DONE]``).

    Example:
        >>> sse_data('data: {"x": 1}'), sse_data("data: [DONE]"), sse_data(": ping")
        ({'x': 1}, None, None)
    """
    if isinstance(line, bytes):
        line = line.decode()
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    return json.loads(payload)


class StreamedReply:
    """The text, token log-probabilities, finish reason and usage of one streamed choice."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.logprobs: list[float] = []
        self.top_logprobs: list[tuple[float, ...]] = []
        self.finish_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cached_tokens = 0
        self.deltas = 0  # text deltas seen (a token count when no log-probs were asked for)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def tokens(self) -> int:
        """Tokens generated so far: the server's count when it gave one, else the log-prob
        entries (one per token), else the text deltas."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        return len(self.logprobs) or self.deltas

    def feed(self, chunk: Mapping[str, Any]) -> list[tuple[float, tuple[float, ...]]]:
        """Add one chunk; returns the ``(logprob, top_logprobs)`` of the tokens it brought."""
        usage = chunk.get("usage")
        if usage:
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)
            details = usage.get("prompt_tokens_details") or {}
            self.cached_tokens = int(details.get("cached_tokens") or 0)
        new: list[tuple[float, tuple[float, ...]]] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            text = (delta or {}).get("content") if delta is not None else choice.get("text")
            if text:
                self.parts.append(text)
                self.deltas += 1
            new += _token_logprobs(choice.get("logprobs"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        for logprob, top in new:
            self.logprobs.append(logprob)
            self.top_logprobs.append(top)
        return new


def _token_logprobs(logprobs: Mapping[str, Any] | None) -> list[tuple[float, tuple[float, ...]]]:
    if not logprobs:
        return []
    content = logprobs.get("content")
    if content is not None:  # chat
        return [
            (
                float(t["logprob"]),
                tuple(
                    sorted((float(a["logprob"]) for a in t.get("top_logprobs") or ()), reverse=True)
                ),
            )
            for t in content
        ]
    values = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or [None] * len(values)
    return [
        (float(v), tuple(sorted((float(x) for x in (alts or {}).values()), reverse=True)))
        for v, alts in zip(values, tops, strict=False)
        if v is not None
    ]
