"""``langgraph-ttc curves`` (build or resume a pool, estimate, fit, plot) and ``langgraph-ttc
plot`` (re-plot without sampling)."""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
from dataclasses import replace

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.cli.run import backend_from_args
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require_extra
from langgraph_ttc.scaling.curve_estimates import STRATEGY_NAMES
from langgraph_ttc.scaling.curves import format_table, replot, run_curves
from langgraph_ttc.scaling.live import graph_runner
from langgraph_ttc.scaling.outputs import plot_file
from langgraph_ttc.strategies import STRATEGIES
from langgraph_ttc.tasks import load_task
from langgraph_ttc.verifiers import LLMJudge

logger = logging.getLogger(__name__)

__all__ = ["main"]


def _params(args: argparse.Namespace) -> SamplingParams:
    params = SamplingParams()
    for name in ("temperature", "top_p", "max_tokens", "thinking_budget"):
        value = getattr(args, name)
        if value is not None:
            params = replace(params, **{name: value})
    return params


def main(args: argparse.Namespace) -> int:
    if getattr(args, "replot", False):
        require_extra("eval", "langgraph-ttc plot")
        return _plot(args)
    require_extra("eval", "langgraph-ttc curves")
    return _curves(args)


def _curves(args: argparse.Namespace) -> int:
    task = load_task(
        args.task,
        size=args.size,
        seed=args.task_seed,
        config=args.task_config,
        allow_unsandboxed=args.allow_unsandboxed,
    )
    pool_builder, recipe = _on_ray(args)
    backend = recipe if recipe is not None else backend_from_args(args)
    verifier = LLMJudge() if args.verifier == "judge" else None
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
    if live and pool_builder is not None:
        raise TTCConfigError(
            f"--ray builds pools; {', '.join(live)} run live at each k: drop --ray for them, "
            "or curve them from the pool (coverage, majority, filter_vote, best_of_n, ...)."
        )
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
        confidence=ConfidenceSpec(window=args.confidence_window) if args.confidence else None,
        x=args.x,
        pool_builder=pool_builder,
    )
    print(format_table(summary))
    print(_fit_lines(summary))
    print(
        f"wrote {args.out}/pool.sqlite, curves.csv, summary.json"
        + ("" if args.no_plot else f", {plot_file(args.x)}")
    )
    return 0


def _on_ray(args: argparse.Namespace):
    """``--ray``: the pool builder and the backend recipe its actors build from; without
    ``--ray``, ``(None, None)``: the pool is built in this process."""
    if getattr(args, "ray", None) is None:
        if getattr(args, "vllm", False):
            raise TTCConfigError("--vllm runs vLLM inside Ray Data: add --ray [ADDRESS].")
        return None, None
    require_extra("ray", "langgraph-ttc curves --ray")
    from langgraph_ttc import distributed

    address = args.ray or None
    if args.vllm:
        if args.base_url or args.model == "local":
            raise TTCConfigError(
                "--vllm loads the model in Ray's vLLM engines: pass --model with a Hugging Face "
                "id or path, and no --base-url."
            )
        engine = distributed.VLLMEngine(args.model, chat=args.mode == "chat")
        return functools.partial(distributed.build_pool_on_vllm, address=address), engine
    builder = functools.partial(distributed.build_pool_on_ray, address=address, actors=args.actors)
    urls = [u for u in (args.base_url or "").split(",") if u.strip()]
    if len(urls) > 1:  # vLLM replicas: each question goes to one of them
        options = {"mode": args.mode}
        if args.reasoning is not None:
            options["reasoning"] = args.reasoning
        if args.thinking_control is not None:
            options["thinking_control"] = args.thinking_control
        return builder, distributed.Endpoints.parse(urls, args.model, **options)
    if args.model == "local" and not args.base_url and not args.reasoning:
        return builder, "local"
    # Anything else is made in each actor exactly as this process would make it.
    return builder, functools.partial(backend_from_args, args)


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
    thinking = summary.get("thinking") or {}
    if thinking.get("mean_thinking_tokens") or thinking.get("thinking_budget") is not None:
        line += (
            f"\nthinking: {thinking['mean_thinking_tokens']:.0f} tokens per sample on average "
            f"(budget {thinking['thinking_budget']}), {thinking['truncated_in_thinking']} "
            "samples cut off inside their thinking"
        )
    return line


def _plot(args: argparse.Namespace) -> int:
    strategies = args.strategies.split(",") if args.strategies else None
    path = args.output or args.dir / plot_file(args.x)
    replot(args.dir, strategies=strategies, x=args.x, path=path)
    print(f"wrote {path}", file=sys.stdout)
    return 0
