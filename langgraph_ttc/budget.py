"""Budgets and the usage ledger: every model call is counted here, tagged by purpose.

A :class:`Budget` caps calls (sampled completions), tokens, dollars and seconds. A :class:`Meter`
sends requests on behalf of nodes: it shrinks a request that would overshoot (fewer samples, fewer
``max_tokens``) or does not send it, so the budget is never exceeded, and it records what was spent
in a :class:`Usage` ledger broken down by purpose.

Token budgets are enforced against an upper bound of the prompt's size (see
:meth:`~langgraph_ttc.backends.base.Backend.count_prompt_tokens`) plus the most tokens a sample
may generate, thinking included (:meth:`~langgraph_ttc.backends.base.Backend.new_tokens`:
``max_tokens``, plus the thinking room of a reasoning model), so a request is only sent when even
its worst case fits. A request shrunk to fit gives up thinking room before answer room
(:func:`~langgraph_ttc.backends.reasoning.within_tokens`). Thinking tokens are part of the
completion tokens and also counted apart (``Counters.thinking_tokens``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.messages import BaseMessage, convert_to_messages

from langgraph_ttc.backends.base import Backend, Draw, SamplingParams
from langgraph_ttc.backends.reasoning import warn_once, within_tokens
from langgraph_ttc.backends.thinking import split_draw
from langgraph_ttc.errors import TTCConfigError

# "select": a model naming the best of several candidates (GenSelect); "aggregate": a model
# writing a new solution from several (RSA). Any other string a method uses is counted too.
Purpose = Literal["generate", "critique", "revise", "verify", "probe", "select", "aggregate"]
PURPOSES: tuple[str, ...] = (
    "generate",
    "critique",
    "revise",
    "verify",
    "probe",
    "select",
    "aggregate",
)
MIN_USEFUL_TOKENS = (
    8  # Below this a shrunk request cannot hold an answer: send fewer samples instead.
)


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens.

    Example:
        >>> Prices(prompt=0.15, completion=0.60).cost(1_000_000, 0)
        0.15
    """

    prompt: float
    completion: float
    cached_prompt: float | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        cached_price = self.prompt if self.cached_prompt is None else self.cached_prompt
        uncached = max(prompt_tokens - cached_tokens, 0)
        return (
            uncached * self.prompt
            + cached_tokens * cached_price
            + completion_tokens * self.completion
        ) / 1e6


@dataclass(frozen=True)
class Budget:
    """Caps on one run. ``None`` means no cap. A call is one sampled completion.

    Example:
        >>> b = Budget(max_calls=16, max_tokens=20_000)
        >>> b.split(4).max_calls
        4
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None
    prices: Prices | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_usd", "max_seconds"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise TTCConfigError(f"Budget {name} must be a number >= 0 or None; got {value!r}.")
        if self.max_usd is not None and self.prices is None:
            raise TTCConfigError(
                "Budget(max_usd=...) needs prices: pass prices=Prices(prompt=..., completion=...) "
                "in US dollars per million tokens."
            )

    @classmethod
    def unlimited(cls) -> Budget:
        return cls()

    def minus(self, usage: Usage, elapsed_s: float = 0.0) -> Budget:
        """What is left of this budget after ``usage`` and ``elapsed_s`` seconds."""
        total = usage.total()
        return replace(
            self,
            max_calls=_left(self.max_calls, total.calls),
            max_tokens=_left(self.max_tokens, total.prompt_tokens + total.completion_tokens),
            max_usd=_left(self.max_usd, total.usd),
            max_seconds=_left(self.max_seconds, elapsed_s),
        )

    def split(self, k: int) -> Budget:
        """An equal share for one of ``k`` parallel branches (calls and tokens rounded down)."""
        if k < 1:
            raise TTCConfigError(f"split needs k >= 1; got {k}.")
        return replace(
            self,
            max_calls=None if self.max_calls is None else self.max_calls // k,
            max_tokens=None if self.max_tokens is None else self.max_tokens // k,
            max_usd=None if self.max_usd is None else self.max_usd / k,
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Budget:
        if not data:
            return cls()
        data = dict(data)
        prices = data.pop("prices", None)
        return cls(**data, prices=Prices(**prices) if prices else None)


def _left(cap, used):
    return None if cap is None else max(cap - used, 0)


def _new_tokens(backend: Backend | None, params: SamplingParams) -> int:
    """Most tokens one sample may generate (a backend's own rule, thinking room included)."""
    rule = getattr(backend, "new_tokens", None)
    return params.max_tokens if rule is None else rule(params)


@dataclass
class Counters:
    """Counts for one purpose. ``calls`` counts sampled completions, ``requests`` HTTP requests.

    ``completion_tokens`` counts every generated token; ``thinking_tokens`` the part of them a
    reasoning model spent thinking (so ``answer_tokens`` is the rest).

    Example:
        >>> Counters(completion_tokens=100, thinking_tokens=70).to_dict()["answer_tokens"]
        30
    """

    calls: int = 0
    failed: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    thinking_tokens: int = 0

    @property
    def answer_tokens(self) -> int:
        return max(self.completion_tokens - self.thinking_tokens, 0)

    def add(self, other: Counters) -> Counters:
        # Field by field: dataclasses.astuple deep-copies, and this runs several times per sample.
        return Counters(*(getattr(self, f) + getattr(other, f) for f in _COUNTER_FIELDS))

    def to_dict(self) -> dict:
        return {
            **{f: getattr(self, f) for f in _COUNTER_FIELDS},
            "answer_tokens": self.answer_tokens,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Counters:
        """The counters of :meth:`to_dict` (derived keys such as ``answer_tokens`` ignored)."""
        return cls(**{f: data[f] for f in _COUNTER_FIELDS if f in data})


_COUNTER_FIELDS = tuple(f.name for f in dataclasses.fields(Counters))


@dataclass
class Usage:
    """The ledger: counters per purpose (generate, critique, revise, verify, probe).

    Example:
        >>> u = Usage()
        >>> u.by_purpose["generate"] = Counters(calls=8, requests=1)
        >>> u.total().calls, Usage.from_dict(u.to_dict()).total().requests
        (8, 1)
    """

    by_purpose: dict[str, Counters] = field(default_factory=dict)

    def total(self) -> Counters:
        total = Counters()
        for counters in self.by_purpose.values():
            total = total.add(counters)
        return total

    def record(self, purpose: str, counters: Counters) -> None:
        self.by_purpose[purpose] = self.by_purpose.get(purpose, Counters()).add(counters)

    def merged(self, other: Usage) -> Usage:
        out = Usage(dict(self.by_purpose))
        for purpose, counters in other.by_purpose.items():
            out.record(purpose, counters)
        return out

    def to_dict(self) -> dict:
        """A JSON-ready dict: totals at the top level plus ``by_purpose``."""
        return {
            **self.total().to_dict(),
            "by_purpose": {p: c.to_dict() for p, c in sorted(self.by_purpose.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Usage:
        if not data:
            return cls()
        return cls({p: Counters.from_dict(c) for p, c in data.get("by_purpose", {}).items()})


@dataclass(frozen=True)
class _Grant:
    """The part of the budget reserved for one request."""

    n: int
    params: SamplingParams
    tokens: int
    usd: float
    seconds_left: float | None


def merge_usage(left: Mapping | None, right: Mapping | None) -> dict:
    """LangGraph reducer: add two usage dicts (as produced by :meth:`Usage.to_dict`)."""
    return Usage.from_dict(left).merged(Usage.from_dict(right)).to_dict()


class Meter:
    """Sends sample requests within a budget and records what they cost.

    One meter serves one node invocation (or one CLI run); it is safe to share between threads
    and asyncio tasks. ``spent`` is what the run used before this meter; ``usage`` holds only what
    this meter spent.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> meter = Meter(Budget(max_calls=3))
        >>> draw = meter.sample(FakeBackend(), [("human", "1+1?")], n=5, purpose="generate")
        >>> len(draw.completions), meter.usage.total().calls
        (3, 3)
    """

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        spent: Usage | None = None,
        started_at: float | None = None,
    ) -> None:
        self.budget = budget or Budget()
        self.spent = spent or Usage()  # what earlier steps of the same run already used
        self.started_at = time.time() if started_at is None else started_at
        self.usage = Usage()
        self._lock = threading.Lock()
        self._reserved_calls = 0
        self._reserved_tokens = 0
        self._reserved_usd = 0.0

    # -- planning -------------------------------------------------------------------------
    def remaining(self) -> Budget:
        """What is left, net of requests in flight."""
        with self._lock:
            return self._remaining_locked()

    def _remaining_locked(self) -> Budget:
        left = self.budget.minus(self.spent.merged(self.usage), time.time() - self.started_at)
        return replace(
            left,
            max_calls=_left(left.max_calls, self._reserved_calls),
            max_tokens=_left(left.max_tokens, self._reserved_tokens),
            max_usd=_left(left.max_usd, self._reserved_usd),
        )

    def _fit(self, n: int, prompt_tokens: int, max_tokens: int) -> tuple[int, int]:
        """Largest (n, max_tokens) within what is left; n may drop to 0."""
        left = self._remaining_locked()
        if left.max_seconds is not None and left.max_seconds <= 0:
            return 0, max_tokens
        if left.max_calls is not None:
            n = min(n, left.max_calls)
        token_caps = []
        if left.max_tokens is not None:
            token_caps.append(left.max_tokens)
        if left.max_usd is not None and self.budget.prices is not None:
            dearest = max(self.budget.prices.prompt, self.budget.prices.completion, 1e-12)
            token_caps.append(int(left.max_usd * 1e6 / dearest))
        for cap in token_caps:
            while n > 0:
                per_sample = cap // n - prompt_tokens
                if per_sample >= min(max_tokens, MIN_USEFUL_TOKENS):
                    max_tokens = min(max_tokens, per_sample)
                    break
                n -= 1
        return max(n, 0), max_tokens

    # -- sending --------------------------------------------------------------------------
    def sample(
        self,
        backend: Backend,
        messages: Sequence[BaseMessage] | Sequence[tuple[str, str]],
        n: int,
        purpose: str = "generate",
        params: SamplingParams | None = None,
        **watch: Any,
    ) -> Draw:
        """Draw up to ``n`` samples; fewer (possibly none) when the budget is short. ``watch``:
        ``stop_trace`` / ``until`` for the backend (see :meth:`Backend.sample
        <langgraph_ttc.backends.base.Backend.sample>`)."""
        messages = convert_to_messages(messages)
        params = params or SamplingParams()
        prompt_tokens = backend.count_prompt_tokens(messages)
        grant = self._reserve(n, prompt_tokens, params, backend)
        if grant.n == 0:
            return self._skipped(prompt_tokens, params, backend)
        try:
            draw = backend.sample(
                messages, grant.n, grant.params, timeout=grant.seconds_left, **watch
            )
        finally:
            self._release(grant)
        draw = split_draw(draw)  # raw <think> text of any backend: thinking apart, counted
        self.record(purpose, draw)
        return draw

    async def asample(
        self,
        backend: Backend,
        messages: Sequence[BaseMessage] | Sequence[tuple[str, str]],
        n: int,
        purpose: str = "generate",
        params: SamplingParams | None = None,
        **watch: Any,
    ) -> Draw:
        """Async :meth:`sample`."""
        messages = convert_to_messages(messages)
        params = params or SamplingParams()
        prompt_tokens = await backend.acount_prompt_tokens(messages)
        grant = self._reserve(n, prompt_tokens, params, backend)
        if grant.n == 0:
            return self._skipped(prompt_tokens, params, backend)
        try:
            draw = await backend.asample(
                messages, grant.n, grant.params, timeout=grant.seconds_left, **watch
            )
        finally:
            self._release(grant)
        draw = split_draw(draw)
        self.record(purpose, draw)
        return draw

    def _skipped(
        self, prompt_tokens: int, params: SamplingParams, backend: Backend | None = None
    ) -> Draw:
        """An empty draw that says which cap left no room for even one sample."""
        left = self.remaining()
        if left.max_seconds is not None and left.max_seconds <= 0:
            why = f"the time budget ({self.budget.max_seconds:g} s) is spent"
        elif left.max_calls is not None and left.max_calls <= 0:
            why = f"all {self.budget.max_calls} calls of the budget are spent"
        elif left.max_usd is not None and self.budget.max_usd is not None:
            why = f"${left.max_usd:.4g} of ${self.budget.max_usd:g} is left"
        else:
            need = prompt_tokens + min(_new_tokens(backend, params), MIN_USEFUL_TOKENS)
            why = (
                f"{left.max_tokens} of the budget's {self.budget.max_tokens} tokens are left, "
                f"and one sample needs about {need} (a {prompt_tokens}-token prompt and a reply)"
            )
        return Draw(extra={"skipped": "budget", "reason": why})

    @contextlib.contextmanager
    def slot(self, purpose: str) -> Iterator[Callable[[Draw], None] | None]:
        """Hold room for one call made outside a backend (a Runnable judge): yields a function
        that records what the call cost, or ``None`` when the budget has no room for it.

        Example:
            >>> from langgraph_ttc.backends.base import Completion
            >>> meter = Meter(Budget(max_calls=1))
            >>> with meter.slot("verify") as record:
            ...     record(Draw(completions=(Completion(text="ok"),), requests=1))
            >>> with meter.slot("verify") as record:
            ...     record is None
            True
        """
        grant = self._reserve(1, 0, SamplingParams(max_tokens=MIN_USEFUL_TOKENS))
        try:
            yield None if grant.n == 0 else functools.partial(self.record, purpose)
        finally:
            self._release(grant)

    def _reserve(
        self, n: int, prompt_tokens: int, params: SamplingParams, backend: Backend | None = None
    ) -> _Grant:
        """What a request may take of the budget (held until it returns, so concurrent
        requests cannot overshoot together). A sample's worst case is every token it may
        generate, thinking included; a shrunk request gives up thinking room first."""
        if params.thinking_budget is not None and not getattr(
            backend, "takes_thinking_budget", False
        ):
            name = type(backend).__name__
            warn_once(
                f"thinking-budget:{name}",
                "%s has no way to pass thinking_budget to its model: the budget only widens "
                "max_tokens. For s1 budget forcing wrap a text backend: "
                "BudgetForcingBackend(%s(...)).",
                name,
                name,
            )
        with self._lock:
            wanted = _new_tokens(backend, params)
            n, max_tokens = self._fit(n, prompt_tokens, wanted)
            if max_tokens < wanted:
                params = within_tokens(params, max_tokens, wanted - params.max_tokens)
            grant = _Grant(
                n=n,
                params=params,
                tokens=n * (prompt_tokens + max_tokens),
                usd=self._usd(n * prompt_tokens, n * max_tokens),
                seconds_left=None,
            )
            self._reserved_calls += grant.n
            self._reserved_tokens += grant.tokens
            self._reserved_usd += grant.usd
            return replace(grant, seconds_left=self._remaining_locked().max_seconds)

    def _release(self, grant: _Grant) -> None:
        with self._lock:
            self._reserved_calls -= grant.n
            self._reserved_tokens -= grant.tokens
            self._reserved_usd -= grant.usd

    def record(self, purpose: str, draw: Draw) -> None:
        """Add a draw's cost to the ledger under ``purpose``."""
        counters = Counters(
            calls=len(draw.completions),
            failed=sum(1 for c in draw.completions if not c.ok),
            requests=draw.requests,
            prompt_tokens=draw.prompt_tokens,
            completion_tokens=draw.completion_tokens,
            cached_tokens=draw.cached_tokens,
            usd=self._usd(draw.prompt_tokens, draw.completion_tokens, draw.cached_tokens),
            seconds=max((c.latency_s for c in draw.completions), default=0.0),
            thinking_tokens=draw.thinking_tokens,
        )
        with self._lock:
            self.usage.record(purpose, counters)

    def _usd(self, prompt: int, completion: int, cached: int = 0) -> float:
        prices = self.budget.prices
        return 0.0 if prices is None else prices.cost(prompt, completion, cached)
