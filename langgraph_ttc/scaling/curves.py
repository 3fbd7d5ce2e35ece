"""The scaling-curves pipeline: build a pool, estimate every strategy at every k, fit, plot.

:func:`run_curves` writes into ``out_dir``:

- ``pool.sqlite``: the sample pool (resumed when it exists, see :mod:`.pool`);
- ``curves.csv``: one row per strategy, difficulty bin and k;
- ``summary.json``: curves, fits, optimal K, difficulty bins, pool size and build time;
- ``curves.png``: the plots (needs matplotlib: ``pip install 'langgraph-ttc[plot]'``).

Best-of-N needs a score per sample. Without a verifier the critique verdict of the Filter-Vote
filter call is the score (1.0 ``[[correct]]``, 0.0 ``[[wrong]]``, unknown = 0): no extra calls
beyond the critique pool, and the x axis charges best-of-N one scoring call per answered sample,
exactly like filter-vote. With a verifier (e.g. ``LLMJudge``) its scores are used and its calls
(purpose ``"verify"``) are charged instead.

Sequential and adaptive strategies cannot be read off a pool: pass them as ``live`` runners,
called once per k, and they are estimated, stored and plotted on the same axes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from langgraph_ttc.aggregators import AGGREGATORS, get_aggregator
from langgraph_ttc.backends.base import Backend, SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling.curve_estimates import (
    STRATEGY_NAMES,
    CurvePoint,
    bootstrap_ci,
    default_ks,
    estimate_curves,
)
from langgraph_ttc.scaling.difficulty import (
    chen_split,
    oracle_statistic,
    predicted_statistic,
    quantile_bins,
)
from langgraph_ttc.scaling.fits import fit_power_law, log_spaced_ks
from langgraph_ttc.scaling.outputs import (
    POOL_FILE,
    SUMMARY_FILE,
    SUMMARY_VERSION,
    plot_file,
    plot_summary,
    read_summary,
    write_outputs,
)
from langgraph_ttc.scaling.pool import DEFAULT_CONCURRENCY, build_pool, load_pool
from langgraph_ttc.scaling.samples import PoolSamples
from langgraph_ttc.scaling.vote_model import fit_vote_model
from langgraph_ttc.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_STRATEGIES",
    "LiveResult",
    "format_table",
    "replot",
    "run_curves",
    "summarize_pool",
]

DEFAULT_STRATEGIES: tuple[str, ...] = ("coverage", "majority", "filter_vote", "best_of_n")


@dataclass(frozen=True)
class LiveResult:
    """What a live (sequential/adaptive) strategy scored at one budget.

    ``correct`` has one entry per problem (1/0 or a score); calls/tokens are means per problem.
    A live runner is ``runner(task, backend, k) -> LiveResult``, called once per k.

    Example:
        >>> LiveResult(correct=[1, 0, 1], mean_calls=8.0).mean_tokens
        0.0
    """

    correct: Sequence[float]
    mean_calls: float
    mean_tokens: float = 0.0


LiveRunner = Callable[[Task, Backend, int], LiveResult]


def _needs_critique(strategies: Sequence[str], verifier) -> bool:
    return "filter_vote" in strategies or (
        verifier is None and any(s in ("best_of_n", "weighted_best_of_n") for s in strategies)
    )


def _check_strategies(strategies: Sequence[str]) -> list[str]:
    strategies = list(dict.fromkeys(s.strip() for s in strategies if s.strip()))
    unknown = [s for s in strategies if s not in STRATEGY_NAMES]
    if unknown or not strategies:
        raise TTCConfigError(
            f"Unknown curve strategies {unknown or strategies}; choose from "
            f"{', '.join(STRATEGY_NAMES)} (comma-separated)."
        )
    return strategies


def run_curves(
    task: Task,
    backend: Backend,
    out_dir: str | os.PathLike,
    *,
    k_max: int = 64,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    params: SamplingParams | None = None,
    seed: int = 0,
    verifier=None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    n_boot: int = 1000,
    live: Mapping[str, LiveRunner] | None = None,
    plot: bool = True,
    confidence: ConfidenceSpec | None = None,
    x: str = "calls",
    pool_builder: Callable | None = None,
) -> dict:
    """Build (or resume) the pool in ``out_dir`` and write curves.csv, summary.json, curves.png.

    Args:
        task: the task (e.g. ``load_task("rg:basic_arithmetic", size=50)``).
        backend: the model (e.g. ``resolve_backend("local")``).
        out_dir: output directory; an existing pool there is resumed/extended.
        k_max: samples per problem in the pool (curves go up to it).
        strategies: from ``coverage, majority, filter_vote, best_of_n, weighted_best_of_n``.
        params: sampling params (default temperature 0.7, top_p 0.95, 256 tokens).
        seed: base seed of the pool.
        verifier: scores samples for best-of-N (default: the critique verdict, see module doc).
        concurrency: requests in flight while building the pool.
        progress: progress bar on stderr.
        n_boot: bootstrap resamples for confidence intervals.
        live: extra strategies run live at each k (the hook for sequential/adaptive ones).
        plot: also write curves.png (skipped with a warning when matplotlib is missing).
        confidence: store each sample's token confidence in the pool (needed by the confidence
            votes; default: when one of ``strategies`` needs it).
        x: the plot's x axis: ``"calls"``, ``"tokens"`` or ``"thinking-tokens"`` per problem.
        pool_builder: what builds the pool, called as :func:`~.pool.build_pool` is (the
            default); e.g. ``functools.partial(build_pool_on_ray, actors=8)`` from
            :mod:`langgraph_ttc.distributed`, with a backend recipe as ``backend``.

    Returns:
        The summary (also written to ``summary.json``).

    Example:
        >>> import tempfile
        >>> from langgraph_ttc.tasks import load_task
        >>> from langgraph_ttc.testing import FakeBackend
        >>> summary = run_curves(load_task("rg:basic_arithmetic", size=3), FakeBackend(),
        ...                      tempfile.mkdtemp(), k_max=4, progress=False, plot=False)
        >>> [p["k"] for p in summary["strategies"]["majority"]]
        [1, 2, 3, 4]
    """
    strategies = _check_strategies(strategies)
    if confidence is None and any(
        s in AGGREGATORS and "confidences" in get_aggregator(s).needs for s in strategies
    ):
        confidence = ConfidenceSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = (pool_builder or build_pool)(
        task,
        backend,
        out / POOL_FILE,
        k_max=k_max,
        params=params,
        seed=seed,
        critique=_needs_critique(strategies, verifier),
        verifier=verifier,
        concurrency=concurrency,
        progress=progress,
        confidence=confidence,
    )
    pool = load_pool(out / POOL_FILE)
    wanted = {p.id for p in task.problems()}
    pool = pool.subset([pid for pid in pool.problem_ids if pid in wanted])
    ks = [k for k in default_ks(k_max) if k <= pool.n_min]
    summary = summarize_pool(pool, strategies, ks, n_boot=n_boot, seed=seed)
    summary["pool"]["this_run"] = {
        "drawn": report.drawn,
        "critiqued": report.critiqued,
        "verified": report.verified,
        "failed": report.failed,
        "seconds": report.seconds,
        "usage": report.usage,
    }
    if live:
        summary["live"] = _run_live(task, backend, live, ks, n_boot=n_boot, seed=seed)
    write_outputs(out, summary, plot=plot, x=x)
    return summary


def _run_live(task, backend, live, ks, *, n_boot, seed) -> dict:
    out = {}
    for name, runner in live.items():
        points = []
        for k in ks:
            result = runner(task, backend, k)
            correct = np.asarray(result.correct, dtype=float)[:, None]
            low, high = bootstrap_ci(correct, n_boot=n_boot, seed=seed)
            points.append(
                CurvePoint(
                    name,
                    k,
                    float(result.mean_calls),
                    float(result.mean_tokens),
                    float(correct.mean()),
                    float(low[0]),
                    float(high[0]),
                    "live",
                    len(correct),
                ).to_dict()
            )
        out[name] = points
    return out


def summarize_pool(
    pool: PoolSamples,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    ks: Sequence[int] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    extrapolate_factors: Sequence[int] = (2, 4, 10, 100),
) -> dict:
    """Everything the outputs hold, computed from a pool alone (no model calls).

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> pool = PoolSamples({"task": "demo"}, (
        ...     ProblemSamples.from_lists("a", ["1", "2", "1", "1"], [1, 0, 1, 1]),
        ...     ProblemSamples.from_lists("b", ["3", "4", "4", None], [1, 0, 0, 0])))
        >>> s = summarize_pool(pool, ["coverage", "majority"], n_boot=10)
        >>> s["strategies"]["coverage"][-1]["accuracy"], s["difficulty"]["chen_counts"]
        (1.0, {'easy': 1, 'hard': 1})
    """
    strategies = _check_strategies(strategies)
    n_min = pool.n_min
    curves = estimate_curves(pool, strategies, ks, n_boot=n_boot, seed=seed)
    oracle = quantile_bins(pool.problem_ids, [oracle_statistic(p) for p in pool.problems])
    predicted_stats = [predicted_statistic(p, curves.score_source) for p in pool.problems]
    predicted = (
        quantile_bins(pool.problem_ids, predicted_stats)
        if np.isfinite(predicted_stats).any()
        else {}
    )
    chen = chen_split(pool)
    per_bin = {"oracle": curves.for_bins(oracle, n_boot=n_boot, seed=seed)}
    if predicted:
        per_bin["predicted"] = curves.for_bins(predicted, n_boot=n_boot, seed=seed)
    per_bin["chen"] = curves.for_bins(chen, n_boot=n_boot, seed=seed)
    fit_ks = log_spaced_ks(n_min, 40)
    coverage = estimate_curves(pool, ["coverage"], fit_ks, n_boot=0, seed=seed)
    law = fit_power_law(
        coverage.ks,
        coverage.accuracy("coverage"),
        per_problem=coverage.per_problem["coverage"],
        extrapolate_to=[n_min * f for f in extrapolate_factors],
        seed=seed,
    )
    vote = fit_vote_model(pool, k_pred_max=max(1000, 10 * n_min))
    errors = sum(p.errors for p in pool.problems)
    meta = dict(pool.meta)
    samples = max(sum(p.n for p in pool.problems), 1)
    return {
        "version": SUMMARY_VERSION,
        "task": meta.get("task"),
        "model_id": meta.get("model_id"),
        "params": meta.get("params"),
        "seed": meta.get("seed"),
        "n_problems": len(pool.problems),
        "k_pool": n_min,
        "ks": list(curves.ks),
        "score_source": curves.score_source,
        "pool": {
            "file": POOL_FILE,
            "samples": int(sum(p.n for p in pool.problems)),
            "failed": int(errors),
            "critique": bool(meta.get("critique")),
            "verifier": meta.get("verifier"),
            "build_seconds": float(meta.get("build_seconds", 0.0)),
        },
        "thinking": {  # a reasoning model's thinking: its budget, mean length, truncations
            "thinking_budget": (meta.get("params") or {}).get("thinking_budget"),
            "mean_thinking_tokens": float(sum(p.thinking_tokens.sum() for p in pool.problems))
            / samples,
            "truncated_in_thinking": int(sum(p.truncated_in_thinking for p in pool.problems)),
        },
        "strategies": {s: [p.to_dict() for p in pts] for s, pts in curves.points.items()},
        "per_bin": {kind: [p.to_dict() for p in pts] for kind, pts in per_bin.items()},
        "difficulty": {
            "oracle_bins": oracle,
            "predicted_bins": predicted,
            "chen": chen,
            "chen_counts": {
                "easy": sum(v == "easy" for v in chen.values()),
                "hard": sum(v == "hard" for v in chen.values()),
            },
        },
        "fits": {"coverage_power_law": law.to_dict(), "vote_model": vote.to_dict()},
        "optimal_k": {
            "vote_model": vote.optimal_k,
            "vote_model_accuracy": vote.optimal_accuracy,
            "vote_model_plateau": vote.plateau_k,
            "observed": {s: _observed_best(pts) for s, pts in curves.points.items()},
        },
    }


def _observed_best(points: Sequence[CurvePoint]) -> dict:
    best = max(points, key=lambda p: (p.accuracy, -p.mean_calls))
    return {"k": best.k, "mean_calls": best.mean_calls, "accuracy": best.accuracy}


def replot(
    out_dir: str | os.PathLike,
    *,
    strategies: Sequence[str] | None = None,
    x: str = "calls",
    path: str | os.PathLike | None = None,
) -> dict:
    """Re-plot ``out_dir`` without sampling: from summary.json, or recomputed from pool.sqlite.
    The plot goes to ``path``, by default ``curves.png`` for calls and ``curves-tokens.png``
    / ``curves-thinking-tokens.png`` for the other axes (:func:`plot_file`), so re-plotting on
    another axis keeps the calls plot.

    Recomputes (and rewrites summary.json and curves.csv) when the summary is missing,
    ``strategies`` differ from it, or it predates what the x axis ``x`` needs (thinking tokens).

    Example:
        >>> replot("no-such-dir")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: Nothing to plot in no-such-dir...
    """
    out = Path(out_dir)
    pool_path = out / POOL_FILE
    summary = read_summary(out)
    current = summary is not None and (x != "thinking-tokens" or "thinking" in summary)
    if current and (strategies is None or list(strategies) == list(summary["strategies"])):
        plot_summary(summary, Path(path) if path is not None else out / plot_file(x), x=x)
        return summary
    if not pool_path.exists():
        raise TTCConfigError(
            f"Nothing to plot in {out}: no {SUMMARY_FILE} or {POOL_FILE}. "
            "Run `langgraph-ttc curves --out DIR` first."
        )
    pool = load_pool(pool_path)
    chosen = strategies or (summary["strategies"] if summary else DEFAULT_STRATEGIES)
    k_max = int(pool.meta.get("k_max", pool.n_min))
    ks = [k for k in default_ks(k_max) if k <= pool.n_min]
    summary = summarize_pool(pool, list(chosen), ks, seed=int(pool.meta.get("seed") or 0))
    write_outputs(out, summary, x=x, plot_path=path)
    return summary


def format_table(summary: dict) -> str:
    """A plain-text table of accuracy (with CI) against mean calls, per strategy and k.

    Example:
        >>> print(format_table({"strategies": {"majority": [{"k": 1, "mean_calls": 1.0,
        ...     "mean_tokens": 10.0, "accuracy": 0.5, "ci_low": 0.2, "ci_high": 0.8}]}}))
        strategy               k    calls   tokens  accuracy  95% CI
        majority               1      1.0       10     0.500  [0.200, 0.800]
        (calls and tokens: mean per problem; tokens are prompt + completion, thinking included)
    """
    lines = [f"{'strategy':<20} {'k':>3} {'calls':>8} {'tokens':>8}  accuracy  95% CI"]
    groups = {**summary.get("strategies", {}), **summary.get("live", {})}
    for name, points in groups.items():
        for p in points:
            lines.append(
                f"{name:<20} {p['k']:>3} {p['mean_calls']:>8.1f} {p['mean_tokens']:>8.0f}"
                f"     {p['accuracy']:.3f}  [{p['ci_low']:.3f}, {p['ci_high']:.3f}]"
            )
    lines.append(
        "(calls and tokens: mean per problem; tokens are prompt + completion, thinking included)"
    )
    return "\n".join(lines)
