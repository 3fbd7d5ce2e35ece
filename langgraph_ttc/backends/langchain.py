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
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import merge_configs
from langgraph.errors import GraphBubbleUp

from langgraph_ttc.backends.base import Backend, Completion, Draw, SamplingParams
from langgraph_ttc.backends.reasoning import effort_for, warn_once
from langgraph_ttc.backends.thinking import estimate_thinking_tokens, split_reply
from langgraph_ttc.errors import TTCConfigError

__all__ = ["ChatModelBackend"]

MAX_ERROR_CHARS = 500
_BINDABLE = ("temperature", "top_p", "max_tokens", "seed", "reasoning_effort", "thinking")
ANTHROPIC_MIN_THINKING = 1024  # Anthropic extended thinking: budget_tokens >= 1024


class ChatModelBackend(Backend):
    """Samples from a LangChain chat model (``ChatOpenAI``, ``ChatAnthropic``, fakes, ...).

    Args:
        model: a ``BaseChatModel``, or one already bound (``model.bind_tools(...)``).
        max_concurrency: most calls in flight at once within one draw.
        model_id: the name recorded in results; default: the model's ``model_name``/``model``.
        reasoning: the model thinks before it answers: calls bind ``max_tokens`` plus room to
            think; ``None`` finds out from the first reply that carries thinking.

    Usage comes from ``AIMessage.usage_metadata``. A model that reports none is charged an
    upper bound (prompt: :meth:`count_prompt_tokens`; completion: UTF-8 bytes of the text) so token
    budgets stay safe; ``Draw.extra["estimated_usage"]`` counts such samples.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> model = GenericFakeChatModel(messages=iter(["The answer is 4."] * 2))
        >>> draw = ChatModelBackend(model).sample([("human", "2+2?")], 2, SamplingParams())
        >>> [c.text for c in draw.completions], draw.requests
        (['The answer is 4.', 'The answer is 4.'], 2)
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
    ) -> None:
        if max_concurrency < 1:
            raise TTCConfigError(f"max_concurrency must be >= 1; got {max_concurrency}.")
        self.model = model
        self.max_concurrency = max_concurrency
        self.model_id = model_id or _model_name(model)
        self.config: RunnableConfig | None = None
        self._learned = {"reasoning": reasoning}  # shared by copies (with_config, with_tools)

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
    ) -> Draw:
        """Draw ``n`` samples as ``n`` calls through LangChain's ``batch`` (threads, at most
        ``max_concurrency`` at once); a failed call gives an error sample. A call already in
        flight when the time budget runs out is allowed to finish; later ones are not made."""
        if n <= 0:
            return Draw()
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        calls = self._calls(messages, params, n)

        def one(index: int) -> tuple[Completion, bool]:
            runnable, kwargs, seed = calls[index]
            began = time.monotonic()
            try:
                if deadline is not None and began >= deadline:
                    raise asyncio.TimeoutError()
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
    ) -> Draw:
        """Async :meth:`sample` (``abatch``); a call still running when the time budget runs
        out is cancelled and fails."""
        if n <= 0:
            return Draw()
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        calls = self._calls(messages, params, n)

        async def one(index: int) -> tuple[Completion, bool]:
            runnable, kwargs, seed = calls[index]
            began = time.monotonic()
            try:
                remaining = None if deadline is None else deadline - began
                if remaining is not None and remaining <= 0:
                    raise asyncio.TimeoutError()
                call = runnable.ainvoke(messages, self.config, **kwargs)
                reply = await asyncio.wait_for(call, remaining)
            except Exception as exc:
                return self._failed(exc, seed, began), False
            return self._completion(messages, reply, seed, time.monotonic() - began)

        results = await RunnableLambda(one).abatch(list(range(n)), self._batch_config())
        return self._draw(results, n)

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
        calls = []
        for index in range(n):
            seed = params.seed_for(index)
            values = {
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": self.new_tokens(params),
                "seed": seed,
                **thinking,
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
        if usage:
            prompt_tokens = int(usage.get("input_tokens") or 0)
            completion_tokens = int(usage.get("output_tokens") or 0)
            cached = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
            estimated = False
        else:
            prompt_tokens = self.count_prompt_tokens(messages)
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
            tool_calls=tool_calls,
            thinking=found.thinking,
            thinking_tokens=min(counted, completion_tokens)
            if counted
            else estimate_thinking_tokens(completion_tokens, found.thinking, found.answer),
            truncated_in_thinking=found.truncated,
        )
        return completion, estimated


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
