"""The one interface every model backend implements: draw n samples for some messages.

A backend turns (messages, n, sampling params) into ``n`` :class:`Completion` objects and
reports how many HTTP requests (or local generations) it used, so the :class:`~langgraph_ttc.budget.Meter`
can count calls, requests and tokens in one place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from langchain_core.messages import BaseMessage

DEFAULT_TEMPERATURE = 0.7  # Brown et al. 2024 sample at 0.6-0.8; 0.7 is a middle ground.
DEFAULT_TOP_P = 0.95  # Brown et al. 2024, sec. 2 (code tasks).
# Room to think that a reasoning backend adds to ``max_tokens`` when no thinking budget is set.
# Reasoning models are evaluated with 32,768 output tokens (DeepSeek-R1, Qwen3's model cards);
# OpenAI's reasoning guide asks to reserve at least 25,000 for reasoning and output. Half of the
# 32k keeps prompt + thinking + answer inside the 32,768-token context that Qwen3 and many vLLM
# deployments (--max-model-len 32768) serve, where a larger request is refused outright (HTTP
# 400), yet covers the typical trace on math benchmarks; raise it with ``thinking_budget``.
DEFAULT_THINKING_TOKENS = 16384


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``seed`` is the seed of the first sample; sample i uses ``seed + i``.

    Example:
        >>> SamplingParams(temperature=0.0, max_tokens=64).with_seed(3).seed
        3
    """

    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    top_k: int | None = None
    min_p: float | None = None
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives per position (implies logprobs); needed by confidence
    # Most tokens a reasoning model may think before it answers (None: the backend's default
    # room). ``max_tokens`` stays the answer's length: a reasoning backend asks the server for
    # ``max_tokens + thinking room`` in all (see :meth:`Backend.new_tokens`).
    thinking_budget: int | None = None

    def with_seed(self, seed: int | None) -> SamplingParams:
        return replace(self, seed=seed)

    def seed_for(self, index: int) -> int | None:
        """The seed of sample ``index`` of a draw (distinct per sample, reproducible)."""
        return None if self.seed is None else self.seed + index


@dataclass(frozen=True)
class Completion:
    """One sampled completion. Token counts are per completion; ``error`` marks a failed sample.

    ``text`` is the final answer alone; a reasoning model's thought is in ``thinking`` (``None``
    when the reply shows none, e.g. OpenAI's hidden reasoning) and ``thinking_tokens`` counts it
    (part of ``completion_tokens``). ``truncated_in_thinking`` marks a sample cut off inside its
    thinking (no answer because ``max_tokens`` or a stop ended the thought).

    ``logprobs`` holds the log-probability of each generated token and ``top_logprobs`` the
    log-probabilities of the ``top_logprobs`` most likely tokens at each position (descending),
    when the backend was asked for them and can give them.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    latency_s: float = 0.0
    seed: int | None = None
    logprobs: tuple[float, ...] | None = None
    top_logprobs: tuple[tuple[float, ...], ...] | None = None
    tool_calls: tuple[dict, ...] = ()
    error: str | None = None
    thinking: str | None = None
    thinking_tokens: int = 0
    truncated_in_thinking: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def answer_tokens(self) -> int:
        """Completion tokens spent on the answer (all of them but the thinking)."""
        return max(self.completion_tokens - self.thinking_tokens, 0)


@dataclass(frozen=True)
class Draw:
    """What one ``sample`` call returned.

    ``prompt_tokens`` counts prompt tokens actually processed (a prompt shared by an n-request is
    counted once); ``requests`` is the number of HTTP requests or local generations made.
    ``cancelled_thinking_tokens`` counts the thinking of samples cancelled mid-stream (``until``):
    they are not returned, but what they generated is in ``completion_tokens``.
    """

    completions: tuple[Completion, ...] = ()
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    extra: dict = field(default_factory=dict)
    cancelled_thinking_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def thinking_tokens(self) -> int:
        """Completion tokens spent thinking (part of ``completion_tokens``), cancelled samples'
        included.

        Example:
            >>> Draw((Completion("4", completion_tokens=9, thinking_tokens=6),),
            ...      completion_tokens=12, cancelled_thinking_tokens=3).thinking_tokens
            9
        """
        return sum(c.thinking_tokens for c in self.completions) + self.cancelled_thinking_tokens


TraceWatch = Callable[[float, Sequence[float]], bool]
"""Called after each generated token with its log-probability and the top-k log-probabilities
at that position; True stops this trace at once (its completion gets ``finish_reason="stopped"``
and counts only the tokens generated)."""
StopTrace = Callable[[], TraceWatch]
"""Makes a fresh :data:`TraceWatch` for each trace of a draw."""
Until = Callable[[Sequence["Completion"]], bool]
"""Called with the samples of a draw finished so far (in finishing order); True cancels the
ones still running (they are not returned and only what they generated is counted)."""


class Backend:
    """Draws samples from one model, with a real blocking body (:meth:`sample`) and a real
    async body (:meth:`asample`); neither starts an event loop or a thread for the other.

    A subclass must implement at least one of the two. The default of the other is a fallback
    for user backends: :meth:`asample` runs :meth:`sample` in a worker thread, and :meth:`sample`
    runs :meth:`asample` in a private event loop. Every backend in this library implements both.

    Attributes:
        model_id: a stable name for the model (recorded in results, pools and policies).
        honours_n: whether one request can return many samples (vLLM does, llama.cpp does not).
        needs_exemplars: True for base models prompted as a transcript (no chat template).
        reasoning: whether the model thinks before it answers; a reasoning backend asks for room
            to think on top of ``max_tokens`` (:meth:`new_tokens`).
        default_thinking_tokens: that room when a request sets no ``thinking_budget``.
        takes_thinking_budget: whether the backend maps ``thinking_budget`` to something the
            model obeys (or says itself that it cannot); the Meter warns once for the others.
        vocab_size: the model's vocabulary size where the backend knows it (the embedded
            model does), which makes self-certainty exact instead of its top-k estimate.
    """

    model_id: str = "unknown"
    honours_n: bool = False
    needs_exemplars: bool = False  # base models learn the answer format from few-shot examples
    gives_logprobs: bool = False  # fills Completion.logprobs / top_logprobs when asked
    stops_traces: bool = False  # honours stop_trace (ends a trace mid-generation)
    cancels: bool = False  # honours until (cancels samples still in flight)
    reasoning: bool = False
    default_thinking_tokens: int = DEFAULT_THINKING_TOKENS
    takes_thinking_budget: bool = False
    vocab_size: int | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if (
            not inspect.isabstract(cls)
            and cls.sample is Backend.sample
            and (cls.asample is Backend.asample)
        ):
            raise TypeError(f"{cls.__name__} must implement sample() or asample() (or both).")

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
        """Draw ``n`` samples. Failed samples come back with ``error`` set, never dropped.

        ``stop_trace`` (backends with ``stops_traces``) watches each trace token by token;
        ``until`` (backends with ``cancels``) may end the draw early, cancelling the rest.
        """
        return run_sync(
            self.asample(messages, n, params, timeout=timeout, stop_trace=stop_trace, until=until)
        )

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
        """Async :meth:`sample`."""
        return await asyncio.to_thread(
            self.sample, messages, n, params, timeout=timeout, stop_trace=stop_trace, until=until
        )

    def thinking_room(self, params: SamplingParams) -> int:
        """Tokens this backend lets a sample think: the request's ``thinking_budget``, else
        :attr:`default_thinking_tokens` for a reasoning model, else none.

        Example:
            >>> from langgraph_ttc.testing import FakeBackend
            >>> FakeBackend().thinking_room(SamplingParams(thinking_budget=64))
            64
        """
        if params.thinking_budget is not None:
            return max(params.thinking_budget, 0)
        return self.default_thinking_tokens if self.reasoning else 0

    def new_tokens(self, params: SamplingParams) -> int:
        """Most tokens one sample may generate, thinking included: what the server is asked
        for (``max_tokens`` on the wire) and what the Meter reserves of a token budget.

        Example:
            >>> from langgraph_ttc.testing import FakeBackend
            >>> FakeBackend().new_tokens(SamplingParams(max_tokens=256, thinking_budget=1024))
            1280
        """
        return params.max_tokens + self.thinking_room(params)

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """An upper bound on the prompt's tokens, used to reserve budget before a request.

        No tokenizer yields more tokens than UTF-8 bytes, plus a margin for the chat template.
        """
        text_bytes = sum(len(str(m.content).encode()) for m in messages)
        return text_bytes + 8 * len(messages) + 16

    async def acount_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """:meth:`count_prompt_tokens` for async callers; backends whose count blocks (a local
        tokenizer that may first load the model) run it off the event loop."""
        return self.count_prompt_tokens(messages)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections). Default: nothing to release."""


def run_sync(coro):
    """Run a coroutine to completion from blocking code, in a private event loop (in a helper
    thread when the caller is itself inside a running loop).

    Only for user code that is async where the caller is not: a backend with only an async
    body, an async verifier function in a sync run. The library's own sync paths never use it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
