"""The factory: ``create_ttc_graph`` builds a compiled LangGraph for a strategy.

Topology (nodes a strategy does not use are left out, so each drawing shows the strategy)::

    prepare -> [route] -> generate (Send per request) -> [critique] -> [verify] -> [revise]* -> aggregate

The router's sequential plans loop ``route -> extend <-> generate`` until the vote is clear.

The graph reads ``messages`` (or ``question``) and writes one AIMessage plus ``ttc_result``;
its private ``ttc_*`` channels never reach a parent graph.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph

from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes._context import NodeContext
from langgraph_ttc.nodes.aggregate import AggregateNode
from langgraph_ttc.nodes.critique import CritiqueNode
from langgraph_ttc.nodes.extend import extend_plan, is_open
from langgraph_ttc.nodes.generate import GenerateNode, fan_out_generate
from langgraph_ttc.nodes.prepare import PrepareNode
from langgraph_ttc.nodes.revise import ReviseNode
from langgraph_ttc.nodes.route import RouteNode
from langgraph_ttc.nodes.verify import VerifyNode
from langgraph_ttc.policy import resolve_policy
from langgraph_ttc.search.strategies import StepSearch
from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
from langgraph_ttc.strategies import Revise, Strategy, get_strategy


def _runnable(node, name: str) -> RunnableLambda:
    return RunnableLambda(node.invoke, afunc=node.ainvoke, name=name)


def next_after(stage: str, nodes: tuple[str, ...], state: dict) -> str:
    """The node after ``stage`` for this run's plan (stages: generate, critique, verify, revise)."""
    plan = state.get("ttc_plan") or {}
    order = ("critique", "verify", "revise")
    start = order.index(stage) + 1 if stage in order else 0
    for step in order[start:]:
        if step not in nodes:
            continue
        if step == "critique" and plan.get("critique"):
            return "critique"
        if step == "verify" and plan.get("verify"):
            return "verify"
        if step == "revise" and state.get("ttc_round", 0) < plan.get("depth", 1) - 1:
            return "revise"
    return "aggregate"


def build_ttc_graph(
    model="local",
    strategy: str | Strategy = "majority",
    *,
    n: int | None = None,
    budget: Budget | None = None,
    verifier=None,
    task=None,
    policy=None,
) -> StateGraph:
    """The uncompiled graph builder for a strategy (see :func:`create_ttc_graph`)."""
    backend = resolve_backend(model)
    config = get_strategy(strategy, n=n)
    budget = budget or Budget()
    if budget.max_calls is not None and budget.max_calls < 1:
        raise TTCConfigError("budget.max_calls must be >= 1 to answer at all.")
    if isinstance(config, StepSearch):  # beam_search, lookahead, rebase, dvts: a search loop
        from langgraph_ttc.search.graph import build_search_graph

        return build_search_graph(backend, config, budget=budget, verifier=verifier, task=task)
    if config.needs_verifier and verifier is None:
        raise TTCConfigError(
            f"Strategy {config.name!r} needs a verifier: pass verifier=LLMJudge() or "
            "verifier=ProgrammaticVerifier(fn) (from langgraph_ttc.verifiers)."
        )
    uses_model = bool(verifier is not None and verifier.uses_model)
    if budget.max_calls is not None and config.plan(budget.max_calls, uses_model)["width"] < 1:
        least = next(c for c in range(1, 64) if config.plan(c, uses_model)["width"] >= 1)
        raise TTCConfigError(
            f"Strategy {config.name!r} needs at least {least} calls for one answer; "
            f"budget.max_calls={budget.max_calls}. Raise the budget or use majority."
        )
    ctx = NodeContext(backend=backend, strategy=config, budget=budget, task=task, verifier=verifier)
    nodes = tuple(config.nodes)
    if verifier is None:  # adaptive runs verify only when there is something to verify with
        nodes = tuple(node for node in nodes if node != "verify")
    elif "verify" not in nodes and isinstance(config, Revise):
        nodes = (*nodes, "verify")

    builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
    builder.add_node("prepare", PrepareNode(ctx))
    builder.add_node("generate", _runnable(GenerateNode(ctx), "generate"))
    builder.add_node("aggregate", AggregateNode(ctx))
    builder.add_edge(START, "prepare")
    builder.add_edge("aggregate", END)

    after_generate = ["aggregate"] + [s for s in ("critique", "verify", "revise") if s in nodes]

    def to_generate(state: dict):
        return fan_out_generate(ctx, state) or next_after("generate", nodes, state)

    if "route" in nodes:
        # The graph's policy argument wins; else the strategy's own (Adaptive(policy=...)).
        chosen = policy if policy is not None else getattr(config, "policy", None)
        route = RouteNode(ctx, resolve_policy(chosen, backend.model_id))
        builder.add_node("route", _runnable(route, "route"))
        builder.add_node("extend", extend_plan)
        builder.add_edge("prepare", "route")

        def after_route(state: dict):
            if state["ttc_plan"].get("stop"):
                return "aggregate"
            return "extend" if is_open(state) else to_generate(state)

        builder.add_conditional_edges("route", after_route, ["generate", "extend", *after_generate])
        builder.add_conditional_edges(
            "extend",
            lambda s: to_generate(s) if is_open(s) else next_after("generate", nodes, s),
            ["generate", *after_generate],
        )
        after_draw = ["extend", *after_generate]
    else:
        builder.add_conditional_edges("prepare", to_generate, ["generate", *after_generate])
        after_draw = after_generate
    builder.add_conditional_edges(
        "generate",
        lambda s: "extend" if is_open(s) else next_after("generate", nodes, s),
        after_draw,
    )
    if "critique" in nodes:
        builder.add_node("critique", _runnable(CritiqueNode(ctx), "critique"))
        builder.add_conditional_edges(
            "critique",
            lambda s: next_after("critique", nodes, s),
            ["aggregate"] + [s for s in ("verify", "revise") if s in nodes],
        )
    if "verify" in nodes:
        builder.add_node("verify", _runnable(VerifyNode(ctx), "verify"))
        builder.add_conditional_edges(
            "verify",
            lambda s: next_after("verify", nodes, s),
            ["aggregate"] + (["revise"] if "revise" in nodes else []),
        )
    if "revise" in nodes:
        context = config.context if isinstance(config, Revise) else 4
        builder.add_node("revise", _runnable(ReviseNode(ctx, context), "revise"))
        after_revise = ["revise", "aggregate"] + (["verify"] if "verify" in nodes else [])
        builder.add_conditional_edges("revise", lambda s: _after_revise(nodes, s), after_revise)
    return builder


def _after_revise(nodes: tuple[str, ...], state: dict) -> str:
    plan = state.get("ttc_plan") or {}
    if "verify" in nodes and plan.get("verify"):
        return "verify"
    return next_after("verify", nodes, state)


def create_ttc_graph(
    model="local",
    strategy: str | Strategy = "majority",
    *,
    n: int | None = None,
    budget: Budget | None = None,
    verifier=None,
    task=None,
    policy=None,
    checkpointer=None,
    name: str | None = None,
):
    """A compiled test-time-compute graph for ``strategy``.

    Args:
        model: ``"local"`` (embedded Gemma 3 270M), a :class:`~langgraph_ttc.backends.Backend`,
            or any LangChain chat model.
        strategy: a registry name (``majority``, ``filter_vote``, ``best_of_n``,
            ``weighted_best_of_n``, ``revise``, ``adaptive``) or a strategy config.
        n: overrides the strategy's ``n``.
        budget: caps on calls, tokens, dollars and seconds, enforced on every call.
        verifier: scores candidates (needed by best-of-N strategies).
        task: supplies few-shot exemplars and answer extraction.
        policy: for ``adaptive``: a Policy or a policy JSON path.
        checkpointer: passed to ``compile``.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> graph = create_ttc_graph(FakeBackend(), "majority", n=4)
        >>> graph.invoke({"question": "2+2?"})["ttc_result"]["usage"]["calls"]
        4
    """
    builder = build_ttc_graph(
        model, strategy, n=n, budget=budget, verifier=verifier, task=task, policy=policy
    )
    config = get_strategy(strategy, n=n)
    return builder.compile(checkpointer=checkpointer, name=name or f"ttc_{config.name}")
