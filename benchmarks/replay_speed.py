"""How fast the router's replay is: calibrate + compare on a synthetic pool of known difficulty.

The default is the size the calibrated-router work uses for real pools: 120 problems x 64
samples (easy, medium, hopeless and trap bands, with critiques and LLM-judge scores), budgets
1..64 (every integer, or powers of two with ``--powers``), 32 replayed orders per problem. It
prints the seconds each phase took and the peak memory, then repeats calibrate at larger
problem counts to show how the time grows.

    python benchmarks/replay_speed.py                   # 120 x 64, budgets 1..64
    python benchmarks/replay_speed.py --scale 120,480,1920
"""

from __future__ import annotations

import argparse
import resource
import time

from langgraph_ttc.scaling.calibrate import calibrate, split_problems
from langgraph_ttc.scaling.compare import compare_policy
from langgraph_ttc.scaling.synthetic import synthetic_pool


def mix(problems: int) -> dict[str, int]:
    quarter = problems // 4
    return {"easy": quarter, "medium": quarter, "hopeless": quarter, "trap": problems - 3 * quarter}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_run(problems: int, k: int, budgets: list[int], orders: int, compare: bool) -> dict:
    pool = synthetic_pool(mix(problems), k=k, seed=1)
    fit, held = split_problems(pool, 0.5)
    started = time.perf_counter()
    result = calibrate(pool, budgets, problem_ids=fit, heldout_ids=held, n_orders=orders)
    calibrate_s = time.perf_counter() - started
    compare_s = None
    if compare:
        started = time.perf_counter()
        compare_policy(pool.subset(held), result.policy, budgets=budgets, n_orders=orders)
        compare_s = time.perf_counter() - started
    return {
        "problems": problems,
        "calibrate_s": calibrate_s,
        "compare_s": compare_s,
        "peak_rss_mb": peak_rss_mb(),
        "cv": result.cross_validation[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=120)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--orders", type=int, default=32)
    parser.add_argument("--powers", action="store_true", help="budgets 1, 2, 4, ..., k")
    parser.add_argument("--scale", default="", help="also calibrate at these problem counts")
    args = parser.parse_args()
    budgets = (
        [2**i for i in range(args.k.bit_length()) if 2**i <= args.k]
        if args.powers
        else (list(range(1, args.k + 1)))
    )
    run = one_run(args.problems, args.k, budgets, args.orders, compare=True)
    print(
        f"{args.problems} problems x {args.k} samples, {len(budgets)} budgets, "
        f"{args.orders} orders: calibrate {run['calibrate_s']:.1f} s, compare "
        f"{run['compare_s']:.1f} s, total {run['calibrate_s'] + run['compare_s']:.1f} s, "
        f"peak RSS {run['peak_rss_mb']:.0f} MB"
    )
    print(f"  cross-validated at budget {budgets[-1]}: {run['cv']}")
    for problems in [int(p) for p in args.scale.split(",") if p.strip()]:
        scaled = one_run(problems, args.k, budgets, args.orders, compare=False)
        print(
            f"  calibrate, {problems} problems: {scaled['calibrate_s']:.1f} s, "
            f"peak RSS {scaled['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
