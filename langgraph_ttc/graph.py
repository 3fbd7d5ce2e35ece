"""The factory: ``create_ttc_graph`` builds a compiled LangGraph for a strategy.

Static strategies are plain chains, so each drawing shows the algorithm::

    majority            generate (draws and votes in one step)
    filter_vote         generate -> critique -> aggregate
    best_of_n           generate -> verify -> aggregate
    revise              generate [-> verify] -> (revise [-> verify])* -> aggregate
    genselect           generate -> select -> aggregate
    rsa                 generate -> recombine* -> aggregate
    adaptive_consistency  prepare -> generate* -> aggregate   (a stop rule: generate loops)

The first model-calling node starts the run, and a plan that draws once and votes also votes
there: each LangGraph superstep costs about 0.3 ms while the server idles
(:mod:`langgraph_ttc.nodes.fused`).

The stages between ``generate`` and ``aggregate`` are the plan's (:attr:`Plan.stages
<langgraph_ttc.plan.Plan.stages>`, from its aggregator), each the node registered under its
name (:mod:`langgraph_ttc.nodes.stages`); a stage that runs in rounds loops on itself.

The router decides at run time, so only its graph has conditional edges (one per decision,
see :mod:`langgraph_ttc.nodes.conditions`)::

    adaptive            route -> generate* -> [critique | verify] -> (revise ...)* -> aggregate

The step-level searches (particle filtering among them) have a graph of their own
(:mod:`langgraph_ttc.search_graph`).
Every graph reads ``messages`` (or ``question``) and writes one AIMessage plus ``ttc_result``;
its private ``ttc_*`` channels never reach a parent graph.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph

from langgraph_ttc.aggregators import AGGREGATORS, get_aggregator
from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes import (
    AggregateNode,
    CritiqueNode,
    FusedNode,
    GenerateNode,
    PrepareNode,
    ReviseNode,
    RouteNode,
    TTCContext,
    TTCNode,
    VerifyNode,
    attempts_condition,
    get_stage,
    judged_condition,
    revise_condition,
    rounds_condition,
    route_condition,
    stage_condition,
)
from langgraph_ttc.nodes.hooks import generation_hook
from langgraph_ttc.policy import resolve_policy
from langgraph_ttc.search_graph import build_search_graph
from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
from langgraph_ttc.strategies import Adaptive, Revise, StepSearch, Strategy, get_strategy

__all__ = ["GraphOptions", "create_ttc_graph"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphOptions:
    """Every option of a test-time-compute graph, one object: :func:`create_ttc_graph`,
    :func:`~langgraph_ttc.runnable.as_runnable` and :class:`~langgraph_ttc.runnable.TTCChatModel`
    take the same ones (a test holds them equal); see :func:`create_ttc_graph` for each.

    Example:
        >>> GraphOptions.of(n=4).n
        4
        >>> GraphOptions.of(nn=4)
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: Unknown graph option(s) ['nn']; the options are budget, confidence, judges_see_thinking, keep_thinking, n, policy, task, verifier.
    """

    n: int | None = None
    budget: Budget | None = None
    verifier: Any = None
    task: Any = None
    policy: Any = None
    keep_thinking: bool = False
    judges_see_thinking: bool = False
    confidence: ConfidenceSpec | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, **options: Any) -> GraphOptions:
        """The options from keywords, with one clear error for a name that is not one."""
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise TTCConfigError(
                f"Unknown graph option(s) {unknown}; the options are "
                f"{', '.join(sorted(cls.names()))}."
            )
        return cls(**options)

    def as_kwargs(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}


def _build(model, strategy: str | Strategy, options: GraphOptions) -> StateGraph:
    """The uncompiled graph builder for ``strategy`` (``create_ttc_graph(..., compile=False)``)."""
    n, budget, verifier, task = options.n, options.budget, options.verifier, options.task
    policy, confidence = options.policy, options.confidence
    backend = resolve_backend(model)
    config = get_strategy(strategy, n=n)
    budget = budget or Budget()
    if budget.max_calls is not None and budget.max_calls < 1:
        raise TTCConfigError("budget.max_calls must be >= 1 to answer at all.")
    if isinstance(config, StepSearch):  # beam_search, lookahead, rebase, dvts: a search loop
        return build_search_graph(backend, config, budget=budget, verifier=verifier, task=task)
    if config.needs_verifier and verifier is None:
        raise TTCConfigError(
            f"Strategy {config.name!r} needs a verifier: pass verifier=LLMJudge() or "
            "verifier=ProgrammaticVerifier(fn) (from langgraph_ttc.verifiers)."
        )
    if confidence is None and config.needs_confidence:
        confidence = ConfidenceSpec()
    ctx = TTCContext(
        backend=backend,
        strategy=config,
        budget=budget,
        task=task,
        verifier=verifier,
        confidence=confidence,
        keep_thinking=options.keep_thinking,
        judges_see_thinking=options.judges_see_thinking,
    )
    _check_budget_affords_an_answer(ctx)
    _check_backend_can(ctx)
    if isinstance(config, Adaptive):
        # The graph's policy argument wins; else the strategy's own (Adaptive(policy=...)).
        chosen = resolve_policy(policy if policy is not None else config.policy, backend.model_id)
        if chosen.needs_confidence and ctx.confidence is None:
            ctx = dataclasses.replace(
                ctx, confidence=ConfidenceSpec(**chosen.meta.get("confidence") or {})
            )
            _check_backend_can(ctx)
        return _router_graph(ctx, chosen)
    return _static_graph(ctx)


def _check_budget_affords_an_answer(ctx: TTCContext) -> None:
    calls = ctx.budget.max_calls
    if calls is None or ctx.strategy.plan(calls, ctx.verifier).width >= 1:
        return
    least = next(c for c in range(1, 64) if ctx.strategy.plan(c, ctx.verifier).width >= 1)
    raise TTCConfigError(
        f"Strategy {ctx.strategy.name!r} needs at least {least} calls for one answer; "
        f"budget.max_calls={calls}. Raise the budget or use majority."
    )


def _check_backend_can(ctx: TTCContext) -> None:
    """A strategy that reads token confidence needs a backend that reports it."""
    backend = ctx.backend
    if ctx.confidence is not None and not getattr(backend, "gives_logprobs", False):
        raise TTCConfigError(
            f"Strategy {ctx.strategy.name!r} reads the model's token confidence, and "
            f"{type(backend).__name__} ({backend.model_id}) reports no log-probabilities. Use "
            "an OpenAI-compatible server (vLLM, llama.cpp: OpenAICompatibleBackend), the "
            "embedded model, or a LangChain chat model that returns them (ChatOpenAI("
            "logprobs=True, top_logprobs=20)); or a strategy without confidence (majority)."
        )
    plan = ctx.strategy.plan(ctx.budget.max_calls, ctx.verifier)
    warning = generation_hook(plan).check_backend(backend)
    if warning:
        logger.warning(warning)


def _builder(ctx: TTCContext, entry: TTCNode | None = None) -> StateGraph:
    """The graph's state, ``generate``, ``aggregate`` (then the end) and the start: a
    ``prepare`` node, or the ``entry`` node (``generate`` or ``route``) starting the run itself,
    one superstep less (:mod:`langgraph_ttc.nodes.fused`)."""
    builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
    if entry is None:
        nodes = {"prepare": PrepareNode(ctx), "generate": GenerateNode(ctx)}
    else:
        nodes = {"generate": GenerateNode(ctx), entry.name: FusedNode(entry, PrepareNode(ctx))}
    nodes["aggregate"] = AggregateNode(ctx)
    for name, node in nodes.items():
        builder.add_node(name, node)
    builder.add_edge(START, "prepare" if entry is None else entry.name)
    builder.add_edge("aggregate", END)
    return builder


def _static_graph(ctx: TTCContext) -> StateGraph:
    """A plain chain: generate (in rounds for a sequential plan), the scoring the aggregator
    needs, the revision loop. A plan that draws once and votes is one node, ``generate``,
    which starts the run, draws and votes (:mod:`langgraph_ttc.nodes.fused`)."""
    plan = ctx.strategy.plan(ctx.budget.max_calls, ctx.verifier)
    if plan.is_open:  # drawn in rounds until its stop rule fires: the one decision it takes
        builder = _builder(ctx)
        builder.add_edge("prepare", "generate")
        builder.add_conditional_edges("generate", rounds_condition)
        return builder
    if not plan.stages and plan.depth <= 1:
        builder = StateGraph(TTCState, input_schema=TTCInput, output_schema=TTCOutput)
        node = FusedNode(GenerateNode(ctx), PrepareNode(ctx), AggregateNode(ctx))
        builder.add_node("generate", node)
        builder.add_edge(START, "generate")
        builder.add_edge("generate", END)
        return builder
    builder = _builder(ctx, GenerateNode(ctx))
    last = "generate"
    for name in plan.stages:
        stage = get_stage(name)
        builder.add_node(name, stage.node(ctx))
        if last != "generate" and get_stage(last).again is not None:
            builder.add_conditional_edges(last, stage_condition(last), [last, name])
        else:
            builder.add_edge(last, name)
        last = name
    if last != "generate" and get_stage(last).again is not None:
        # A stage in rounds decides when it is done; after it, the vote (no revisions).
        builder.add_conditional_edges(last, stage_condition(last), [last, "aggregate"])
    elif plan.depth > 1:
        context = ctx.strategy.context if isinstance(ctx.strategy, Revise) else 4
        builder.add_node("revise", ReviseNode(ctx, context))
        builder.add_conditional_edges(last, revise_condition)
        if plan.verify:  # each revision is scored before the loop decides
            builder.add_edge("revise", "verify")
        else:
            builder.add_conditional_edges("revise", revise_condition)
    else:
        builder.add_edge(last, "aggregate")
    return builder


def _router_graph(ctx: TTCContext, policy) -> StateGraph:
    """The router's graph: the route node's plan decides which stages run. It holds the
    critique, the verifier (with one), revisions, and the stages of a method any of the
    policy's plans aggregates with (a hand-written policy may name GenSelect)."""
    builder = _builder(ctx, RouteNode(ctx, policy))
    builder.add_node("critique", CritiqueNode(ctx))
    builder.add_node("revise", ReviseNode(ctx))
    extras = _policy_stages(policy)
    for name in extras:
        builder.add_node(name, get_stage(name).node(ctx))
    scored = ["verify"] if ctx.verifier is not None else []
    if scored:  # the router runs best-of-N plans only with a verifier
        builder.add_node("verify", VerifyNode(ctx))
        builder.add_conditional_edges(
            "verify", stage_condition("verify"), [*extras, "revise", "aggregate"]
        )
    for i, name in enumerate(extras):
        again = [name] if get_stage(name).again is not None else []
        builder.add_conditional_edges(
            name, stage_condition(name), [*again, *extras[i + 1 :], "revise", "aggregate"]
        )
    builder.add_conditional_edges("route", route_condition)
    judged = ["critique", *scored, *extras, "revise", "aggregate"]
    builder.add_conditional_edges("generate", attempts_condition, ["generate", *judged])
    builder.add_conditional_edges("revise", attempts_condition, judged)  # never reopens a plan
    # Scores after verdicts only for an aggregator that needs both.
    both = any({"verdicts", "scores"} <= a.needs for a in AGGREGATORS.values())
    builder.add_conditional_edges(
        "critique", judged_condition, [*(scored if both else []), *extras, "revise", "aggregate"]
    )
    return builder


def _policy_stages(policy) -> list[str]:
    """The method stages (beyond critique and verify) of every plan ``policy`` can give."""
    names: list[str] = []
    for by_budget in policy.plans.values():
        for spec in by_budget.values():
            for name in get_aggregator(spec.aggregator).extra_stages:
                if name not in names:
                    names.append(name)
    return names


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
    keep_thinking: bool = False,
    judges_see_thinking: bool = False,
    confidence: ConfidenceSpec | None = None,
    compile: bool = True,
):
    """A compiled test-time-compute graph for ``strategy`` (its builder with ``compile=False``).

    Args:
        model: ``"local"`` (embedded Gemma 3 270M), a :class:`~langgraph_ttc.backends.Backend`,
            or any LangChain chat model.
        strategy: a registry name (``majority``, ``filter_vote``, ``best_of_n``,
            ``weighted_best_of_n``, ``revise``, ``adaptive``, ``beam_search``, ``lookahead``,
            ``rebase``, ``dvts``) or a strategy config.
        n: overrides the strategy's ``n`` (the call budget per question).
        budget: caps on calls, tokens, dollars and seconds, enforced on every call.
        verifier: scores candidates (needed by best-of-N strategies).
        task: supplies few-shot exemplars and answer extraction.
        policy: for ``adaptive``: a Policy or a policy JSON path.
        checkpointer: passed to ``compile``.
        keep_thinking: keep each candidate's thinking text in the result (a reasoning model's
            thinking tokens and length are always kept).
        judges_see_thinking: show critiques and LLM judges the thinking before the answer.
        confidence: which token confidence the samples carry (measure, group window, top-k);
            default: :class:`~langgraph_ttc.confidence.ConfidenceSpec` for strategies that read
            confidence, none otherwise. Scale the window to the traces (DeepConf's 2048 suits
            long reasoning; a short answer needs a few tokens). Given for another strategy, the
            samples carry it anyway (and the backend must report log-probabilities).
        compile: ``False`` returns the uncompiled ``StateGraph`` builder (to add nodes of your
            own before compiling); ``checkpointer`` and ``name`` then do not apply.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> graph = create_ttc_graph(FakeBackend(), "majority", n=4)
        >>> graph.invoke({"question": "2+2?"})["ttc_result"]["usage"]["calls"]
        4
        >>> sorted(create_ttc_graph(FakeBackend(), "filter_vote", compile=False).nodes)
        ['aggregate', 'critique', 'generate']
    """
    options = GraphOptions(
        n=n,
        budget=budget,
        verifier=verifier,
        task=task,
        policy=policy,
        keep_thinking=keep_thinking,
        judges_see_thinking=judges_see_thinking,
        confidence=confidence,
    )
    builder = _build(model, strategy, options)
    if not compile:
        return builder
    config = get_strategy(strategy, n=n)
    return builder.compile(checkpointer=checkpointer, name=name or f"ttc_{config.name}")
