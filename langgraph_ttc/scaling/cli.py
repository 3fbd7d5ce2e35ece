"""``langgraph-ttc curves`` and ``langgraph-ttc plot``: argparse wiring for the scaling tools.

The main command adds these with :func:`add_curves_parser` and :func:`add_plot_parser`; each
sets ``handler`` to a function of the parsed args returning the exit code.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from langgraph_ttc.cli import add_model_arguments, backend_from_args, positive_int

logger = logging.getLogger(__name__)

__all__ = ["add_curves_parser", "add_plot_parser"]

VERIFIERS = ("critique", "judge")


def add_curves_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``curves``: build/resume a sample pool, estimate, fit, plot and print a table.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_curves_parser(parser.add_subparsers())
        >>> args = parser.parse_args(["curves", "--task", "rg:basic_arithmetic", "--out", "d"])
        >>> args.k_max, args.strategies
        (64, 'coverage,majority,filter_vote,best_of_n')
    """
    from langgraph_ttc.scaling.curves import DEFAULT_STRATEGIES

    curves = subparsers.add_parser(
        "curves",
        help="accuracy vs number of calls per strategy, from one resumable sample pool",
        description="Draw up to --k-max samples per problem once (resumed when --out exists), "
        "then estimate every strategy at every k, fit the coverage power law and the vote "
        "scaling model, and write pool.sqlite, curves.csv, summary.json and curves.png.",
    )
    curves.add_argument("--task", required=True, help="e.g. rg:basic_arithmetic, humaneval")
    curves.add_argument("--size", type=positive_int, default=50, help="problems (default 50)")
    curves.add_argument("--task-seed", type=int, default=0, help="seed of the task's problems")
    curves.add_argument(
        "--task-config",
        type=_json_object,
        default=None,
        help='reasoning-gym generator settings as JSON, e.g. \'{"max_terms": 2, "max_digits": 1}\'',
    )
    curves.add_argument("--k-max", type=positive_int, default=64, help="samples per problem")
    curves.add_argument(
        "--strategies",
        default=",".join(DEFAULT_STRATEGIES),
        help="comma-separated: coverage, majority, filter_vote, best_of_n, weighted_best_of_n "
        "(from the pool), and revise, adaptive, beam_search, rebase, ... (run live at each k)",
    )
    curves.add_argument("--out", required=True, type=Path, help="output directory (resumed)")
    add_model_arguments(curves)
    curves.add_argument("--seed", type=int, default=0, help="base seed of the pool's samples")
    curves.add_argument("--temperature", type=float, default=None, help="default 0.7")
    curves.add_argument("--top-p", type=float, default=None, help="default 0.95")
    curves.add_argument("--max-tokens", type=positive_int, default=None, help="default 256")
    curves.add_argument(
        "--verifier",
        choices=VERIFIERS,
        default="critique",
        help="best-of-N scores: 'critique' reuses the filter verdicts (no extra calls, default); "
        "'judge' asks the model with the LLM-judge prompt (one 'verify' call per sample)",
    )
    curves.add_argument("--concurrency", type=positive_int, default=4, help="requests in flight")
    curves.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples")
    curves.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    curves.add_argument("--no-plot", action="store_true", help="skip curves.png")
    curves.set_defaults(handler=_curves_command)
    return curves


def add_plot_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``plot DIR``: re-plot a curves directory without sampling.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = add_plot_parser(parser.add_subparsers())
        >>> parser.parse_args(["plot", "runs/a"]).dir
        PosixPath('runs/a')
    """
    plot = subparsers.add_parser(
        "plot", help="re-plot a curves directory from its summary/pool (no model calls)"
    )
    plot.add_argument("dir", type=Path, help="a directory written by `langgraph-ttc curves`")
    plot.add_argument(
        "--strategies", default=None, help="recompute for these strategies (comma-separated)"
    )
    plot.set_defaults(handler=_plot_command)
    return plot


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _params(args):
    from dataclasses import replace

    from langgraph_ttc.backends.base import SamplingParams

    params = SamplingParams()
    for name in ("temperature", "top_p", "max_tokens"):
        value = getattr(args, name)
        if value is not None:
            params = replace(params, **{name: value})
    return params


def _curves_command(args) -> int:
    from langgraph_ttc.scaling.curves import format_table, run_curves
    from langgraph_ttc.tasks import load_task

    task = load_task(args.task, size=args.size, seed=args.task_seed, config=args.task_config)
    backend = backend_from_args(args)
    verifier = None
    if args.verifier == "judge":
        from langgraph_ttc.verifiers import LLMJudge

        verifier = LLMJudge()
    from langgraph_ttc.errors import TTCConfigError
    from langgraph_ttc.scaling.curve_estimates import STRATEGY_NAMES
    from langgraph_ttc.scaling.live import graph_runner
    from langgraph_ttc.strategies import STRATEGIES

    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGY_NAMES and s not in STRATEGIES]
    if unknown:
        raise TTCConfigError(
            f"Unknown strategies {unknown}; from the pool: {', '.join(STRATEGY_NAMES)}; "
            f"run live: {', '.join(s for s in STRATEGIES if s not in STRATEGY_NAMES)}."
        )
    strategies = [s for s in names if s in STRATEGY_NAMES]
    # Revisions, the router and search cannot be read off a pool: run them at each k.
    live = {
        s: graph_runner(s, verifier=verifier, params=_params(args), seed=args.seed)
        for s in names
        if s not in STRATEGY_NAMES and s in STRATEGIES
    }
    if args.out.exists():
        logger.info("resuming the pool in %s", args.out)
    summary = run_curves(
        task,
        backend,
        args.out,
        k_max=args.k_max,
        strategies=strategies,
        params=_params(args),
        seed=args.seed,
        verifier=verifier,
        concurrency=args.concurrency,
        progress=not args.no_progress,
        n_boot=args.n_boot,
        plot=not args.no_plot,
        live=live or None,
    )
    print(format_table(summary))
    print(_fit_lines(summary))
    print(
        f"wrote {args.out}/pool.sqlite, curves.csv, summary.json"
        + ("" if args.no_plot else ", curves.png")
    )
    return 0


def _fit_lines(summary: dict) -> str:
    law = summary["fits"]["coverage_power_law"]
    vote = summary["fits"]["vote_model"]
    pool = summary["pool"]
    if law["status"] == "ok":
        line = (
            f"coverage ~= exp({law['a']:.3f} * k^{law['b']:.3f})  "
            f"(RMSE {law['rmse']:.4f}, max error {law['max_abs_error']:.4f})"
        )
        a_ci, b_ci = law.get("a_ci") or (), law.get("b_ci") or ()
        if len(a_ci) == 2 and len(b_ci) == 2 and all(map(math.isfinite, [*a_ci, *b_ci])):
            line += (
                f"\n  95% intervals (bootstrap over problems): a in [{a_ci[0]:.3f}, {a_ci[1]:.3f}]"
                f", b in [{b_ci[0]:.3f}, {b_ci[1]:.3f}]"
            )
        for row in law["extrapolation"]:
            line += f"\n  k={row['k']}: {row['coverage']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"
    else:
        line = f"coverage law: {law['status']} ({law['message']})"
    if vote.get("optimal_k"):
        line += (
            f"\nvote model: best K = {vote['optimal_k']} (predicted accuracy "
            f"{vote['optimal_accuracy']:.3f}; within 0.5 pt from K = {vote['plateau_k']}); "
            f"{summary['difficulty']['chen_counts']}"
        )
    line += (
        f"\npool: {pool['samples']} samples ({pool['failed']} failed), "
        f"built in {pool['build_seconds']:.1f}s"
    )
    return line


def _plot_command(args) -> int:
    from langgraph_ttc.scaling.curves import replot

    strategies = args.strategies.split(",") if args.strategies else None
    replot(args.dir, strategies=strategies)
    print(f"wrote {args.dir}/curves.png", file=sys.stdout)
    return 0
