"""The shell every model-calling node shares: one body (a generator of calls, see
:mod:`langgraph_ttc.calls`) inside a blocking and an async shell, as LangGraph's own nodes do.

A node is a LangChain Runnable (``invoke`` and ``ainvoke``), so it drops into any graph with
``builder.add_node(name, node)`` and receives the run's config (callbacks, tags). The shells
call the body directly: LangGraph's task already is the node's run for callbacks and traces,
where a ``RunnableLambda`` would add a run of its own (about 0.25 ms a node), and a node that
never waits (:class:`StateNode`) runs inline on an async run, where LangGraph would send a plain
function to a worker thread (about 0.35 ms a node; ``python benchmarks/performance.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.config import get_stream_writer

from langgraph_ttc.backends.base import Draw
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Steps, arun, run
from langgraph_ttc.errors import BudgetExhausted
from langgraph_ttc.nodes.context import TTCContext

__all__ = ["StateNode", "TTCNode", "emit", "require_a_sample"]


class StateNode(Runnable[dict, dict]):
    """Base of the nodes that never wait (no model call): subclasses write ``__call__(state)``,
    the state update; both shells run it inline.

    Example:
        >>> class Shout(StateNode):
        ...     def __call__(self, state):
        ...         return {"question": state["question"].upper()}
        >>> Shout().invoke({"question": "what is two plus two?"})
        {'question': 'WHAT IS TWO PLUS TWO?'}
        >>> import asyncio
        >>> asyncio.run(Shout().ainvoke({"question": "hi"}))
        {'question': 'HI'}
    """

    def __call__(self, state: dict) -> dict:
        raise NotImplementedError

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self(input)

    async def ainvoke(
        self, input: dict, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict:
        return self(input)


class TTCNode(Runnable[dict, dict]):
    """Base of the nodes that call models: subclasses write :meth:`steps`, a generator that
    yields calls and returns the node's state update; the shells add the usage it spent."""

    default_name = "ttc_node"

    def __init__(self, ctx: TTCContext, *, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or self.default_name

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self._invoke(input, ensure_config(config))

    async def ainvoke(
        self, input: dict, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict:
        return await self._ainvoke(input, ensure_config(config))

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        """The node's body: yields calls, returns its update. ``meter`` is read-only here (what
        this node has spent so far, what the budget has left); the shells make the calls."""
        raise NotImplementedError

    def meter_for(self, state: Mapping[str, Any]) -> Meter:
        """The meter of one invocation: the run's budget net of what it spent."""
        return self.ctx.meter(state)

    def _invoke(self, state: dict, config: RunnableConfig) -> dict:
        meter = self.meter_for(state)
        update = run(self.steps(state, meter), meter, config)
        return {**update, "ttc_usage": self.usage_update(meter)}

    async def _ainvoke(self, state: dict, config: RunnableConfig) -> dict:
        meter = self.meter_for(state)
        update = await arun(self.steps(state, meter), meter, config)
        return {**update, "ttc_usage": self.usage_update(meter)}

    def usage_update(self, meter: Meter) -> Any:
        """The node's ``ttc_usage`` write: what it spent (the channel adds it to the run's)."""
        return meter.usage.to_dict()


def emit(event: str, **data: Any) -> None:
    """Send a progress event on LangGraph's ``custom`` stream (no-op outside a graph run)."""
    try:
        writer = get_stream_writer()
    except (RuntimeError, KeyError):  # outside a graph run there is nothing to stream to
        return
    writer({"ttc_event": event, **data})


def require_a_sample(draw: Draw) -> None:
    """A run whose first draw got nothing from the budget has nothing to answer from: say
    which cap left no room (never a silent ``None``)."""
    if not draw.completions:
        raise BudgetExhausted(
            f"The budget allows no model call: {draw.extra.get('reason', 'it is spent')}. "
            "Raise the budget (Budget(max_tokens=..., max_seconds=...); "
            "--budget-tokens / --budget-seconds on the command line)."
        )
