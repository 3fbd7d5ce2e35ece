"""Strategies that cannot be read off a pool (revisions, the router, step-level search) are run
live at each budget k: one graph run per problem with ``Budget(max_calls=k)``.

Example:
    >>> from langgraph_ttc.tasks import JsonlTask
    >>> runner = graph_runner("revise")
    >>> callable(runner)
    True
"""

from __future__ import annotations

import math
from dataclasses import fields

from langgraph_ttc.backends.base import Backend, SamplingParams
from langgraph_ttc.budget import Budget
from langgraph_ttc.graph import create_ttc_graph
from langgraph_ttc.scaling.curves import LiveResult, LiveRunner
from langgraph_ttc.strategies import Revise, Strategy, get_strategy
from langgraph_ttc.tasks.base import Task


def strategy_at_budget(
    name: str, k: int, params: SamplingParams | None = None, seed: int = 0
) -> Strategy:
    """The strategy ``name`` sized to spend about ``k`` calls.

    Revisions use chains of up to 4 attempts (Snell et al. keep 4 in context): width
    ``ceil(k / 4)``, depth ``k // width``; others take ``n = k``.

    Example:
        >>> strategy_at_budget("revise", 16).width, strategy_at_budget("revise", 16).depth
        (4, 4)
    """
    options: dict = {"seed": seed}
    if params is not None:
        options.update(temperature=params.temperature, max_tokens=params.max_tokens)
    if name == "revise":
        width = max(1, math.ceil(k / 4))
        return Revise(width=width, depth=max(1, k // width), **options)
    base = get_strategy(name)
    known = {f.name for f in fields(base)}
    if "probes" in known:
        options["probes"] = min(base.probes, k)
    return get_strategy(base, n=k, **{key: v for key, v in options.items() if key in known})


def graph_runner(
    name: str, *, verifier=None, params: SamplingParams | None = None, seed: int = 0
) -> LiveRunner:
    """A live runner: each problem answered by the ``name`` graph within ``k`` calls, scored by
    the task against its reference."""

    def run(task: Task, backend: Backend, k: int) -> LiveResult:
        graph = create_ttc_graph(
            backend,
            strategy_at_budget(name, k, params, seed),
            budget=Budget(max_calls=k),
            verifier=verifier,
            task=task,
        )
        correct, calls, tokens = [], 0, 0
        for problem in task.problems():
            result = graph.invoke({"question": problem.question})["ttc_result"]
            correct.append(task.score(problem, result["text"] or ""))
            calls += result["usage"]["calls"]
            tokens += result["usage"]["prompt_tokens"] + result["usage"]["completion_tokens"]
        count = max(len(correct), 1)
        return LiveResult(correct=correct, mean_calls=calls / count, mean_tokens=tokens / count)

    return run
