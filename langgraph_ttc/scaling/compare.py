"""Adaptive policy vs fixed strategies at matched compute, on problems the policy never saw.

Each budget's row leads with accuracy at equal calls (:mod:`~langgraph_ttc.scaling.oracle`): the
router's accuracy, every fixed method's at the router's mean calls (uniform allocation), the
pool oracle's (each question's best method and sample count, from its own curves), and the share
of the oracle's gain the router captures. The compute ratio below comes after them.

The adaptive policy and the fixed strategies (majority, filter-vote, best-of-N, weighted
best-of-N at k samples) are replayed on the same orders of the same pool samples
(:mod:`~langgraph_ttc.scaling.replay`): a paired comparison, so a difference between them comes
from the policy, not from estimator noise (at a budget where the policy can only vote, it ties
majority exactly). Each point is a mean accuracy and a mean of actual calls.

The compute ratio at an adaptive point (accuracy A, mean calls C) is the fewest mean calls any
fixed strategy needs to reach A (linear interpolation between its measured points), divided by C.
When no fixed strategy reaches A within the pool's samples, the ratio is only known to exceed
(its largest calls) / C and is reported as a lower bound. Confidence intervals come from one
bootstrap over problems, resampling the adaptive and fixed per-problem values together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from langgraph_ttc.aggregators import get_aggregator, replayable
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.curve_estimates import bootstrap_ci, score_source
from langgraph_ttc.scaling.oracle import OracleCurves, equal_calls_rows, oracle_curve
from langgraph_ttc.scaling.replay import ReplayTable, replay_policy_outcome
from langgraph_ttc.scaling.samples import PoolSamples

__all__ = ["Comparison", "calls_to_reach", "compare_policy", "format_comparison"]


def __getattr__(name: str):
    # FIXED stays importable, read from the registry when asked (methods registered later
    # count) instead of frozen at import.
    if name == "FIXED":
        return replayable()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Comparison:
    """Everything ``langgraph-ttc compare`` prints, plots and saves: the fixed strategies'
    curves (over width), the policy's points, and for a policy on the thinking axis the
    curves over thinking budget (``thinking``; costs then in tokens, ``meta["unit"]``)."""

    problems: int
    fixed: dict[str, list[dict]] = field(default_factory=dict)
    adaptive: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    thinking: dict[str, list[dict]] = field(default_factory=dict)  # the thinking axis
    oracle: list[dict] = field(default_factory=list)  # the pool oracle against mean calls

    def to_dict(self) -> dict:
        return {
            "problems": self.problems,
            "fixed": self.fixed,
            "adaptive": self.adaptive,
            "meta": self.meta,
            "thinking": self.thinking,
            "oracle": self.oracle,
        }


def calls_to_reach(target: float, calls: np.ndarray, accuracy: np.ndarray) -> float:
    """Fewest calls at which a curve reaches ``target``, interpolating linearly between
    points; ``inf`` if it never does.

    Example:
        >>> calls_to_reach(0.5, np.array([1.0, 2.0, 4.0]), np.array([0.2, 0.4, 0.6]))
        3.0
        >>> calls_to_reach(0.9, np.array([1.0, 2.0]), np.array([0.2, 0.4]))
        inf
    """
    if accuracy[0] >= target:
        return float(calls[0])
    for j in range(1, len(calls)):
        if accuracy[j] >= target:
            gain = accuracy[j] - accuracy[j - 1]
            return float(
                calls[j - 1] + (target - accuracy[j - 1]) / gain * (calls[j] - calls[j - 1])
            )
    return math.inf


def calls_to_reach_each(targets: np.ndarray, calls: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """:func:`calls_to_reach` for many curves at once (row i: ``targets[i]`` on curve i).

    Example:
        >>> calls_to_reach_each(np.array([0.5, 0.9]), np.array([[1.0, 2.0, 4.0]] * 2),
        ...                     np.array([[0.2, 0.4, 0.6]] * 2)).tolist()
        [3.0, inf]
    """
    reached = accuracy >= targets[:, None]
    first = reached.argmax(axis=1)
    rows = np.arange(len(targets))
    before = np.maximum(first - 1, 0)
    gain = accuracy[rows, first] - accuracy[rows, before]
    step = np.where(
        gain > 0, (targets - accuracy[rows, before]) / np.where(gain > 0, gain, 1.0), 0.0
    )
    interpolated = calls[rows, before] + step * (calls[rows, first] - calls[rows, before])
    out = np.where(first == 0, calls[:, 0], interpolated)
    return np.where(reached.any(axis=1), out, np.inf)


def _fixed_needed(target: float, fixed_curves: Mapping[str, tuple]) -> tuple[float, str | None]:
    """Fewest calls over all fixed strategies to reach ``target`` (and which strategy)."""
    best, name = math.inf, None
    for strategy, (calls, accuracy) in fixed_curves.items():
        needed = calls_to_reach(target, calls, accuracy)
        if needed < best:
            best, name = needed, strategy
    return best, name


def compare_policy(
    pool: PoolSamples,
    policy: Policy,
    *,
    budgets: Sequence[int] | None = None,
    strategies: Sequence[str] | None = None,
    n_orders: int = 32,
    n_boot: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Replay ``policy`` and the fixed strategies on every problem of ``pool``.

    Example:
        >>> from langgraph_ttc.scaling.synthetic import synthetic_pool
        >>> pool = synthetic_pool({"easy": 3, "medium": 3}, k=8, critiques=False, scores=False)
        >>> result = compare_policy(pool, Policy(meta={"probes": 4}), budgets=[8], n_orders=2,
        ...                         n_boot=20)
        >>> list(result.fixed), result.adaptive[0]["budget"]
        (['majority'], 8)
    """
    if not pool.problems:
        raise TTCConfigError("No problems to compare on.")
    budgets = sorted(budgets or policy.meta.get("budgets") or [1, 2, 4, 8, 16])
    source = score_source(pool)
    # Every aggregator a pool can replay (default: all registered, plugins included); those
    # that call the model to aggregate are skipped, with the reason in meta["skipped"].
    strategies, skipped = replayable(strategies)
    strategies = [s for s in strategies if _available(pool, s, source)]
    ks = list(range(1, pool.n_min + 1))
    probes = int(policy.meta.get("probes", 4))
    table = ReplayTable(
        pool.problems,
        probes=probes,
        n_orders=n_orders,
        statistic=policy.statistic,
        score_source=source,
        seed=seed,
    )
    outcomes = {b: replay_policy_outcome(table, policy, b) for b in budgets}
    replays = {b: (o.correct, o.calls) for b, o in outcomes.items()}
    # fixed_runs[s] = (accuracy, calls), each of shape (problems, len(ks)): the strategy on
    # the first k samples of each replayed order (filter-vote's k counts generations).
    fixed_runs, fixed_tokens = {}, {}
    for strategy in strategies:
        prefix = table.prefix(strategy)
        fixed_runs[strategy] = (prefix.correct.mean(axis=1), prefix.calls.mean(axis=1))
        fixed_tokens[strategy] = _mean_tokens(prefix.tokens, len(ks))
    adaptive = adaptive_rows(replays, fixed_runs, n_boot=n_boot, seed=seed)
    equal = equal_calls_rows(replays, fixed_runs, n_boot=n_boot, seed=seed)
    for row, outcome, at_equal in zip(adaptive, outcomes.values(), equal, strict=True):
        counted = outcome.tokens[np.isfinite(outcome.tokens)]
        row["mean_tokens"] = _rounded(counted.mean() if counted.size else None)
        row.update({k: v for k, v in at_equal.items() if k != "budget"})
    curves = OracleCurves.from_runs(fixed_runs)
    grid = np.unique(
        np.concatenate([[r["mean_calls"] for r in adaptive], np.arange(1, len(ks) + 1)])
    )
    oracle = oracle_curve(curves, grid)
    fixed = {
        s: curve_rows(acc, calls, ks, n_boot=n_boot, seed=seed)
        for s, (acc, calls) in fixed_runs.items()
    }
    for strategy, rows in fixed.items():  # the tokens axis beside the calls
        for row, tokens in zip(rows, fixed_tokens[strategy], strict=True):
            row["mean_tokens"] = _rounded(tokens)
    meta = {
        "score_source": source,
        "probes": probes,
        "n_orders": n_orders,
        "n_boot": n_boot,
        "policy": {k: policy.meta.get(k) for k in ("model", "tasks", "fitted_at", "source")},
        "skipped": skipped,
        "oracle": "per question, the best fixed method and sample count from its own curves "
        "(upper concave hulls, greedy on gain per call) at the router's mean calls",
    }
    return Comparison(table.n_problems, fixed, adaptive, meta, oracle=oracle)


def adaptive_rows(
    replays: Mapping[int, tuple[np.ndarray, np.ndarray]],
    fixed_runs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_boot: int,
    seed: int,
    cost: str = "calls",
) -> list[dict]:
    """One row per budget: the policy's accuracy (with a bootstrap interval), its mean cost,
    and the compute ratio against the fixed curves (``fixed_runs[s]``: per-problem accuracy
    and cost, shape (problems, points), cost increasing along the points). ``cost`` names the
    unit (``"calls"``, or ``"tokens"``)."""
    n_problems = len(next(iter(replays.values()))[0])
    everyone = {s: (calls.mean(0), acc.mean(0)) for s, (acc, calls) in fixed_runs.items()}
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, n_problems, size=(n_boot, n_problems))
    # Every fixed curve under every resample at once: (resamples, points) per strategy.
    resampled = {
        s: (calls[resamples].mean(1), acc[resamples].mean(1))
        for s, (acc, calls) in fixed_runs.items()
    }
    largest = max(float(c[-1]) for c, _ in everyone.values())
    rows = []
    for budget, (accuracy, calls) in replays.items():
        needed, best = _fixed_needed(accuracy.mean(), everyone)
        targets = accuracy[resamples].mean(1)
        fewest = np.min([calls_to_reach_each(targets, c, a) for c, a in resampled.values()], axis=0)
        ratios = fewest / calls[resamples].mean(1)
        low, high = bootstrap_ci(accuracy[:, None], n_boot=n_boot, seed=seed)
        rows.append(
            {
                "budget": budget,
                "accuracy": round(float(accuracy.mean()), 4),
                "ci_low": round(float(low[0]), 4),
                "ci_high": round(float(high[0]), 4),
                f"mean_{cost}": round(float(calls.mean()), 3),
                "best_fixed": best,
                f"fixed_{cost}_needed": None if math.isinf(needed) else round(needed, 3),
                "compute_ratio": _ratio(needed, calls.mean()),
                "ratio_lower_bound": round(largest / calls.mean(), 3)
                if math.isinf(needed)
                else None,
                # Resamples where no fixed strategy catches up have ratio inf; no interpolating.
                "ratio_ci_low": _ratio(np.quantile(ratios, 0.025, method="lower"), 1.0),
                "ratio_ci_high": _ratio(np.quantile(ratios, 0.975, method="higher"), 1.0),
            }
        )
    return rows


def curve_rows(
    accuracy: np.ndarray,
    cost: np.ndarray,
    ks: Sequence[int],
    *,
    n_boot: int,
    seed: int,
    key: str = "k",
    cost_name: str = "calls",
) -> list[dict]:
    """The points of one fixed curve: per-problem ``accuracy`` and ``cost`` of shape
    (problems, points), one point per entry of ``ks`` (named ``key``)."""
    lows, highs = bootstrap_ci(accuracy, n_boot=n_boot, seed=seed)
    return [
        {
            key: k,
            f"mean_{cost_name}": round(float(cost[:, j].mean()), 3),
            "accuracy": round(float(accuracy[:, j].mean()), 4),
            "ci_low": round(float(lows[j]), 4),
            "ci_high": round(float(highs[j]), 4),
        }
        for j, k in enumerate(ks)
    ]


def _available(pool: PoolSamples, strategy: str, source: str) -> bool:
    """Whether the pool holds what ``strategy``'s aggregator needs."""
    needs = get_aggregator(strategy).needs
    if "confidences" in needs:
        return pool.all_have("confidences")
    if "verdicts" in needs or ("scores" in needs and source == "critique"):
        return pool.all_have("verdicts")
    return "scores" not in needs or pool.all_have("verifier_scores")


def _mean_tokens(tokens: np.ndarray | None, points: int) -> list[float | None]:
    """Mean generated tokens per point of a prefix outcome (problems, orders, points)."""
    if tokens is None:
        return [None] * points
    return [float(v) for v in tokens.mean(axis=(0, 1))[:points]]


def _rounded(value: float | None) -> float | None:
    """Tokens for a table: one decimal; ``None`` where the pool counted none."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 1)


def _ratio(needed: float, calls: float) -> float | None:
    if not math.isfinite(needed) or calls <= 0:
        return None
    return round(float(needed / calls), 3)


def format_comparison(result: Comparison) -> str:
    """Accuracy at equal calls (router, best uniform method, oracle, share of the oracle's
    gain), then the compute-ratio table, one row per adaptive budget (in calls, or in tokens
    for a policy on the thinking axis)."""
    cost = result.meta.get("unit", "calls")
    lines = [
        f"{result.problems} held-out problems; fixed strategies: {', '.join(result.fixed)}",
        *(
            f"not replayed: {name}: {why}"
            for name, why in (result.meta.get("skipped") or {}).items()
        ),
    ]
    if result.adaptive and "oracle_accuracy" in result.adaptive[0]:
        lines += format_equal_calls(result.adaptive)
    lines += [
        f"budget  adaptive acc [95% CI]  {cost:>6}  {'gen tok' if cost == 'calls' else '':>7}"
        f"   best fixed          {cost} needed  ratio [95% CI]",
    ]
    for row in result.adaptive:
        if row["compute_ratio"] is None:
            needed, ratio = "not reached", f"> {row['ratio_lower_bound']}"
        else:
            needed, ratio = f"{row[f'fixed_{cost}_needed']:.2f}", f"{row['compute_ratio']:.2f}"
        high = "inf" if row["ratio_ci_high"] is None else f"{row['ratio_ci_high']:.2f}"
        low = "inf" if row["ratio_ci_low"] is None else f"{row['ratio_ci_low']:.2f}"
        tokens = row.get("mean_tokens") if cost == "calls" else ""  # else it is the cost
        tokens = "-" if tokens is None else tokens if tokens == "" else f"{tokens:.0f}"
        lines.append(
            f"{row['budget']:>6}  {row['accuracy']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            f"  {row[f'mean_{cost}']:>6.2f}  {tokens:>7}   {str(row['best_fixed'] or '-'):<18}"
            f"  {needed:>12}  {ratio} [{low}, {high}]"
        )
    if cost == "calls":  # curves count prompt + completion tokens; here only generated ones
        lines.append("gen tok: mean generated (completion, thinking included) tokens per question")
    return "\n".join(lines)


def _ci(pair) -> str:
    low, high = pair if pair else (None, None)
    if low is None:
        return "[-]"
    return f"[{low:+.3f}, {high:+.3f}]" if low < 0 or high < 0 else f"[{low:.3f}, {high:.3f}]"


def format_equal_calls(rows: Sequence[dict]) -> list[str]:
    """The lead table: at the router's mean calls, its accuracy, the best fixed method used
    uniformly, the oracle, and the share of the oracle's gain the router captures.

    Example:
        >>> row = {"budget": 8, "router_calls": 5.0, "router_accuracy": 0.6,
        ...        "router_ci": (0.5, 0.7), "best_uniform": "majority",
        ...        "best_uniform_accuracy": 0.55, "gain_over_uniform": 0.05,
        ...        "gain_over_uniform_ci": (0.0, 0.1), "oracle_accuracy": 0.7,
        ...        "oracle_share": 0.333, "oracle_share_ci": (0.0, 0.6)}
        >>> print(format_equal_calls([row])[2].split()[:4])
        ['8', '5.00', '0.600', '[0.500,']
    """
    lines = [
        "at equal calls (uniform = one fixed method on every question, interpolated at the "
        "router's mean calls; oracle = each question's best method and count):",
        "budget   calls  router [95% CI]        best uniform              router-uniform "
        "[95% CI]    oracle  share of oracle gain [95% CI]",
    ]
    for row in rows:
        uniform, share = row.get("best_uniform_accuracy"), row.get("oracle_share")
        gain = row.get("gain_over_uniform")
        uniform = "-" if uniform is None else f"{uniform:.3f}"
        gain = "-" if gain is None else f"{gain:+.3f}"
        share = "-" if share is None else f"{share:.2f}"
        lines.append(
            f"{row['budget']:>6}  {row['router_calls']:>6.2f}  {row['router_accuracy']:.3f} "
            f"{_ci(row.get('router_ci')):<16}  {uniform} {str(row.get('best_uniform')):<19}"
            f"  {gain} {_ci(row.get('gain_over_uniform_ci')):<18}  {row['oracle_accuracy']:.3f}"
            f"  {share} {_ci(row.get('oracle_share_ci'))}"
        )
    lines.append("compute ratio (calls the best fixed method needs to match the router):")
    return lines


def write_comparison(result: Comparison, out_dir: str | Path, *, plot: bool = True) -> None:
    """``compare.json`` and (with matplotlib) ``compare.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result.to_dict(), indent=2))
    if plot:
        from langgraph_ttc.scaling.plots import plot_comparison

        plot_comparison(result, out / "compare.png")
