"""Any LangChain chat model as a backend: n concurrent ``ainvoke`` calls.

Chat models have no portable ``n=``, so a draw of ``n`` samples is ``n`` calls made through
LangChain's own ``batch``/``abatch`` (``max_concurrency`` at once). Sampling parameters are bound only when the model class declares them as fields
(``temperature``, ``top_p``, ``max_tokens``, ``seed``); stops go through the ``stop=`` argument.
Retries are the chat model's own (e.g. ``ChatOpenAI(max_retries=...)``), so ``Draw.requests``
counts calls, not the HTTP attempts inside them.

Reasoning models: the thinking is read from langchain-core's standard content blocks
(``message.content_blocks``, ``{"type": "reasoning", "reasoning": ...}``, which also normalise
Anthropic's ``thinking`` blocks and ``additional_kwargs["reasoning_content"]``), else from raw
``<think>`` tags in the text; its tokens from ``usage_metadata["output_token_details"]
["reasoning"]``. A thinking budget is bound as ``reasoning_effort`` (models declaring that
field, e.g. ``ChatOpenAI``) or ``thinking={"type": "enabled", "budget_tokens": N}`` (models
declaring ``thinking``, e.g. ``ChatAnthropic``; Anthropic's extended thinking takes at least
1024); other models are told once that only ``max_tokens`` caps the thinking.

Token log-probabilities (what confidence methods read): a model that reports them puts them in
``AIMessage.response_metadata["logprobs"]`` in the OpenAI chat shape, ``{"content": [{"token",
"logprob", "top_logprobs": [{"token", "logprob"}, ...]}, ...]}``; langchain-openai's
``ChatOpenAI`` does so when called with ``logprobs=True`` (its docstring's "Logprobs" example;
``BaseChatOpenAI._create_chat_result`` copies ``choice["logprobs"]`` into the generation info,
which langchain-core merges into ``response_metadata``; streamed chunks carry their tokens'
entries the same way). Models whose class declares ``logprobs`` and ``top_logprobs`` fields (as
``BaseChatOpenAI`` does) get them bound when a request asks (``SamplingParams.top_logprobs``);
with a stop watch (DeepConf online) such a call is streamed and closed the moment the watch
says stop. Other models (e.g. ``ChatAnthropic``) report none: ``gives_logprobs`` is False and
strategies that read confidence refuse them up front.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    convert_to_messages,
    message_chunk_to_message,
)
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import merge_configs
from langgraph.errors import GraphBubbleUp

from langgraph_ttc.backends.base import (
    Backend,
    Completion,
    Draw,
    SamplingParams,
    StopTrace,
    TraceWatch,
    Until,
)
from langgraph_ttc.backends.openai_wire import choice_logprobs
from langgraph_ttc.backends.reasoning import effort_for, warn_once
from langgraph_ttc.backends.thinking import estimate_thinking_tokens, split_reply
from langgraph_ttc.errors import TTCConfigError

__all__ = ["ChatModelBackend"]

MAX_ERROR_CHARS = 500
_BINDABLE = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "reasoning_effort",
    "thinking",
    "logprobs",
    "top_logprobs",
)
# A model that declares both fields takes them per call (langchain-openai's BaseChatOpenAI).
_LOGPROB_FIELDS = frozenset({"logprobs", "top_logprobs"})
ANTHROPIC_MIN_THINKING = 1024  # Anthropic extended thinking: budget_tokens >= 1024


class ChatModelBackend(Backend):
    """Samples from a LangChain chat model (``ChatOpenAI``, ``ChatAnthropic``, fakes, ...).

    Args:
        model: a ``BaseChatModel``, or one already bound (``model.bind_tools(...)``).
        max_concurrency: most calls in flight at once within one draw.
        model_id: the name recorded in results; default: the model's ``model_name``/``model``.
        reasoning: the model thinks before it answers: calls bind ``max_tokens`` plus room to
            think; ``None`` finds out from the first reply that carries thinking.
        logprobs: whether the model reports token log-probabilities in
            ``response_metadata["logprobs"]`` (see the module docstring). ``None``: it does when
            its class declares ``logprobs`` and ``top_logprobs`` fields (``ChatOpenAI``), which
            are then bound per request; ``True`` for a model that reports them by itself (one
            already bound with ``logprobs=True``); ``False`` never asks.

    Usage comes from ``AIMessage.usage_metadata``. A model that reports none is charged an
    upper bound (prompt: :meth:`count_prompt_tokens`; completion: UTF-8 bytes of the text) so token
    budgets stay safe; ``Draw.extra["estimated_usage"]`` counts such samples.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> model = GenericFakeChatModel(messages=iter(["The answer is 4."] * 2))
        >>> backend = ChatModelBackend(model)
        >>> draw = backend.sample([("human", "2+2?")], 2, SamplingParams())
        >>> [c.text for c in draw.completions], draw.requests, backend.gives_logprobs
        (['The answer is 4.', 'The answer is 4.'], 2, False)
    """

    honours_n = False
    takes_thinking_budget = True  # bound to the model's own field, or said once that it is not

    def __init__(
        self,
        model: BaseChatModel | Runnable,
        *,
        max_concurrency: int = 8,
        model_id: str | None = None,
        reasoning: bool | None = None,
        logprobs: bool | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise TTCConfigError(f"max_concurrency must be >= 1; got {max_concurrency}.")
        self.model = model
        self.max_concurrency = max_concurrency
        self.model_id = model_id or _model_name(model)
        self.config: RunnableConfig | None = None
        self._learned = {"reasoning": reasoning}  # shared by copies (with_config, with_tools)
        self._logprobs = logprobs

    @property
    def gives_logprobs(self) -> bool:  # type: ignore[override]
        """Whether samples carry token log-probabilities when asked: told so, or the model's
        class declares ``logprobs`` and ``top_logprobs`` (``ChatOpenAI``)."""
        if self._logprobs is not None:
            return self._logprobs
        return _fields(self.model) >= _LOGPROB_FIELDS

    @property
    def stops_traces(self) -> bool:  # type: ignore[override]
        """A call watched by ``stop_trace`` is streamed and closed when the watch says stop; the
        watch reads the streamed log-probabilities, so this needs :attr:`gives_logprobs`."""
        return self.gives_logprobs

    @property
    def reasoning(self) -> bool:  # type: ignore[override]
        """True when told so, or once a reply has carried thinking."""
        return self._learned["reasoning"] is True

    def __repr__(self) -> str:
        return (
            f"ChatModelBackend(model_id={self.model_id!r}, max_concurrency={self.max_concurrency})"
        )

    def with_config(self, config: RunnableConfig) -> ChatModelBackend:
        """A copy whose calls carry ``config`` (callbacks, tags, metadata), merged with earlier ones."""
        clone = copy.copy(self)
        clone.config = merge_configs(self.config, config)
        return clone

    def with_tools(self, tools: Sequence[Any], **kwargs: Any) -> ChatModelBackend:
        """A copy whose model is ``model.bind_tools(tools, **kwargs)``."""
        inner = _chat_model(self.model)
        bound = inner.bind_tools(tools, **kwargs)
        earlier = getattr(self.model, "kwargs", None) if self.model is not inner else None
        clone = copy.copy(self)
        clone.model = bound.bind(**earlier) if earlier else bound  # keep the user's bindings
        return clone

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
        """Draw ``n`` samples as ``n`` calls through LangChain's ``batch`` (threads, at most
        ``max_concurrency`` at once); a failed call gives an error sample. A call already in
        flight when the time budget runs out is allowed to finish; later ones are not made.

        ``stop_trace`` (with :attr:`stops_traces`): each call is streamed, its tokens'
        log-probabilities fed to a fresh watch, and the stream closed when it says stop
        (``finish_reason="stopped"``, only the tokens received counted). ``until`` is not
        honoured (``cancels`` is False: the graph draws one sample at a time instead)."""
        if n <= 0:
            return Draw()
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        calls = self._calls(messages, params, n)
        streamed = stop_trace is not None and self.stops_traces

        def one(index: int) -> tuple[Completion, bool]:
            runnable, kwargs, seed = calls[index]
            began = time.monotonic()
            try:
                if deadline is not None and began >= deadline:
                    raise asyncio.TimeoutError()
                if streamed:
                    reply = self._stream(runnable, messages, kwargs, stop_trace())
                else:
                    reply = runnable.invoke(messages, self.config, **kwargs)
            except Exception as exc:
                return self._failed(exc, seed, began), False
            return self._completion(messages, reply, seed, time.monotonic() - began)

        results = RunnableLambda(one).batch(list(range(n)), self._batch_config())
        return self._draw(results, n)

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
        """Async :meth:`sample` (``abatch``); a call still running when the time budget runs
        out is cancelled and fails."""
        if n <= 0:
            return Draw()
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        calls = self._calls(messages, params, n)
        streamed = stop_trace is not None and self.stops_traces

        async def one(index: int) -> tuple[Completion, bool]:
            runnable, kwargs, seed = calls[index]
            began = time.monotonic()
            try:
                remaining = None if deadline is None else deadline - began
                if remaining is not None and remaining <= 0:
                    raise asyncio.TimeoutError()
                if streamed:
                    call = self._astream(runnable, messages, kwargs, stop_trace())
                else:
                    call = runnable.ainvoke(messages, self.config, **kwargs)
                reply = await asyncio.wait_for(call, remaining)
            except Exception as exc:
                return self._failed(exc, seed, began), False
            return self._completion(messages, reply, seed, time.monotonic() - began)

        results = await RunnableLambda(one).abatch(list(range(n)), self._batch_config())
        return self._draw(results, n)

    def _stream(
        self, runnable: Runnable, messages: list[BaseMessage], kwargs: dict, watch: TraceWatch
    ) -> BaseMessage:
        """One call streamed until it ends or ``watch`` says stop; then the stream is closed
        (closing langchain-openai's generator closes its HTTP response)."""
        stream = runnable.stream(messages, self.config, **kwargs)
        reply = _Streamed()
        try:
            for chunk in stream:
                if reply.add(chunk, watch):
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return reply.message()

    async def _astream(
        self, runnable: Runnable, messages: list[BaseMessage], kwargs: dict, watch: TraceWatch
    ) -> BaseMessage:
        """Async :meth:`_stream`."""
        stream = runnable.astream(messages, self.config, **kwargs)
        reply = _Streamed()
        try:
            async for chunk in stream:
                if reply.add(chunk, watch):
                    break
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        return reply.message()

    def _batch_config(self) -> RunnableConfig:
        # The samples' own callbacks travel in self.config; the batch itself is not traced.
        return {"max_concurrency": self.max_concurrency, "callbacks": []}

    def _calls(
        self, messages: list[BaseMessage], params: SamplingParams, n: int
    ) -> list[tuple[Runnable, dict[str, Any], int | None]]:
        """Per sample: the model bound to its sampling parameters and seed, the call's keyword
        arguments (stops) and the seed."""
        fields = _fields(self.model)
        kwargs: dict[str, Any] = {"stop": list(params.stop)} if params.stop else {}
        thinking = self._thinking_binding(params, fields)
        wants_logprobs = params.logprobs or params.top_logprobs > 0
        logprobs: dict[str, Any] = {}
        if wants_logprobs and self.gives_logprobs:
            # OpenAI chat: logprobs=True, top_logprobs=k (k <= 20 on OpenAI's own API).
            logprobs = {"logprobs": True, "top_logprobs": params.top_logprobs or None}
        calls = []
        for index in range(n):
            seed = params.seed_for(index)
            values = {
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": self.new_tokens(params),
                "seed": seed,
                **thinking,
                **logprobs,
            }
            bind = {k: v for k, v in values.items() if k in fields and v is not None}
            calls.append((self.model.bind(**bind) if bind else self.model, kwargs, seed))
        return calls

    def _thinking_binding(self, params: SamplingParams, fields: frozenset[str]) -> dict[str, Any]:
        """The model's own thinking-budget field for ``params.thinking_budget``, if it has one."""
        budget = params.thinking_budget
        if budget is None:
            return {}
        if "reasoning_effort" in fields:
            return {"reasoning_effort": effort_for(budget)}
        if "thinking" in fields and budget >= ANTHROPIC_MIN_THINKING:
            return {"thinking": {"type": "enabled", "budget_tokens": budget}}
        warn_once(
            f"chat-thinking:{self.model_id}",
            "ChatModelBackend(%s) has no thinking-budget field for a budget of %d tokens (it "
            "binds reasoning_effort, or thinking for budgets >= %d): only max_tokens caps the "
            "thinking. For s1 budget forcing use a completion endpoint: "
            "BudgetForcingBackend(OpenAICompatibleBackend(..., mode='completion')).",
            self.model_id,
            budget,
            ANTHROPIC_MIN_THINKING,
        )
        return {}

    def _failed(self, exc: Exception, seed: int | None, began: float) -> Completion:
        _reraise_control_flow(exc)
        if isinstance(exc, asyncio.TimeoutError):
            error = "timed out: the time budget ran out before the call finished"
        else:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        return Completion(text="", seed=seed, latency_s=time.monotonic() - began, error=error)

    def _draw(self, results: Sequence[tuple[Completion, bool]], n: int) -> Draw:
        completions = [c for c, _ in results]
        estimated = sum(1 for _, est in results if est)
        return Draw(
            completions=tuple(completions),
            requests=n,
            prompt_tokens=sum(c.prompt_tokens for c in completions),
            completion_tokens=sum(c.completion_tokens for c in completions),
            cached_tokens=sum(c.cached_tokens for c in completions),
            extra={"estimated_usage": estimated} if estimated else {},
        )

    def _completion(
        self, messages: list[BaseMessage], reply: Any, seed: int | None, latency: float
    ) -> tuple[Completion, bool]:
        if not isinstance(reply, BaseMessage):
            text = str(reply)
            reply = AIMessage(content=text)
        usage = getattr(reply, "usage_metadata", None)
        metadata = getattr(reply, "response_metadata", None) or {}
        finish = metadata.get("finish_reason") or metadata.get("stop_reason")
        tool_calls = tuple(
            {"name": call["name"], "args": dict(call.get("args") or {}), "id": call.get("id")}
            for call in getattr(reply, "tool_calls", None) or ()
        )
        counted = int(((usage or {}).get("output_token_details") or {}).get("reasoning") or 0)
        if finish == "max_tokens":  # Anthropic's name for a reply cut by max_tokens
            finish = "length"
        found = split_reply(
            reply.text,
            reasoning_text(reply),
            finish_reason=finish,
            reasoning_tokens=counted,
            tool_calls=tool_calls,
        )
        logprobs, top_logprobs = reply_logprobs(reply)
        if usage:
            prompt_tokens = int(usage.get("input_tokens") or 0)
            completion_tokens = int(usage.get("output_tokens") or 0)
            cached = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
            estimated = False
        else:
            prompt_tokens = self.count_prompt_tokens(messages)
            if logprobs is not None:  # one entry per generated token: an exact count
                completion_tokens = len(logprobs)
            else:
                completion_tokens = len(((found.thinking or "") + found.answer).encode())
            cached, estimated = 0, True
        if self._learned["reasoning"] is None and (found.thinking or counted):
            self._learned["reasoning"] = True  # later calls leave room to think
        completion = Completion(
            text=found.answer,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached,
            latency_s=latency,
            seed=seed,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            tool_calls=tool_calls,
            thinking=found.thinking,
            thinking_tokens=min(counted, completion_tokens)
            if counted
            else estimate_thinking_tokens(completion_tokens, found.thinking, found.answer),
            truncated_in_thinking=found.truncated,
        )
        return completion, estimated


def reply_logprobs(
    reply: BaseMessage,
) -> tuple[tuple[float, ...] | None, tuple[tuple[float, ...], ...] | None]:
    """A chat model reply's token log-probabilities and top alternatives (descending), read
    from ``response_metadata["logprobs"]`` in OpenAI's chat shape (``ChatOpenAI(logprobs=True)``
    puts them there); ``(None, None)`` when it carries none.

    Example:
        >>> reply = AIMessage("4", response_metadata={"logprobs": {"content": [{"token": "4",
        ...     "logprob": -0.1, "top_logprobs": [{"token": "5", "logprob": -3.0},
        ...                                       {"token": "4", "logprob": -0.1}]}]}})
        >>> reply_logprobs(reply)
        ((-0.1,), ((-0.1, -3.0),))
        >>> reply_logprobs(AIMessage("4"))
        (None, None)
    """
    entries = _logprob_entries(getattr(reply, "response_metadata", None) or {})
    if not entries:
        return None, None
    return choice_logprobs({"logprobs": {"content": entries}})


def _logprob_entries(metadata: Mapping[str, Any]) -> list[dict]:
    """The per-token entries of ``metadata["logprobs"]``: ``{"content": [...]}`` (OpenAI chat),
    or the list itself (providers that store it bare)."""
    found = metadata.get("logprobs")
    if isinstance(found, Mapping):
        found = found.get("content")
    if not isinstance(found, list):
        return []
    return [entry for entry in found if isinstance(entry, Mapping) and "logprob" in entry]


class _Streamed:
    """A reply read chunk by chunk under a stop watch: the merged message, every token's
    log-probability entry received, and whether the watch stopped it."""

    def __init__(self) -> None:
        self.merged: BaseMessage | None = None
        self.entries: list[dict] = []
        self.stopped = False

    def add(self, chunk: BaseMessage, watch: TraceWatch) -> bool:
        """Merge one chunk and feed its tokens to ``watch``; True once it says stop."""
        self.merged = chunk if self.merged is None else self.merged + chunk  # type: ignore[operator]
        new = _logprob_entries(getattr(chunk, "response_metadata", None) or {})
        self.entries += new
        if new:
            values, tops = choice_logprobs({"logprobs": {"content": new}})
            for i, value in enumerate(values or ()):
                if watch(value, tops[i] if tops else ()):
                    self.stopped = True
                    break
        return self.stopped

    def message(self) -> BaseMessage:
        """The reply as one message: the tokens received, their log-probabilities, and
        ``finish_reason="stopped"`` when the watch ended it."""
        if self.merged is None:
            message: BaseMessage = AIMessage(content="")
        else:
            message = message_chunk_to_message(self.merged)  # type: ignore[arg-type]
        metadata = dict(message.response_metadata or {})
        metadata["logprobs"] = {"content": self.entries} if self.entries else None
        if self.stopped:
            metadata["finish_reason"] = "stopped"
        return message.model_copy(update={"response_metadata": metadata})


def reasoning_text(reply: BaseMessage) -> str | None:
    """A chat model reply's thinking: its standard ``reasoning`` content blocks (langchain-core
    translates provider formats into them), else ``additional_kwargs["reasoning_content"]`` /
    ``["reasoning"]`` (DeepSeek-style clients); ``None`` when it shows none.

    Example:
        >>> reasoning_text(AIMessage([{"type": "reasoning", "reasoning": "2 and 2"},
        ...                           {"type": "text", "text": "The answer is 4."}]))
        '2 and 2'
    """
    try:
        blocks = reply.content_blocks
    except Exception:  # a provider translator that cannot read this message
        blocks = []
    parts = [b.get("reasoning") or "" for b in blocks if b.get("type") == "reasoning"]
    if any(parts):
        return "\n".join(p for p in parts if p)
    extra = getattr(reply, "additional_kwargs", None) or {}
    for key in ("reasoning_content", "reasoning"):
        value = extra.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _chat_model(model: Any) -> Any:
    """The chat model under any ``RunnableBinding`` layers."""
    while hasattr(model, "bound") and isinstance(model.bound, Runnable):
        model = model.bound
    return model


def _fields(model: Any) -> frozenset[str]:
    """Which of temperature/top_p/max_tokens/seed (and thinking knobs) the model class declares
    as fields."""
    declared = getattr(type(_chat_model(model)), "model_fields", None) or {}
    return frozenset(name for name in _BINDABLE if name in declared)


def _model_name(model: Any) -> str:
    inner = _chat_model(model)
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(inner, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(inner).__name__


def _reraise_control_flow(exc: BaseException) -> None:
    """Let LangGraph interrupts and parent commands through before any broad ``except``."""
    if isinstance(exc, GraphBubbleUp):
        raise exc
