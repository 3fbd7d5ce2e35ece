"""One LangGraph step for a model-calling node and the bookkeeping around it.

Each superstep costs LangGraph about 0.3 ms of CPU (its task, writes and checkpoint), spent
while the model server idles: a third of a majority vote's overhead per question on a fast
server (``benchmarks/performance.py``). So the graphs start a run (what :class:`PrepareNode`
does) inside their first model-calling node, and a plan that draws once and votes also votes
there (what :class:`AggregateNode` does). The parts stay nodes of their own for graphs you
build yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_origin, get_type_hints

from langgraph.types import Overwrite

from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Steps
from langgraph_ttc.nodes.aggregate import AggregateNode
from langgraph_ttc.nodes.base import TTCNode
from langgraph_ttc.nodes.prepare import PrepareNode
from langgraph_ttc.state import TTCState

__all__ = ["FusedNode", "after_update"]


def _reducers(schema: type) -> dict[str, tuple[Callable, type]]:
    """The reducer of each channel of ``schema`` that has one (``Annotated[list, reducer]``),
    with the empty value LangGraph starts that channel from (``list()``, ``dict()``)."""
    reducers = {}
    for key, hint in get_type_hints(schema, include_extras=True).items():
        if get_origin(hint) is Annotated:
            base = hint.__origin__
            reducers[key] = (hint.__metadata__[0], get_origin(base) or base)
    return reducers


_REDUCERS = _reducers(TTCState)


def after_update(state: Mapping[str, Any], update: Mapping[str, Any]) -> dict:
    """The state a node's ``update`` leaves, merged as the graph's reducers merge it.

    Example:
        >>> after_update({"ttc_candidates": [{"id": "a"}], "ttc_round": 0},
        ...              {"ttc_candidates": [{"id": "b"}], "ttc_round": 1})
        {'ttc_candidates': [{'id': 'a'}, {'id': 'b'}], 'ttc_round': 1}
        >>> after_update({"ttc_candidates": [{"id": "a"}]}, {"ttc_candidates": Overwrite([])})
        {'ttc_candidates': []}
    """
    merged = dict(state)
    for key, value in update.items():
        if isinstance(value, Overwrite):
            merged[key] = value.value
        elif key in _REDUCERS:
            reducer, empty = _REDUCERS[key]
            left = state.get(key)
            merged[key] = reducer(empty() if left is None else left, value)
        else:
            merged[key] = value
    return merged


class FusedNode(TTCNode):
    """``node`` in one step with the start of the run before it (``prepare``) and, optionally,
    the vote after it (``aggregate``): the update the three would write one after another.

    Example:
        >>> from langgraph_ttc.nodes import GenerateNode, TTCContext
        >>> from langgraph_ttc.testing import FakeBackend
        >>> ctx = TTCContext.create(FakeBackend(), "majority", n=3)
        >>> node = FusedNode(GenerateNode(ctx), PrepareNode(ctx), AggregateNode(ctx))
        >>> node.invoke({"question": "2+2?"})["ttc_result"]["usage"]["calls"]
        3
    """

    def __init__(
        self, node: TTCNode, prepare: PrepareNode, aggregate: AggregateNode | None = None
    ) -> None:
        super().__init__(node.ctx, name=node.name)
        self.node, self.prepare, self.aggregate = node, prepare, aggregate

    def meter_for(self, state: Mapping[str, Any]) -> Meter:
        return self.node.meter_for({})  # a fresh run: nothing spent yet

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        opening = self.prepare(state)
        started = after_update(state, opening)
        update = yield from self.node.steps(started, meter)
        merged = {**opening, **update}
        merged["ttc_candidates"] = Overwrite(list(update.get("ttc_candidates") or []))
        if self.aggregate is None:
            return merged
        voted = self.aggregate(
            after_update(started, {**update, "ttc_usage": meter.usage.to_dict()})
        )
        messages = [*opening.get("messages", ()), *voted.get("messages", ())]
        return {**merged, **voted, "messages": messages}

    def usage_update(self, meter: Meter) -> Any:
        return Overwrite(meter.usage.to_dict())  # the run starts here: its usage so far
