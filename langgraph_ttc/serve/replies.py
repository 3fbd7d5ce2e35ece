"""Replies in OpenAI's shapes: a chat completion (or text completion), its stream chunks, the
``usage`` of every internal call, and the documented ``ttc`` extension object.

``usage`` sums every call a request made (all choices, all purposes: samples, critiques,
judges, probes): ``prompt_tokens``, ``completion_tokens`` (thinking included),
``completion_tokens_details.reasoning_tokens`` and ``prompt_tokens_details.cached_tokens``.

The ``ttc`` object (top level of a reply, and of the last chunk of a stream)::

    {"method": "majority@8/qwen3-8b",   the resolved method
     "strategy": "majority",
     "answer": "12",                   the normalised answer voted for (choice 0)
     "confidence": 0.75,               its share of the vote (or the aggregator's score)
     "aggregator": "majority",         how the answer was chosen
     "tally": {"12": 6, "13": 2},      votes per answer
     "plan": {...},                    width, depth, aggregator, stop rule, reason
     "difficulty": {...},              the router's estimate (adaptive)
     "samples": 8, "failed": 0,        candidates drawn, and how many failed
     "calls": 8, "requests": 1,        model calls and HTTP requests, in all
     "by_purpose": {"generate": {"calls", "prompt_tokens", "completion_tokens",
                                 "reasoning_tokens"}, ...},
     "choices": [...]}                 one summary like the above per choice when n > 1

Example:
    >>> usage_body({"prompt_tokens": 10, "completion_tokens": 5, "thinking_tokens": 2})["total_tokens"]
    15
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.budget import Usage

__all__ = [
    "Choice",
    "chunk",
    "completion_body",
    "new_id",
    "openai_tool_calls",
    "run_summary",
    "ttc_extension",
    "usage_body",
]


@dataclass
class Choice:
    """One choice of a reply: the chosen text and tool calls, and why it ended."""

    index: int
    text: str
    tool_calls: list[dict] = field(default_factory=list)
    finish_reason: str = "stop"
    reasoning: str | None = None


def new_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]


def openai_tool_calls(calls: Sequence[Mapping[str, Any]]) -> list[dict]:
    """LangChain tool calls (``name``, ``args``, ``id``) in OpenAI's wire format.

    Example:
        >>> openai_tool_calls([{"name": "add", "args": {"a": 1}, "id": "c1"}])[0]["function"]
        {'name': 'add', 'arguments': '{"a": 1}'}
    """
    out = []
    for i, call in enumerate(calls):
        args = call.get("args", {})
        out.append(
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {
                    "name": call.get("name"),
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out


def usage_body(totals: Mapping[str, Any]) -> dict:
    """OpenAI's ``usage`` from a usage dict (:meth:`Usage.to_dict` totals)."""
    prompt = int(totals.get("prompt_tokens") or 0)
    completion = int(totals.get("completion_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(totals.get("cached_tokens") or 0)},
        "completion_tokens_details": {"reasoning_tokens": int(totals.get("thinking_tokens") or 0)},
    }


def _by_purpose(usage: Usage) -> dict:
    return {
        purpose: {
            "calls": c.calls,
            "failed": c.failed,
            "requests": c.requests,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "reasoning_tokens": c.thinking_tokens,
        }
        for purpose, c in sorted(usage.by_purpose.items())
    }


def run_summary(result: Mapping[str, Any]) -> dict:
    """What a reply tells of one run: the decision, the plan and the counts, not the samples."""
    usage = Usage.from_dict(result.get("usage"))
    total = usage.total()
    candidates = result.get("candidates") or []
    summary = {
        "strategy": result.get("strategy"),
        "answer": result.get("answer"),
        "confidence": result.get("confidence"),
        "aggregator": result.get("method"),
        "tally": result.get("tally") or {},
        "plan": result.get("plan") or {},
        "difficulty": result.get("difficulty") or {},
        "samples": len(candidates),
        "failed": len(result.get("failed") or []),
        "calls": total.calls,
        "requests": total.requests,
        "by_purpose": _by_purpose(usage),
    }
    if result.get("no_answer"):
        summary["no_answer"] = result["no_answer"]
    return summary


def ttc_extension(method: str, results: Sequence[Mapping[str, Any]]) -> dict:
    """The ``ttc`` object: choice 0's run at the top, the totals of all runs, and a summary
    per choice when there are several."""
    runs = [run_summary(r) for r in results]
    usage = total_usage(results)
    total = usage.total()
    top = dict(runs[0]) if runs else {}
    out = {
        "method": method,
        **top,
        "calls": total.calls,
        "requests": total.requests,
        "by_purpose": _by_purpose(usage),
    }
    if len(runs) > 1:
        out["choices"] = runs
    return out


def total_usage(results: Sequence[Mapping[str, Any]]) -> Usage:
    usage = Usage()
    for result in results:
        usage = usage.merged(Usage.from_dict(result.get("usage")))
    return usage


def completion_body(
    *,
    reply_id: str,
    model: str,
    choices: Sequence[Choice],
    usage: Mapping[str, Any],
    chat: bool = True,
    ttc: dict | None = None,
    created: int | None = None,
) -> dict:
    """A whole ``chat.completion`` (or ``text_completion``) reply.

    Example:
        >>> body = completion_body(reply_id="chatcmpl-1", model="majority@8/m",
        ...                        choices=[Choice(0, "4")], usage={})
        >>> body["choices"][0]["message"], body["choices"][0]["finish_reason"]
        ({'role': 'assistant', 'content': '4'}, 'stop')
    """
    out: list[dict] = []
    for c in choices:
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": c.text}
            if c.tool_calls:
                message["tool_calls"] = openai_tool_calls(c.tool_calls)
                message["content"] = c.text or None
            if c.reasoning:
                message["reasoning_content"] = c.reasoning
            out.append(
                {
                    "index": c.index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                }
            )
        else:
            out.append(
                {
                    "index": c.index,
                    "text": c.text,
                    "logprobs": None,
                    "finish_reason": c.finish_reason,
                }
            )
    body = {
        "id": reply_id,
        "object": "chat.completion" if chat else "text_completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": out,
        "usage": usage_body(usage),
    }
    if ttc is not None:
        body["ttc"] = ttc
    return body


def chunk(
    *,
    reply_id: str,
    model: str,
    created: int,
    chat: bool = True,
    index: int | None = None,
    delta: dict | None = None,
    text: str = "",
    finish_reason: str | None = None,
    usage: Mapping[str, Any] | None = None,
    ttc: dict | None = None,
) -> dict:
    """One stream chunk. ``index=None`` gives a chunk without choices (usage, progress).

    Example:
        >>> chunk(reply_id="c", model="m", created=0, index=0, delta={"content": "4"})["choices"]
        [{'index': 0, 'delta': {'content': '4'}, 'logprobs': None, 'finish_reason': None}]
    """
    choices: list[dict] = []
    if index is not None:
        if chat:
            choices.append(
                {
                    "index": index,
                    "delta": delta or {},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            )
        else:
            choices.append(
                {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
            )
    body: dict[str, Any] = {
        "id": reply_id,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    if ttc is not None:
        body["ttc"] = ttc
    return body
