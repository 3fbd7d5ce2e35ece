"""A token-budget policy against fixed strategies on both axes, at matched generated tokens.

The fixed strategies are each vote at every width ``k`` (the width axis) at every thinking budget
``t`` of the pools, and the same points read along ``t`` at a fixed width (the thinking axis:
longer thinking instead of more samples, s1's sequential scaling, Muennighoff et al. 2025). Every
point is an accuracy and the mean generated tokens per problem, thinking included. The policy
(:func:`~langgraph_ttc.scaling.thinking_axis.calibrate_thinking`) is replayed on the same orders
of the same samples, and its compute ratio is the fewest mean tokens any fixed curve needs to
reach its accuracy over the tokens it spent (as :mod:`~langgraph_ttc.scaling.compare` does in
calls).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.compare import Comparison, adaptive_rows, curve_rows
from langgraph_ttc.scaling.replay import replay_policy
from langgraph_ttc.scaling.thinking_axis import BUDGET_MULTIPLES, ThinkingReplay
from langgraph_ttc.scaling.thinking_pools import ThinkingPools

__all__ = ["compare_thinking", "thinking_widths"]


def thinking_widths(width: int) -> list[int]:
    """The widths whose thinking-axis curves a comparison reports: 1 and the powers of two up
    to ``width``.

    Example:
        >>> thinking_widths(12)
        [1, 2, 4, 8]
    """
    return [k for k in (2**i for i in range(width.bit_length())) if k <= width]


def compare_thinking(
    pools: ThinkingPools,
    policy: Policy,
    *,
    budgets: Sequence[int] | None = None,
    n_orders: int = 32,
    n_boot: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Replay a token-budget ``policy`` and the fixed votes at every width and thinking budget.

    ``fixed`` holds the width-axis curves (``"majority think<=T"``: one point per width ``k``),
    ``thinking`` the thinking-axis curves (``"majority k=K"``: one point per thinking budget),
    ``adaptive`` the policy per token budget; costs are ``mean_tokens`` (generated, thinking
    included) and points also carry ``mean_thinking_tokens``.

    Example:
        >>> from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
        >>> def pool(p):
        ...     return PoolSamples({}, tuple(ProblemSamples.from_lists(f"q{i}", ["4"] * 4,
        ...         [1.0 if j < 4 * p else 0.0 for j in range(4)], completion_tokens=[9] * 4)
        ...         for i in range(4)))
        >>> policy = Policy(edges=(), plans={}, unit="tokens", meta={"probes": 1})
        >>> result = compare_thinking(ThinkingPools({8: pool(0.5), 64: pool(1.0)},
        ...     answer_tokens=8), policy, budgets=[64], n_orders=2, n_boot=10)
        >>> sorted(result.fixed), sorted(result.thinking)[0]
        (['majority think<=64', 'majority think<=8'], 'majority k=1')
    """
    if policy.unit != "tokens":
        raise TTCConfigError(
            "This policy's budgets are calls; compare it on one pool (compare_policy). Pools at "
            "several thinking budgets compare a policy fitted on them (calibrate_thinking)."
        )
    replay = ThinkingReplay(
        pools,
        probes=int(policy.meta.get("probes", 4)),
        probe_budget=policy.meta.get("probe_thinking_budget"),
        n_orders=n_orders,
        statistic=policy.statistic,
        seed=seed,
    )
    budgets = sorted(
        budgets
        or policy.meta.get("budgets")
        or [replay.probes_cost() * m for m in BUDGET_MULTIPLES]
    )
    width = replay.width
    ks = list(range(1, width + 1))
    thought = {
        t: np.mean([np.mean(p.thinking_tokens) for p in pool.problems])
        for t, pool in pools.pools.items()
    }
    # runs[(vote, t)] = (accuracy, tokens), each (problems, widths): the vote over the first
    # k samples of each replayed order of the pool at thinking budget t.
    runs = {}
    for t in replay.budgets:
        table = replay.plain(t)
        for vote in replay.aggregators():
            prefix = table.prefix(vote)
            runs[vote, t] = (
                prefix.correct.mean(axis=1)[:, :width],
                prefix.tokens.mean(axis=1)[:, :width],
            )
    options = dict(n_boot=n_boot, seed=seed, cost_name="tokens")
    fixed = {}
    for (vote, t), (accuracy, tokens) in runs.items():
        rows = curve_rows(accuracy, tokens, ks, **options)
        for row in rows:
            row["thinking_budget"] = t
            row["mean_thinking_tokens"] = round(float(row["k"] * thought[t]), 3)
        fixed[f"{vote} think<={t}"] = rows
    thinking = {}
    for vote in replay.aggregators():
        for k in thinking_widths(width):
            accuracy = np.stack([runs[vote, t][0][:, k - 1] for t in replay.budgets], axis=1)
            tokens = np.stack([runs[vote, t][1][:, k - 1] for t in replay.budgets], axis=1)
            rows = curve_rows(accuracy, tokens, replay.budgets, key="thinking_budget", **options)
            for row in rows:
                row["k"] = k
                row["mean_thinking_tokens"] = round(float(k * thought[row["thinking_budget"]]), 3)
            thinking[f"{vote} k={k}"] = rows
    replays = {b: replay_policy(replay, policy, b) for b in budgets}
    curves = {f"{vote} think<={t}": run for (vote, t), run in runs.items()}
    adaptive = adaptive_rows(replays, curves, n_boot=n_boot, seed=seed, cost="tokens")
    meta = {
        "unit": "tokens",
        "probes": replay.probes,
        "probe_thinking_budget": replay.probe_budget,
        "thinking_budgets": replay.budgets,
        "answer_tokens": replay.answer_tokens,
        "n_orders": n_orders,
        "n_boot": n_boot,
        "policy": {k: policy.meta.get(k) for k in ("model", "tasks", "fitted_at", "source")},
    }
    return Comparison(replay.n_problems, fixed, adaptive, meta, thinking)
