"""A streamed OpenAI-compatible reply, assembled chunk by chunk (pure: no I/O).

Streaming is how a sample can end early: a DeepConf watch stops a trace whose confidence falls
(Fu et al. 2025), and a Bayesian early stop cancels samples still running (Aggarwal et al.
2023). Closing the stream ends the request; what arrived before is all that is counted.

Chunk shapes follow the OpenAI API reference for ``stream=True`` (chat: ``choices[].delta`` and
``choices[].logprobs.content``; text completions: ``choices[].text`` and
``choices[].logprobs.{tokens, token_logprobs, top_logprobs}``), with the usage of the request in
a last chunk when ``stream_options={"include_usage": true}``; vLLM and llama.cpp's server send
the same shapes.

A reasoning model's thinking is kept apart as in a whole reply
(:mod:`~langgraph_ttc.backends.thinking`): vLLM with a reasoning parser streams it as
``delta.reasoning`` (``delta.reasoning_content`` before vLLM PR #27752, and in llama.cpp's
server), the answer as ``delta.content`` (vLLM docs, "Reasoning Outputs": "Streaming chat
completions"); without a parser ``<think> ... </think>`` arrives in ``delta.content``; OpenAI's
reasoning models stream only the answer and count the hidden thinking in the last chunk's
``usage.completion_tokens_details.reasoning_tokens``. Each token is counted where it arrived
(thinking field, or text before the last ``</think>``), so thinking tokens are exact even when
the stream is cut.

A trace ended by its watch (DeepConf's confidence stop) is ``"stopped"``, never
``truncated_in_thinking``: the client chose to end it, wherever it stood; only ``max_tokens`` or
a stop string ending the thought marks a sample as cut off inside its thinking.

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

import bisect
import json
from collections.abc import Mapping
from typing import Any

from langgraph_ttc.backends.thinking import THINK_CLOSE, THINK_OPEN, ThinkingSplit, split_reply

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
    """The text, thinking, token log-probabilities, finish reason and usage of one streamed
    choice."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.thinking_parts: list[str] = []  # a reasoning parser's thinking deltas
        self.logprobs: list[float] = []
        self.top_logprobs: list[tuple[float, ...]] = []
        self.finish_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.reasoning_tokens = 0  # hidden thinking the server counted (usage)
        self.cached_tokens = 0
        self.deltas = 0  # text deltas seen (a token count when no log-probs were asked for)
        self.field_tokens = 0  # tokens that arrived in the thinking field
        # After each content delta: (characters of text so far, tokens so far), to count the
        # tokens of raw text before its last </think>.
        self._text_ends: list[int] = []
        self._token_ends: list[int] = []
        self._chars = 0
        self._seen = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def thinking(self) -> str | None:
        return "".join(self.thinking_parts) if self.thinking_parts else None

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
            produced = usage.get("completion_tokens_details") or {}
            self.reasoning_tokens = int(produced.get("reasoning_tokens") or 0)
        new: list[tuple[float, tuple[float, ...]]] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta is not None:
                text = delta.get("content")
                thought = delta.get("reasoning") or delta.get("reasoning_content")
            else:
                text, thought = choice.get("text"), None
            arrived = _token_logprobs(choice.get("logprobs"))
            count = len(arrived) or int(bool(text) or bool(thought))
            if isinstance(thought, str) and thought:
                self.thinking_parts.append(thought)
                self.field_tokens += count
                self.deltas += 1
            if text:
                self.parts.append(text)
                self.deltas += 1
                self._chars += len(text)
                self._text_ends.append(self._chars)
                self._token_ends.append(self._seen + count)
            self._seen += count
            new += arrived
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        for logprob, top in new:
            self.logprobs.append(logprob)
            self.top_logprobs.append(top)
        return new

    def split(self, *, stopped: bool = False) -> tuple[ThinkingSplit, int]:
        """The answer apart from the thinking, and the thinking's tokens: those the server
        counted (hidden reasoning), else those that arrived as thinking. A stream its watch
        ``stopped`` is not truncated, wherever it stood.

        Example:
            >>> reply = StreamedReply()
            >>> for piece in ("<think>", " 2 and 2", " </think>", " The answer is 4."):
            ...     _ = reply.feed({"choices": [{"delta": {"content": piece}}]})
            >>> reply.split()
            (ThinkingSplit(thinking='2 and 2', answer='The answer is 4.', truncated=False), 3)
        """
        found = split_reply(
            self.text,
            self.thinking,
            finish_reason=self.finish_reason,
            reasoning_tokens=self.reasoning_tokens,
        )
        if stopped and found.truncated:
            found = ThinkingSplit(found.thinking, found.answer, truncated=False)
        if self.reasoning_tokens:
            counted = self.reasoning_tokens
        elif self.thinking_parts:
            # Tokens the server counted but sent no delta for are the think tags a reasoning
            # parser swallows (vLLM sends no chunk for them): thinking too.
            counted = self.field_tokens + max(self.tokens - self._seen, 0)
        elif found.thinking is not None:
            counted = self._raw_thinking_tokens()
        else:
            counted = 0
        return found, min(counted, self.tokens)

    def _raw_thinking_tokens(self) -> int:
        """Tokens of the text up to its last ``</think>`` (all of it while the thought is
        open), less what came before an opening ``<think>``."""
        text = self.text
        closed = text.rfind(THINK_CLOSE)
        end = closed + len(THINK_CLOSE) if closed >= 0 else len(text)
        opened = text.find(THINK_OPEN)
        return self._tokens_through(end) - (self._tokens_through(opened) if opened > 0 else 0)

    def _tokens_through(self, chars: int) -> int:
        """Tokens of the deltas that carried the first ``chars`` characters of the text."""
        if not self._text_ends:
            return 0
        i = bisect.bisect_left(self._text_ends, chars)
        return self._token_ends[min(i, len(self._token_ends) - 1)]


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
