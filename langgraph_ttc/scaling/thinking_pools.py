"""Pools of one model at several thinking budgets: what the router's thinking axis replays
(:mod:`langgraph_ttc.scaling.thinking_axis`). Each pool is ``langgraph-ttc curves
--thinking-budget T`` once per T, over the same problems; loading them checks that they are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling._pool_schema import connect
from langgraph_ttc.scaling.pool import load_pool
from langgraph_ttc.scaling.samples import PoolSamples

__all__ = [
    "ThinkingPools",
    "load_thinking_pools",
    "spans_thinking_budgets",
    "thinking_budget_of",
]

DEFAULT_ANSWER_TOKENS = 256  # SamplingParams.max_tokens: the answer's room in a pool's params


def thinking_budget_of(pool: PoolSamples) -> int | None:
    """The thinking budget a pool was drawn at (its sampling params), ``None`` if none was set.

    Example:
        >>> thinking_budget_of(PoolSamples({"params": {"thinking_budget": 512}}))
        512
        >>> thinking_budget_of(PoolSamples({}))  # a pool written before thinking budgets
    """
    return (pool.meta.get("params") or {}).get("thinking_budget")


def _answer_tokens(pool: PoolSamples) -> int:
    return int((pool.meta.get("params") or {}).get("max_tokens") or DEFAULT_ANSWER_TOKENS)


@dataclass(frozen=True, eq=False)
class ThinkingPools:
    """Pools of one model over the same problems, one per thinking budget.

    Attributes:
        pools: thinking budget -> the pool drawn at it (problems in the same order).
        answer_tokens: the answer's room per sample (the pools' ``max_tokens``).
        meta: the model, tasks and pool files.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> one = PoolSamples({}, (ProblemSamples.from_lists("q", ["4"], [1]),))
        >>> ThinkingPools({64: one, 512: one}, answer_tokens=32).budgets
        [64, 512]
    """

    pools: Mapping[int, PoolSamples]
    answer_tokens: int = DEFAULT_ANSWER_TOKENS
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.pools) < 2:
            raise TTCConfigError(
                "The thinking axis needs pools drawn at two or more thinking budgets (one pool "
                "per budget, `langgraph-ttc curves --thinking-budget T`)."
            )
        ids = [p.problem_ids for p in self.pools.values()]
        if any(sorted(i) != sorted(ids[0]) for i in ids):
            raise TTCConfigError(
                "The pools of the thinking budgets hold different problems: build every "
                "budget's pool from the same task, size and seed."
            )
        order = {pid: i for i, pid in enumerate(ids[0])}
        pools = {
            int(t): PoolSamples(
                pool.meta, tuple(sorted(pool.problems, key=lambda p: order[p.problem_id]))
            )
            for t, pool in sorted(self.pools.items())
        }
        object.__setattr__(self, "pools", pools)

    @property
    def budgets(self) -> list[int]:
        return sorted(self.pools)

    @property
    def problem_ids(self) -> list[str]:
        return next(iter(self.pools.values())).problem_ids

    def subset(self, problem_ids: Sequence[str]) -> ThinkingPools:
        return ThinkingPools(
            {t: p.subset(problem_ids) for t, p in self.pools.items()}, self.answer_tokens, self.meta
        )


def spans_thinking_budgets(paths: Sequence[str | Path]) -> bool:
    """Whether these pools were drawn at two or more thinking budgets (reads only their meta).

    Example:
        >>> spans_thinking_budgets([])
        False
    """
    budgets = set()
    for path in paths:
        if not Path(path).exists():
            continue  # load_pool says so, with a hint
        conn = connect(Path(path), readonly=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'params'").fetchone()
        finally:
            conn.close()
        budgets.add((json.loads(row[0]) if row else {}).get("thinking_budget"))
    return len(budgets) > 1


def load_thinking_pools(paths: Sequence[str | Path]) -> ThinkingPools:
    """Pools at several thinking budgets (grouped by the budget in their params) as one
    :class:`ThinkingPools`; problem ids get their task's name as a prefix, so each budget's
    pools name the same problems alike. All pools must come from one model and one answer room.
    """
    groups: dict[int, list] = {}
    models, answers, sources = set(), set(), []
    for path in paths:
        pool = load_pool(path)
        budget = thinking_budget_of(pool)
        if budget is None:
            raise TTCConfigError(
                f"{path} was drawn without a thinking budget; on the thinking axis every pool "
                "needs one: build it with `langgraph-ttc curves --thinking-budget T`."
            )
        models.add(pool.meta.get("model_id"))
        answers.add(_answer_tokens(pool))
        task = _label(str(pool.meta.get("task")))
        sources.append({"pool": str(path), "task": task, "thinking_budget": budget})
        labelled = [
            dataclasses.replace(p, problem_id=f"{task}/{p.problem_id}") for p in pool.problems
        ]
        groups.setdefault(budget, []).append((task, pool.meta, labelled))
    if len(models) > 1 or len(answers) > 1:
        raise TTCConfigError(
            f"These pools differ in model {sorted(map(str, models))} or max_tokens "
            f"{sorted(answers)}; the thinking axis compares one model at one answer room."
        )
    pools = {}
    for budget, members in groups.items():
        tasks = [task for task, _, _ in members]
        if len(set(tasks)) < len(tasks):
            raise TTCConfigError(
                f"Two pools of task {tasks[0]!r} at thinking budget {budget}: pass one per "
                "(task, thinking budget)."
            )
        problems = tuple(p for _, _, labelled in members for p in labelled)
        pools[budget] = PoolSamples({**members[0][1], "tasks": sorted(tasks)}, problems)
    meta = {"model": models.pop(), "pools": sources}
    return ThinkingPools(pools, answers.pop(), meta)


def _label(task: str) -> str:
    """A task's name as a problem-id prefix (a JSONL task: its file's name, not its path).

    Example:
        >>> _label("jsonl:/tmp/runs/qa.jsonl"), _label("rg:chain_sum")
        ('qa.jsonl', 'rg:chain_sum')
    """
    return task.removeprefix("jsonl:").rsplit("/", 1)[-1]
