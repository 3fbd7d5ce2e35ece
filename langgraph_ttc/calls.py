"""Model calls as values, made by one blocking and one async driver.

Nodes, verifiers and process scorers describe the work they need as a generator (no I/O of
their own): it yields a batch of calls, receives their results in order, and finally returns
its result. :func:`run` makes the calls of a blocking run (a batch on threads), :func:`arun`
those of an async run (a batch with ``asyncio.gather``). So every model-calling component has one
body and two thin shells, and neither path starts an event loop or a thread pool for the other.

A call is one of:

* :class:`Sample`: draw ``n`` samples through the run's :class:`~langgraph_ttc.budget.Meter`
  (budgeted and counted under ``purpose``; the backend gets the node's callbacks and a
  ``ttc:<purpose>`` tag where it takes a LangChain config);
* :class:`Work`: anything else with a blocking and an async body (a verifier function, an HTTP
  request to a reward model);
* another generator, run as a sub-procedure (e.g. one judge per candidate, concurrently).

Example:
    >>> from langgraph_ttc.budget import Meter
    >>> from langgraph_ttc.testing import FakeBackend
    >>> def two_questions():
    ...     first, second = yield [Sample(FakeBackend(), [("human", "1+1?")], n=2),
    ...                            Sample(FakeBackend(), [("human", "2+2?")])]
    ...     return len(first.completions) + len(second.completions)
    >>> meter = Meter()
    >>> run(two_questions(), meter), meter.usage.total().calls
    (3, 3)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor
from langgraph.constants import TAG_NOSTREAM

from langgraph_ttc.backends.base import Backend, SamplingParams, StopTrace, Until
from langgraph_ttc.budget import Meter

__all__ = ["Sample", "Steps", "Work", "arun", "run", "tagged"]

T = TypeVar("T")
MAX_THREADS = 64  # most calls of one batch in flight at once in a blocking run


@dataclass(frozen=True)
class Sample:
    """Draw ``n`` samples of ``messages`` from ``backend`` through the run's meter."""

    backend: Backend
    messages: Sequence[BaseMessage] | Sequence[tuple[str, str]]
    n: int = 1
    purpose: str = "generate"
    params: SamplingParams = field(default_factory=SamplingParams)
    stop_trace: StopTrace | None = None  # a watch per trace (DeepConf online)
    until: Until | None = None  # cancels the rest of the draw (Bayesian early stop)

    def watch(self) -> dict:
        return {k: v for k, v in (("stop_trace", self.stop_trace), ("until", self.until)) if v}


@dataclass(frozen=True)
class Work:
    """Work that is not a sample: ``call(meter)`` in a blocking run, ``await acall(meter)`` in
    an async one (``acall`` defaults to ``call`` in a worker thread). Both get the run's meter,
    for work that spends budget of its own."""

    call: Callable[[Meter], Any]
    acall: Callable[[Meter], Awaitable[Any]] | None = None


Call = Sample | Work | Generator
Steps = Generator[list[Call], list[Any], T]


def tagged(backend: Backend, config: RunnableConfig | None, purpose: str) -> Backend:
    """The backend with the run's callbacks and a ``ttc:<purpose>`` tag, where it takes a
    LangChain config (chat-model backends), so traces group calls by purpose. Samples are not
    the answer: they are kept out of LangGraph's ``messages`` stream mode."""
    with_config = getattr(backend, "with_config", None)
    if with_config is None:
        return backend
    config = dict(config or {})
    config["tags"] = [*(config.get("tags") or []), f"ttc:{purpose}", TAG_NOSTREAM]
    return with_config(config)


def run(steps: Steps[T], meter: Meter, config: RunnableConfig | None = None) -> T:
    """Drive ``steps`` to its result with blocking calls (a batch of several on threads that
    carry the caller's context, so callbacks and LangGraph's stream writer still work)."""
    results: list[Any] | None = None
    while True:
        try:
            batch = steps.send(results) if results is not None else next(steps)
        except StopIteration as done:
            return done.value
        if len(batch) == 1:
            results = [_call(batch[0], meter, config)]
            continue
        limit = (config or {}).get("max_concurrency") or MAX_THREADS
        with ContextThreadPoolExecutor(max_workers=max(1, min(len(batch), limit))) as pool:
            futures = [pool.submit(_call, call, meter, config) for call in batch]
            results = [future.result() for future in futures]


async def arun(steps: Steps[T], meter: Meter, config: RunnableConfig | None = None) -> T:
    """Drive ``steps`` to its result with async calls (a batch with ``asyncio.gather``; if one
    raises, the others are cancelled)."""
    results: list[Any] | None = None
    while True:
        try:
            batch = steps.send(results) if results is not None else next(steps)
        except StopIteration as done:
            return done.value
        tasks = [asyncio.ensure_future(_acall(call, meter, config)) for call in batch]
        try:
            results = list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise


def _call(call: Call, meter: Meter, config: RunnableConfig | None) -> Any:
    if isinstance(call, Sample):
        backend = tagged(call.backend, config, call.purpose)
        return meter.sample(
            backend, call.messages, call.n, call.purpose, call.params, **call.watch()
        )
    if isinstance(call, Work):
        return call.call(meter)
    if inspect.isgenerator(call):
        return run(call, meter, config)
    raise TypeError(f"Cannot make a call of type {type(call).__name__}")


async def _acall(call: Call, meter: Meter, config: RunnableConfig | None) -> Any:
    if isinstance(call, Sample):
        backend = tagged(call.backend, config, call.purpose)
        return await meter.asample(
            backend, call.messages, call.n, call.purpose, call.params, **call.watch()
        )
    if isinstance(call, Work):
        if call.acall is None:
            return await asyncio.to_thread(call.call, meter)
        return await call.acall(meter)
    if inspect.isgenerator(call):
        return await arun(call, meter, config)
    raise TypeError(f"Cannot make a call of type {type(call).__name__}")


def one(call: Call) -> Steps[Any]:
    """Steps that make a single call and return its result (``result = yield from one(c)``)."""
    (result,) = yield [call]
    return result


def each(calls: Sequence[Call]) -> Steps[list[Any]]:
    """Steps that make ``calls`` concurrently and return their results in order."""
    if not calls:
        return []
    return (yield list(calls))
