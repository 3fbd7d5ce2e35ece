"""One LangGraph step for a model-calling node and the bookkeeping around it.

Each superstep costs LangGraph about 0.3 ms of CPU (its task, writes and checkpoint), spent
while the model server idles: a third of a majority vote's overhead per question on a fast
server (``benchmarks/performance.py``). So the graphs start a run (what :class:`PrepareNode`
does) inside their first model-calling node, and a plan that draws once and votes also votes
there (what :class:`AggregateNode` does). The parts stay nodes of their own for graphs you
build yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph.message import add_messages
from langgraph.types import Overwrite

from langgraph_ttc.budget import Meter, merge_usage
from langgraph_ttc.calls import Steps
from langgraph_ttc.nodes.aggregate import AggregateNode
from langgraph_ttc.nodes.base import TTCNode
from langgraph_ttc.nodes.prepare import PrepareNode
from langgraph_ttc.state import merge_candidates

__all__ = ["FusedNode", "after_update"]

_REDUCERS = {
    "ttc_candidates": merge_candidates,
    "ttc_usage": merge_usage,
    "messages": lambda left, right: add_messages(left or [], right),
}


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
            merged[key] = _REDUCERS[key](state.get(key), value)
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
