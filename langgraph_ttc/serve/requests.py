"""An OpenAI request body, checked and turned into what a run needs.

:func:`parse_chat` reads ``/v1/chat/completions`` bodies and :func:`parse_completion`
``/v1/completions`` ones into one :class:`TTCRequest`; every field this server cannot honour is
refused with a 400 naming it (never silently dropped).

A completions ``prompt`` may be a list (as OpenAI's): each prompt gets ``n`` choices, numbered
prompt by prompt (a plain call sends one upstream request per prompt); with a batch budget (``ttc.batch_budget``) the prompts are one batch under one
total budget (:mod:`langgraph_ttc.serve.batching`).

What ``n`` means: as for any model, how many choices come back. Under a method each choice is
its own run of the method (``n`` x its calls, seeds offset per choice); the method's own sample
count is ``@8`` or ``ttc.n``, never the request's ``n``. A plain pass-through call sends ``n``
upstream; when a whole reply brings fewer choices (llama.cpp ignores ``n``), the rest are asked
for one per request and merged in (a stream is relayed as the upstream sends it).

Example:
    >>> req = parse_chat({"model": "m", "messages": [{"role": "user", "content": "2+2?"}]})
    >>> req.messages[0].type, req.choices, req.stream
    ('human', 1, False)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages

from langgraph_ttc.serve.errors import bad_request

__all__ = ["TTCRequest", "parse_chat", "parse_completion", "parse_json"]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# Fields a chat request may carry that a method run does not use, and why they are accepted:
# they change nothing the client could observe (user ids, metadata, service tier hints).
_IGNORED = {"user", "metadata", "store", "service_tier", "parallel_tool_calls", "stream_options"}
# Fields sent upstream on a pass-through call and refused under a method (said in the 400).
_PASSTHROUGH_ONLY = (
    "stop",
    "top_p",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "audio",
    "modalities",
    "prediction",
    "web_search_options",
    "reasoning_effort",
    "echo",
    "best_of",
    "suffix",
)


@dataclass
class TTCRequest:
    """One request: its messages and sampling options, and the raw body for pass-through."""

    model: str
    messages: list[BaseMessage]
    chat: bool = True
    stream: bool = False
    include_usage: bool = False
    choices: int = 1
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    tools: list[dict] | None = None
    tool_choice: Any = None
    response_format: dict | None = None
    ttc: Any = None
    passthrough_only: tuple[str, ...] = ()
    body: dict = field(default_factory=dict)
    prompts: list[list[BaseMessage]] = field(default_factory=list)

    @property
    def inputs(self) -> list[list[BaseMessage]]:
        """Each prompt's messages: a completions request's list prompt, else ``messages``."""
        return self.prompts or [self.messages]

    @property
    def runs(self) -> int:
        """The method runs the request asks for: ``n`` per prompt (choice ``p * n + c`` is
        prompt p's choice c, as OpenAI numbers the choices of a list prompt)."""
        return len(self.inputs) * self.choices


def parse_json(raw: bytes) -> dict:
    """The body as a JSON object, or a 400 saying what is wrong with it.

    Example:
        >>> parse_json(b'{"model": "m"}')
        {'model': 'm'}
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(
            f"The body is not valid JSON ({exc}); send a JSON object.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise bad_request(
            f"The body must be a JSON object; got {type(body).__name__}.", code="invalid_json"
        )
    return body


def parse_chat(body: Mapping[str, Any]) -> TTCRequest:
    """A ``/v1/chat/completions`` body as a :class:`TTCRequest` (400 on anything wrong)."""
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list of messages.", param="messages")
    for i, message in enumerate(raw):
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            raise bad_request(
                f"messages[{i}] must be an object with a role in {list(_ROLES)}.",
                param=f"messages[{i}]",
            )
    try:
        messages = convert_to_messages([_message(m) for m in raw])
    except (ValueError, TypeError, KeyError) as exc:
        raise bad_request(f"Cannot read the messages: {exc}", param="messages") from None
    request = _common(body, messages, chat=True)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, Mapping) and t.get("type") == "function" and "function" in t
            for t in tools
        ):
            raise bad_request(
                'tools must be a list of {"type": "function", "function": {...}}.', param="tools"
            )
        request.tools = [dict(t) for t in tools] or None
    request.tool_choice = body.get("tool_choice")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, Mapping) or "type" not in fmt):
        raise bad_request("response_format must be an object with a type.", param="response_format")
    request.response_format = dict(fmt) if fmt else None
    return request


def parse_completion(body: Mapping[str, Any]) -> TTCRequest:
    """A ``/v1/completions`` body: its prompt is the question; a list of prompts is answered
    prompt by prompt (``n`` choices each, in order), or as one batch under a batch budget."""
    prompt = body.get("prompt")
    texts = prompt if isinstance(prompt, list) else [prompt]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise bad_request(
            "'prompt' must be a non-empty string or a non-empty list of non-empty strings "
            "(token arrays are not accepted).",
            param="prompt",
        )
    request = _common(body, [HumanMessage(texts[0])], chat=False)
    if isinstance(prompt, list) and len(texts) > 1:
        request.prompts = [[HumanMessage(t)] for t in texts]
    return request


def _message(message: Mapping[str, Any]) -> dict:
    """OpenAI's ``developer`` role is a system message to every other model."""
    message = dict(message)
    if message["role"] == "developer":
        message["role"] = "system"
    if message.get("content") is None:
        message["content"] = ""
    return message


def _common(body: Mapping[str, Any], messages: list[BaseMessage], *, chat: bool) -> TTCRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' must be a model name, e.g. majority@8/<model>.", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false.", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, Mapping):
        raise bad_request("stream_options must be an object.", param="stream_options")
    choices = body.get("n", 1)
    if choices is None:
        choices = 1
    if isinstance(choices, bool) or not isinstance(choices, int) or choices < 1:
        raise bad_request(f"n must be a whole number >= 1; got {choices!r}.", param="n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise bad_request(
            f"max_tokens must be a whole number >= 1; got {max_tokens!r}.", param="max_tokens"
        )
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, (str, list)):
        raise bad_request("stop must be a string or a list of strings.", param="stop")
    _number(body, "top_p", 0.0, 1.0)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request(f"seed must be an integer; got {seed!r}.", param="seed")
    return TTCRequest(
        model=model.strip(),
        messages=messages,
        chat=chat,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        choices=choices,
        temperature=_number(body, "temperature", 0.0, 2.0),
        max_tokens=max_tokens,
        seed=seed,
        ttc=body.get("ttc"),
        passthrough_only=tuple(
            k for k in _PASSTHROUGH_ONLY if body.get(k) not in (None, False, [], "")
        ),
        body=dict(body),
    )


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(
            f"{key} must be a number in [{low:g}, {high:g}]; got {value!r}.", param=key
        )
    return float(value)
