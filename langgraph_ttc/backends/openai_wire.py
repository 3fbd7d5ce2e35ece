"""The OpenAI wire format, both ways, as pure functions over plain JSON dicts: the request body
for some messages and sampling parameters, and :class:`~langgraph_ttc.backends.base.Completion`
objects from a reply (chat ``/chat/completions`` and text ``/completions`` alike).

Replies are read as parsed JSON rather than the ``openai`` package's pydantic models, which cost
more CPU per choice than the rest of a request; the shapes follow the OpenAI API reference
(``choices[].message``, ``choices[].logprobs``, ``usage``), which vLLM and llama.cpp's server
also speak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_openai_messages

from langgraph_ttc.backends.base import Completion, SamplingParams
from langgraph_ttc.backends.thinking import estimate_thinking_tokens, split_reply
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript

__all__ = [
    "ReplyUsage",
    "completions_from",
    "reasoning_tokens_from",
    "request_body",
    "split_tokens",
    "usage_from",
]

# Request fields the ``openai`` client takes as keyword arguments; other thinking fields (vLLM's
# thinking_token_budget, llama.cpp's thinking_budget_tokens) travel in ``extra_body``.
_CLIENT_FIELDS = frozenset({"reasoning_effort"})


def request_body(
    messages: Sequence[BaseMessage],
    params: SamplingParams,
    *,
    mode: str,
    tools: Sequence[Mapping] = (),
    extra: Mapping[str, Any] | None = None,
    new_tokens: int | None = None,
    thinking: Mapping[str, Any] | None = None,
    openai_reasoning: bool = False,
) -> dict[str, Any]:
    """The request's keyword arguments (without ``model``, ``n`` and ``seed``, set per request).

    Args:
        new_tokens: the cap on generated tokens, thinking included (default ``max_tokens``).
        thinking: the fields that carry a thinking budget (:mod:`~.reasoning`).
        openai_reasoning: an OpenAI reasoning model: the cap goes in ``max_completion_tokens``
            (they refuse ``max_tokens``) and ``temperature``/``top_p`` stay unset (they accept
            only the defaults; OpenAI API reference, "Reasoning models").

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> body = request_body([HumanMessage("2+2?")], SamplingParams(top_logprobs=3), mode="chat")
        >>> body["messages"], body["logprobs"], body["top_logprobs"]
        ([{'role': 'user', 'content': '2+2?'}], True, 3)
        >>> body = request_body([HumanMessage("2+2?")], SamplingParams(), mode="chat",
        ...     new_tokens=4096, thinking={"thinking_token_budget": 3840})
        >>> body["max_tokens"], body["extra_body"]
        (4096, {'thinking_token_budget': 3840})
    """
    cap = params.max_tokens if new_tokens is None else new_tokens
    if openai_reasoning and mode == "chat":
        body: dict[str, Any] = {"max_completion_tokens": cap}
    else:
        body = {"temperature": params.temperature, "top_p": params.top_p, "max_tokens": cap}
    wants_logprobs = params.logprobs or params.top_logprobs > 0
    if mode == "chat":
        body["messages"] = convert_to_openai_messages(list(messages))
        if params.stop:
            body["stop"] = list(params.stop)
        if wants_logprobs:
            body["logprobs"] = True
            if params.top_logprobs:
                body["top_logprobs"] = params.top_logprobs
        if tools:
            body["tools"] = [dict(t) for t in tools]
    else:
        body["prompt"] = render_transcript(messages)
        body["stop"] = list(params.stop or TRANSCRIPT_STOPS)
        if wants_logprobs:
            # The completions API returns the top `logprobs` alternatives (and the sampled one).
            body["logprobs"] = max(params.top_logprobs, 1)
    extra = dict(extra or {})
    for key, value in (thinking or {}).items():
        if key in _CLIENT_FIELDS:
            body[key] = value
        else:
            extra[key] = value
    if extra:
        body["extra_body"] = extra
    return body


class ReplyUsage(tuple):
    """``(prompt_tokens, completion_tokens, cached_tokens)`` of one reply."""

    __slots__ = ()

    @property
    def prompt(self) -> int:
        return self[0]

    @property
    def completion(self) -> int:
        return self[1]

    @property
    def cached(self) -> int:
        return self[2]


def usage_from(reply: Mapping[str, Any]) -> ReplyUsage:
    """The token counts a reply reports (0 where it reports none).

    Example:
        >>> tuple(usage_from({"usage": {"prompt_tokens": 5, "completion_tokens": 7,
        ...     "prompt_tokens_details": {"cached_tokens": 4}}}))
        (5, 7, 4)
    """
    usage = reply.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return ReplyUsage(
        (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(details.get("cached_tokens") or 0),
        )
    )


def reasoning_tokens_from(reply: Mapping[str, Any]) -> int:
    """The thinking tokens a reply counts (``usage.completion_tokens_details.reasoning_tokens``:
    OpenAI's reasoning models, and vLLM since PR #45802); 0 when it counts none.

    Example:
        >>> reasoning_tokens_from({"usage": {"completion_tokens": 90,
        ...     "completion_tokens_details": {"reasoning_tokens": 64}}})
        64
    """
    details = (reply.get("usage") or {}).get("completion_tokens_details") or {}
    return int(details.get("reasoning_tokens") or 0)


def completions_from(
    reply: Mapping[str, Any],
    count: int,
    seeds: Sequence[int | None],
    latency_s: float,
) -> list[Completion]:
    """The first ``count`` choices of a reply as completions (in ``index`` order), sharing the
    reply's completion tokens among them in proportion to their text length, thinking apart
    from the answer (:func:`~langgraph_ttc.backends.thinking.split_reply`).

    Thinking tokens are the ones the reply counts, shared in proportion to each choice's
    thinking (evenly when the thinking is hidden), else estimated from the text's share.

    Example:
        >>> reply = {"choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}],
        ...          "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
        >>> [(c.text, c.completion_tokens) for c in completions_from(reply, 1, [7], 0.1)]
        [('4', 1)]
        >>> reply = {"choices": [{"index": 0, "finish_reason": "stop", "message":
        ...     {"content": "The answer is 4.", "reasoning": "2 and 2 make 4"}}],
        ...     "usage": {"prompt_tokens": 3, "completion_tokens": 12}}
        >>> c = completions_from(reply, 1, [7], 0.1)[0]
        >>> c.text, c.thinking, c.thinking_tokens
        ('The answer is 4.', '2 and 2 make 4', 6)
    """
    choices = reply.get("choices") or ()
    if len(choices) > 1:
        choices = sorted(choices, key=lambda c: c.get("index") or 0)
    choices = choices[:count]
    usage = usage_from(reply)
    counted = reasoning_tokens_from(reply)
    parts = [choice_parts(c) for c in choices]
    shares = split_tokens(usage.completion, [content + thought for content, thought in parts])
    counted_shares = split_tokens(counted, [thought for _, thought in parts])
    out = []
    for i, (choice, (content, thought), share, seed) in enumerate(
        zip(choices, parts, shares, seeds, strict=False)
    ):
        logprobs, top = choice_logprobs(choice)
        tool_calls = choice_tool_calls(choice)
        found = split_reply(
            content,
            thought,
            finish_reason=choice.get("finish_reason"),
            reasoning_tokens=counted,
            tool_calls=tool_calls,
        )
        if counted:
            thinking_tokens = min(counted_shares[i], share)
        else:
            thinking_tokens = estimate_thinking_tokens(share, found.thinking, found.answer)
        out.append(
            Completion(
                text=found.answer,
                finish_reason=choice.get("finish_reason"),
                prompt_tokens=usage.prompt,
                completion_tokens=share,
                cached_tokens=usage.cached,
                latency_s=latency_s,
                seed=seed,
                logprobs=logprobs,
                top_logprobs=top,
                tool_calls=tool_calls,
                thinking=found.thinking,
                thinking_tokens=thinking_tokens,
                truncated_in_thinking=found.truncated,
            )
        )
    return out


def choice_text(choice: Mapping[str, Any]) -> str:
    message = choice.get("message")
    if message is not None:
        return message.get("content") or ""
    return choice.get("text") or ""


def choice_parts(choice: Mapping[str, Any]) -> tuple[str, str]:
    """``(content, thinking field)`` of a choice: vLLM's ``reasoning`` (``reasoning_content``
    before vLLM PR #27752, and still llama.cpp's name); ``""`` where there is none.

    Example:
        >>> choice_parts({"message": {"content": None, "reasoning_content": "hmm"}})
        ('', 'hmm')
    """
    message = choice.get("message")
    if message is None:
        return choice.get("text") or "", ""
    thought = message.get("reasoning") or message.get("reasoning_content") or ""
    return message.get("content") or "", thought if isinstance(thought, str) else ""


def choice_logprobs(
    choice: Mapping[str, Any],
) -> tuple[tuple[float, ...] | None, tuple[tuple[float, ...], ...] | None]:
    """Per-token log-probabilities and the top alternatives (descending), chat or text form.

    Example:
        >>> choice_logprobs({"logprobs": {"content": [{"token": "4", "logprob": -0.1,
        ...     "top_logprobs": [{"token": "5", "logprob": -3.0}, {"token": "4", "logprob": -0.1}]}]}})
        ((-0.1,), ((-0.1, -3.0),))
    """
    logprobs = choice.get("logprobs")
    if not logprobs:
        return None, None
    content = logprobs.get("content")
    if content is not None:  # chat: one entry per token
        values = tuple(float(t["logprob"]) for t in content)
        tops = [t.get("top_logprobs") or () for t in content]
        top = tuple(_descending(float(a["logprob"]) for a in alts) for alts in tops)
        return values, (top if any(top) else None)
    values_raw = logprobs.get("token_logprobs")
    if values_raw is None:
        return None, None
    values = tuple(float(v) for v in values_raw if v is not None)
    tops_raw = logprobs.get("top_logprobs") or ()
    top = tuple(_descending(float(v) for v in (alts or {}).values()) for alts in tops_raw)
    return values, (top if any(top) else None)


def _descending(values) -> tuple[float, ...]:
    return tuple(sorted(values, reverse=True))


def choice_tool_calls(choice: Mapping[str, Any]) -> tuple[dict, ...]:
    """Tool calls as ``{"name", "args", "id"}``; unparsable arguments give ``args={}`` + ``error``.

    Example:
        >>> choice_tool_calls({"message": {"tool_calls": [{"id": "c1", "type": "function",
        ...     "function": {"name": "add", "arguments": '{"a": 1}'}}]}})
        ({'name': 'add', 'args': {'a': 1}, 'id': 'c1'},)
    """
    message = choice.get("message") or {}
    out = []
    for call in message.get("tool_calls") or ():
        function = call.get("function")
        if not function:
            continue
        entry: dict[str, Any] = {"name": function.get("name"), "args": {}, "id": call.get("id")}
        raw = function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
            if isinstance(args, dict):
                entry["args"] = args
            else:
                entry["error"] = f"tool arguments are not a JSON object: {raw!r}"
        except json.JSONDecodeError:
            entry["error"] = f"tool arguments are not valid JSON: {raw!r}"
        out.append(entry)
    return tuple(out)


def split_tokens(total: int, texts: Sequence[str]) -> list[int]:
    """Share an n-request's completion tokens among its choices, proportional to text length.

    Example:
        >>> split_tokens(10, ["abc", "abcdefg"])
        [4, 6]
    """
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
