"""``langgraph-ttc calibrate`` and ``langgraph-ttc compare``: fit a routing policy on pools, then
measure it against the fixed strategies on the problems it was not fitted on."""

from __future__ import annotations

import argparse

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require_extra
from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.calibrate import calibrate, format_policy, load_pools, split_problems
from langgraph_ttc.scaling.compare import compare_policy, format_comparison, write_comparison
from langgraph_ttc.scaling.samples import PoolSamples
from langgraph_ttc.scaling.thinking_axis import calibrate_thinking
from langgraph_ttc.scaling.thinking_compare import compare_thinking
from langgraph_ttc.scaling.thinking_pools import load_thinking_pools, spans_thinking_budgets

__all__ = ["main"]


def main(args: argparse.Namespace) -> int:
    command = "calibrate" if args.calibrate else "compare"
    require_extra("eval", f"langgraph-ttc {command}")
    return _calibrate(args) if args.calibrate else _compare(args)


def _calibrate(args: argparse.Namespace) -> int:
    options = dict(
        probes=args.probes,
        statistic=args.statistic,
        n_orders=args.orders,
        folds=args.folds,
        tolerance=args.tolerance,
        seed=args.seed,
    )
    if spans_thinking_budgets(args.pool):
        # Pools at several thinking budgets: plans choose width and thinking, at token budgets.
        pools = load_thinking_pools(args.pool)
        first = PoolSamples({}, next(iter(pools.pools.values())).problems)
        fit, held = split_problems(first, args.holdout, seed=args.seed)
        result = calibrate_thinking(
            pools,
            args.token_budgets,
            probe_budget=args.probe_thinking_budget,
            problem_ids=fit,
            heldout_ids=held,
            **options,
        )
    else:
        pool = load_pools(args.pool)
        fit, held = split_problems(pool, args.holdout, seed=args.seed)
        objective = getattr(args, "objective", "accuracy").replace("-", "_")
        result = calibrate(
            pool, args.budgets, problem_ids=fit, heldout_ids=held, objective=objective, **options
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.policy.save(args.out)
    print(format_policy(result))  # result.warnings were logged to stderr as they arose
    print(f"wrote {args.out} (fitted on {len(fit)} problems, {len(held)} held out)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    policy = Policy.load(args.policy)
    pool = load_thinking_pools(args.pool) if policy.unit == "tokens" else load_pools(args.pool)
    if args.problems == "heldout":
        held = policy.meta.get("heldout_problems") or []
        if not held:
            raise TTCConfigError(
                f"{args.policy} records no held-out problems; calibrate with --holdout > 0, or "
                "pass --problems all (then the numbers are in-sample)."
            )
        missing = set(held) - set(pool.problem_ids)
        if missing:
            raise TTCConfigError(
                f"{len(missing)} held-out problems are not in these pools (e.g. "
                f"{sorted(missing)[0]!r}); pass the pools the policy was calibrated on."
            )
        pool = pool.subset(held)
    options = dict(n_orders=args.orders, n_boot=args.n_boot, seed=args.seed)
    if policy.unit == "tokens":  # the thinking axis: accuracy vs tokens for width and thinking
        result = compare_thinking(pool, policy, **options)
    else:
        result = compare_policy(pool, policy, **options)
    write_comparison(result, args.out, plot=not args.no_plot)
    print(format_comparison(result))
    print(f"wrote {args.out}/compare.json" + ("" if args.no_plot else ", compare.png"))
    return 0
