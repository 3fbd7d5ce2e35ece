"""The step-level search as a LangGraph loop::

    prepare -> select -> expand (Send per node) -> score -> select -> ... -> aggregate

``select`` plans a round (or ends the search), ``expand`` draws the planned children of each
node in parallel, ``score`` scores the new steps once each. The tree lives in state
(``ttc_tree``) and is returned in ``ttc_result["tree"]``; progress is streamed as ``custom``
events (``search_select``, ``search_scores``, ``search_done``).

:func:`~langgraph_ttc.graph.create_ttc_graph` builds this graph for the search strategies
(``beam_search``, ``lookahead``, ``rebase``, ``dvts``); the ``verifier`` argument is the
process scorer (default: :class:`~langgraph_ttc.search.LLMStepJudge` on the generator).

Steps are drawn by prefix continuation: the partial solution is sent as a trailing AI message.
The embedded model and ``OpenAICompatibleBackend(mode="completion")`` continue it as text; a
chat endpoint must be told to, e.g. vLLM with ``extra_body={"continue_final_message": True,
"add_generation_prompt": False}`` (a warning is logged otherwise).

Each round takes three graph steps, so the compiled graph carries a recursion limit of
``3 * max_rounds + 10``; a parent graph that embeds it passes its own limit, which must be as high.
"""

from __future__ import annotations

import logging

from langgraph.graph import END, START, StateGraph

from langgraph_ttc.backends.base import Backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.nodes.search import (
    ExpandNode,
    ScoreNode,
    SearchAggregateNode,
    SearchContext,
    SearchPrepareNode,
    SelectNode,
    fan_out_expand,
)
from langgraph_ttc.search.scorers import as_process_scorer
from langgraph_ttc.search.segmentation import Segmentation
from langgraph_ttc.search.state import SearchState
from langgraph_ttc.state import TTCInput, TTCOutput
from langgraph_ttc.strategies.search import StepSearch

__all__ = ["build_search_graph", "search_context"]

logger = logging.getLogger(__name__)


class _SearchGraph(StateGraph):
    """A StateGraph whose compiled graph defaults to a recursion limit fit for its rounds."""

    recursion_limit: int = 25

    def compile(self, *args, **kwargs):
        compiled = super().compile(*args, **kwargs)
        return compiled.with_config(recursion_limit=self.recursion_limit)


def search_context(
    backend: Backend, config: StepSearch, budget: Budget, *, verifier=None, task=None
) -> SearchContext:
    """The non-state inputs of the search nodes (scorer and segmentation resolved)."""
    if not isinstance(config, StepSearch):
        raise TTCConfigError(f"{config.name!r} is not a step-level search strategy.")
    scorer = as_process_scorer(verifier)
    _warn_if_no_prefix_continuation(backend)
    ctx = TTCContext(backend=backend, strategy=config, budget=budget, task=task, verifier=scorer)
    segmentation = Segmentation.parse(config.segmentation).resolve(backend)
    return SearchContext(ctx=ctx, config=config, scorer=scorer, segmentation=segmentation)


def _warn_if_no_prefix_continuation(backend: Backend) -> None:
    """A chat endpoint answers a trailing assistant message with a NEW turn unless told to
    continue it (vLLM: ``continue_final_message``); the search would then restart every step."""
    if getattr(backend, "mode", None) != "chat" or not hasattr(backend, "extra_body"):
        return
    if not backend.extra_body.get("continue_final_message"):
        logger.warning(
            "Step-level search continues partial answers. %r is in chat mode without "
            "continue_final_message: pass extra_body={'continue_final_message': True, "
            "'add_generation_prompt': False} (vLLM) or use mode='completion'.",
            backend,
        )


def build_search_graph(
    backend: Backend,
    config: StepSearch,
    *,
    budget: Budget | None = None,
    verifier=None,
    task=None,
) -> StateGraph:
    """The uncompiled search graph (see :func:`~langgraph_ttc.graph.create_ttc_graph`).

    Example:
        >>> from langgraph_ttc.strategies import BeamSearch
        >>> from langgraph_ttc.testing import FakeBackend
        >>> from langgraph_ttc.verifiers import ProgrammaticVerifier
        >>> builder = build_search_graph(
        ...     FakeBackend(), BeamSearch(n=4, m=2), verifier=ProgrammaticVerifier(lambda q, t: 0.5)
        ... )
        >>> out = builder.compile().invoke({"question": "What is 2 + 2?"})
        >>> out["ttc_result"]["usage"]["calls"]
        4
    """
    budget = budget or Budget()
    if budget.max_calls is not None and budget.max_calls < 1:
        raise TTCConfigError("budget.max_calls must be >= 1 to answer at all.")
    sctx = search_context(backend, config, budget, verifier=verifier, task=task)

    builder = _SearchGraph(SearchState, input_schema=TTCInput, output_schema=TTCOutput)
    builder.recursion_limit = 3 * config.max_rounds + 10
    builder.add_node("prepare", SearchPrepareNode(sctx))
    builder.add_node("select", SelectNode(sctx))
    builder.add_node("expand", ExpandNode(sctx))
    builder.add_node("score", ScoreNode(sctx))
    builder.add_node("aggregate", SearchAggregateNode(sctx))
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "select")
    builder.add_conditional_edges(
        "select", lambda s: fan_out_expand(sctx, s) or "aggregate", ["expand", "aggregate"]
    )
    builder.add_edge("expand", "score")
    builder.add_edge("score", "select")
    builder.add_edge("aggregate", END)
    return builder
