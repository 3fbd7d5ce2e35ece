"""Budget forcing (Muennighoff et al. 2025, "s1: Simple test-time scaling", arXiv 2501.19393,
sec. 3.1; authors' code: simplescaling/s1): a thinking budget for any backend that continues a
partial answer as text.

s1 controls how long a model thinks by editing its trace at decode time:

* **cap**: when the thinking reaches the budget, append the end-of-thinking delimiter (and an
  answer cue, s1's "Final Answer:") and let the model answer;
* **extend**: when the model tries to end its thinking before a minimum, suppress the delimiter
  and append "Wait", so it keeps thinking (s1 appends it up to a chosen number of times).

Here that is one backend wrapper, :class:`BudgetForcingBackend`, written once for every backend
with prefix continuation (a trailing ``AIMessage`` is continued as text by the embedded model and
by ``OpenAICompatibleBackend(mode="completion")``). A wrapper rather than a step of the generate
node: every node that samples (generate, revise, critiques, judges) then thinks within the same
budget; the Meter sees one sample per forced trace and counts all its tokens; and the inner
backends stay unaware of it. A sample is a few requests to the inner backend:

1. think: continue ``<think>`` with stops at ``</think>`` (and the transcript's turn stops),
   at most the budget's remaining tokens;
2. the model stopped early and has thought less than ``min_thinking``: append " Wait" and
   continue (at most ``max_waits`` times); it hit the budget: force the end (step 3 with cue);
3. answer: continue ``<think> ... </think>`` (+ the answer cue when forced) with the request's
   own stops and ``max_tokens``.

Every request re-sends the growing trace as its prompt; llama.cpp (and vLLM with prefix caching)
keep the evaluated prefix, so the trace is computed once. A forced sample is therefore counted as
ONE generation: its original prompt once, every token it generated (thinking and answer) as
completion tokens, ``thinking_tokens`` exactly the tokens of step 1-2; the re-sent prefixes are
reported in ``Draw.extra["resent_prompt_tokens"]`` and each sample's waits and cap in
``Draw.extra["budget_forcing"]``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages

from langgraph_ttc.backends.base import Backend, Completion, Draw, SamplingParams
from langgraph_ttc.backends.thinking import THINK_CLOSE, THINK_OPEN
from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS
from langgraph_ttc.errors import TTCConfigError

__all__ = ["ANSWER_CUE", "WAIT", "BudgetForcingBackend"]

WAIT = "Wait"  # s1, sec. 3.1: the string appended to extend thinking
# s1 appends "Final Answer:"; this library's answers read "The answer is N." (parsing.py), so the
# cue that forces an answer is the start of that sentence.
ANSWER_CUE = "The answer is"
MAX_WAITS = (
    8  # s1 extends 2, 4 or 6 times (Fig. 4); a bound keeps a model that stops at once finite
)

# One request of a forced sample: the partial answer to continue and the parameters of the call.
Request = tuple[str, SamplingParams]


@dataclass(frozen=True)
class _Forced:
    """One forced sample: its completion and how it was forced."""

    completion: Completion
    requests: int
    resent_prompt_tokens: int
    waits: int
    capped: bool


class BudgetForcingBackend(Backend):
    """A thinking budget by s1 budget forcing, around a backend that continues text.

    Args:
        backend: the model; it must continue a trailing ``AIMessage`` as text (the embedded
            model, ``OpenAICompatibleBackend(mode="completion")``, a base model on a text
            endpoint), and must not itself be a reasoning backend.
        thinking_budget: the thinking budget when a request sets none
            (``SamplingParams.thinking_budget`` wins); default ``DEFAULT_THINKING_TOKENS``.
        min_thinking: below this many thinking tokens, an attempt to stop thinking is
            suppressed and "Wait" appended (0: never extend).
        max_waits: most "Wait"s per sample.
        open_tag, close_tag: the thinking delimiters of the prompt's exemplars.
        wait: the string appended to extend the thinking.
        answer_cue: appended after a forced end of thinking so the model answers at once
            (``""``: none).

    Example:
        >>> from langgraph_ttc.testing.instant_server import InstantServer
        >>> from langgraph_ttc.backends import OpenAICompatibleBackend
        >>> with InstantServer(reasoning="vllm") as server:
        ...     inner = OpenAICompatibleBackend(server.base_url, "instant", mode="completion")
        ...     forced = BudgetForcingBackend(inner)
        ...     draw = forced.sample([("human", "2+2?")], 1, SamplingParams(thinking_budget=5))
        >>> c = draw.completions[0]
        >>> c.thinking_tokens, c.text.startswith("The answer is"), draw.extra["budget_forcing"]
        (5, True, [{'waits': 0, 'capped': True}])
    """

    honours_n = False
    reasoning = True
    takes_thinking_budget = True

    def __init__(
        self,
        backend: Backend,
        *,
        thinking_budget: int | None = None,
        min_thinking: int = 0,
        max_waits: int = MAX_WAITS,
        open_tag: str = THINK_OPEN,
        close_tag: str = THINK_CLOSE,
        wait: str = WAIT,
        answer_cue: str = ANSWER_CUE,
    ) -> None:
        if getattr(backend, "mode", "completion") != "completion":
            raise TTCConfigError(
                "Budget forcing continues a partial answer as text, which a chat endpoint does "
                "not do: use OpenAICompatibleBackend(..., mode='completion') or the embedded model."
            )
        if getattr(backend, "reasoning", False):
            raise TTCConfigError(
                "BudgetForcingBackend does the thinking itself: pass the inner backend without "
                "reasoning=True (or use its own thinking_control instead of forcing)."
            )
        if (
            min_thinking < 0
            or max_waits < 0
            or (thinking_budget is not None and thinking_budget < 0)
        ):
            raise TTCConfigError(
                "thinking_budget, min_thinking and max_waits must be >= 0; got "
                f"{thinking_budget}, {min_thinking}, {max_waits}."
            )
        self.inner = backend
        if thinking_budget is not None:
            self.default_thinking_tokens = thinking_budget
        self.min_thinking = min_thinking
        self.max_waits = max_waits
        self.open_tag, self.close_tag = open_tag, close_tag
        self.wait, self.answer_cue = wait, answer_cue
        self.model_id = backend.model_id
        self.needs_exemplars = getattr(backend, "needs_exemplars", True)

    def __repr__(self) -> str:
        return (
            f"BudgetForcingBackend({self.inner!r}, thinking_budget={self.default_thinking_tokens}, "
            f"min_thinking={self.min_thinking})"
        )

    def with_config(self, config) -> BudgetForcingBackend:
        """A copy whose inner backend carries ``config`` (where it takes one)."""
        with_config = getattr(self.inner, "with_config", None)
        if with_config is None:
            return self
        clone = copy.copy(self)
        clone.inner = with_config(config)
        return clone

    def count_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return self.inner.count_prompt_tokens(self._opened(convert_to_messages(messages)))

    async def acount_prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        return await self.inner.acount_prompt_tokens(self._opened(convert_to_messages(messages)))

    def close(self) -> None:
        self.inner.close()

    # -- sampling: one procedure per sample, driven by a blocking and an async body ----------
    def sample(self, messages, n, params, *, timeout=None) -> Draw:
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + timeout
        forced = []
        for index in range(n):
            steps = self._forcing(params, params.seed_for(index))
            reply: Completion | None = None
            while True:
                try:
                    prefix, call = steps.send(reply) if reply is not None else next(steps)
                except StopIteration as done:
                    forced.append(done.value)
                    break
                reply = self._one(self.inner.sample, messages, prefix, call, deadline)
        return _draw(forced)

    async def asample(self, messages, n, params, *, timeout=None) -> Draw:
        messages = convert_to_messages(messages)
        deadline = None if timeout is None else time.monotonic() + timeout

        async def one(index: int) -> _Forced:
            steps = self._forcing(params, params.seed_for(index))
            reply: Completion | None = None
            while True:
                try:
                    prefix, call = steps.send(reply) if reply is not None else next(steps)
                except StopIteration as done:
                    return done.value
                left = _left(deadline)
                if left is not None and left <= 0:
                    reply = _timed_out(call.seed)
                    continue
                draw = await self.inner.asample(
                    [*messages, AIMessage(prefix)], 1, call, timeout=left
                )
                reply = _first(draw, call.seed)

        return _draw(list(await asyncio.gather(*(one(i) for i in range(n)))))

    def _one(self, sample, messages, prefix: str, call: SamplingParams, deadline) -> Completion:
        left = _left(deadline)
        if left is not None and left <= 0:
            return _timed_out(call.seed)
        return _first(sample([*messages, AIMessage(prefix)], 1, call, timeout=left), call.seed)

    def _opened(self, messages: list[BaseMessage]) -> list[BaseMessage]:
        return [*messages, AIMessage(self.open_tag)]

    def _forcing(
        self, params: SamplingParams, seed: int | None
    ) -> Generator[Request, Completion, _Forced]:
        """One forced sample as requests (partial answer, parameters) and their replies."""
        budget = self.thinking_room(params)
        minimum = min(self.min_thinking, budget)
        turn_stops = tuple(params.stop or TRANSCRIPT_STOPS)
        think = replace(params, seed=seed, thinking_budget=None, stop=(self.close_tag, *turn_stops))
        thinking, thought, waits, requests, resent = "", 0, 0, 0, 0
        first: Completion | None = None
        capped = budget <= 0
        while not capped:
            reply = yield self.open_tag + thinking, replace(think, max_tokens=budget - thought)
            requests += 1
            if not reply.ok:
                return _Forced(reply, requests, resent, waits, capped)
            if first is None:
                first = reply
            else:
                resent += reply.prompt_tokens
            thinking += reply.text
            thought += reply.completion_tokens
            if reply.finish_reason == "length" or thought >= budget:
                capped = True  # s1: the budget is spent, so the thinking ends here
            elif thought < minimum and waits < self.max_waits:
                thinking = f"{thinking.rstrip()} {self.wait}"  # s1: suppress the end, "Wait"
                waits += 1
            else:
                break  # the model ended its thinking on its own
        cue = f" {self.answer_cue}" if capped and self.answer_cue else ""
        prefix = f"{self.open_tag}{thinking.rstrip()} {self.close_tag}{cue}"
        reply = yield prefix, replace(params, seed=seed, thinking_budget=None)
        requests += 1
        if first is None:
            first = reply
        else:
            resent += reply.prompt_tokens
        if not reply.ok:
            return _Forced(reply, requests, resent, waits, capped)
        answer = f"{self.answer_cue} {reply.text.lstrip()}" if cue else reply.text
        completion = Completion(
            text=answer.strip(),
            finish_reason=reply.finish_reason,
            prompt_tokens=first.prompt_tokens,
            completion_tokens=thought + reply.completion_tokens,
            cached_tokens=first.cached_tokens,
            latency_s=first.latency_s if first is reply else first.latency_s + reply.latency_s,
            seed=seed,
            thinking=thinking.strip(),
            thinking_tokens=thought,
        )
        return _Forced(completion, requests, resent, waits, capped)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def _timed_out(seed: int | None) -> Completion:
    return Completion(text="", seed=seed, error="timeout: out of time budget")


def _first(draw: Draw, seed: int | None) -> Completion:
    if draw.completions:
        return draw.completions[0]
    return Completion(text="", seed=seed, error=f"no sample: {draw.extra.get('reason', 'skipped')}")


def _draw(forced: list[_Forced]) -> Draw:
    completions = tuple(f.completion for f in forced)
    done = [c for c in completions if c.ok]
    return Draw(
        completions=completions,
        requests=sum(f.requests for f in forced),
        prompt_tokens=sum(c.prompt_tokens for c in done),
        completion_tokens=sum(c.completion_tokens for c in done),
        cached_tokens=sum(c.cached_tokens for c in done),
        extra={
            "budget_forcing": [{"waits": f.waits, "capped": f.capped} for f in forced],
            "resent_prompt_tokens": sum(f.resent_prompt_tokens for f in forced),
        },
    )
