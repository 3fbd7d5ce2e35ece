"""``langgraph-ttc calibrate`` and ``langgraph-ttc compare``: fit a routing policy on pools, then
measure it against the fixed strategies on the problems it was not fitted on."""

from __future__ import annotations

import argparse
from pathlib import Path

from langgraph_ttc.cli import positive_int

__all__ = ["add_calibrate_parser", "add_compare_parser"]


def _budgets(text: str) -> list[int]:
    try:
        budgets = sorted({int(b) for b in text.split(",") if b.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not budgets or budgets[0] < 1:
        raise argparse.ArgumentTypeError(f"budgets must be integers >= 1, got {text!r}")
    return budgets


def add_calibrate_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``calibrate``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_calibrate_parser(parser.add_subparsers())
        >>> args = parser.parse_args(["calibrate", "--pool", "a/pool.sqlite", "--out", "p.json"])
        >>> args.budgets, args.probes, args.holdout
        ([1, 2, 4, 8, 16, 32], 4, 0.5)
    """
    cal = subparsers.add_parser(
        "calibrate",
        help="fit a routing policy (plan per difficulty bin and budget) from sample pools",
        description="Replay the router on pool samples, bin runs by what their probes show, and "
        "keep the best plan per (bin, budget), cheapest within --tolerance. Prints the policy "
        "and its cross-validated accuracy; writes the policy JSON for Adaptive(policy=...).",
    )
    cal.add_argument(
        "--pool",
        action="append",
        required=True,
        type=Path,
        help="a pool.sqlite written by `langgraph-ttc curves` (repeat for a task mix)",
    )
    cal.add_argument("--budgets", type=_budgets, default=[1, 2, 4, 8, 16, 32])
    cal.add_argument("--out", required=True, type=Path, help="policy JSON to write")
    cal.add_argument("--probes", type=positive_int, default=4, help="router probes (default 4)")
    cal.add_argument("--statistic", choices=("agreement", "verifier"), default="agreement")
    cal.add_argument(
        "--holdout",
        type=float,
        default=0.5,
        help="share of each pool's problems kept out of fitting, for `compare` (default 0.5)",
    )
    cal.add_argument("--folds", type=positive_int, default=2, help="cross-validation folds")
    cal.add_argument("--orders", type=positive_int, default=32, help="replayed orders/problem")
    cal.add_argument("--tolerance", type=float, default=0.01, help="accuracy traded for thrift")
    cal.add_argument("--seed", type=int, default=0)
    cal.set_defaults(handler=_calibrate_command)
    return cal


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``compare``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_compare_parser(parser.add_subparsers())
        >>> args = parser.parse_args(
        ...     ["compare", "--pool", "a/pool.sqlite", "--policy", "p.json", "--out", "d"]
        ... )
        >>> args.problems
        'heldout'
    """
    cmp = subparsers.add_parser(
        "compare",
        help="adaptive policy vs fixed strategies at matched compute (plot + compute ratios)",
        description="Replay the policy and estimate majority, filter-vote, best-of-N and "
        "weighted best-of-N on the problems the policy was not fitted on; print the compute "
        "ratio per budget with bootstrap intervals; write compare.json and compare.png.",
    )
    cmp.add_argument("--pool", action="append", required=True, type=Path)
    cmp.add_argument("--policy", required=True, type=Path, help="from `langgraph-ttc calibrate`")
    cmp.add_argument("--out", required=True, type=Path, help="output directory")
    cmp.add_argument(
        "--problems",
        choices=("heldout", "all"),
        default="heldout",
        help="'heldout' (default): the problems the policy recorded as held out",
    )
    cmp.add_argument("--orders", type=positive_int, default=32, help="replayed orders/problem")
    cmp.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples")
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--no-plot", action="store_true", help="skip compare.png")
    cmp.set_defaults(handler=_compare_command)
    return cmp


def _calibrate_command(args) -> int:
    from langgraph_ttc.scaling.calibrate import calibrate, format_policy, load_pools, split_problems

    pool = load_pools(args.pool)
    fit, held = split_problems(pool, args.holdout, seed=args.seed)
    result = calibrate(
        pool,
        args.budgets,
        probes=args.probes,
        statistic=args.statistic,
        problem_ids=fit,
        heldout_ids=held,
        n_orders=args.orders,
        folds=args.folds,
        tolerance=args.tolerance,
        seed=args.seed,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result.policy.save(args.out)
    print(format_policy(result))
    print(f"wrote {args.out} (fitted on {len(fit)} problems, {len(held)} held out)")
    return 0


def _compare_command(args) -> int:
    from langgraph_ttc.errors import TTCConfigError
    from langgraph_ttc.policy import Policy
    from langgraph_ttc.scaling.calibrate import load_pools
    from langgraph_ttc.scaling.compare import compare_policy, format_comparison, write_comparison

    policy = Policy.load(args.policy)
    pool = load_pools(args.pool)
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
    result = compare_policy(pool, policy, n_orders=args.orders, n_boot=args.n_boot, seed=args.seed)
    write_comparison(result, args.out, plot=not args.no_plot)
    print(format_comparison(result))
    print(f"wrote {args.out}/compare.json" + ("" if args.no_plot else ", compare.png"))
    return 0
