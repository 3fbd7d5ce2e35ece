"""Dataset-level curves: accuracy vs calls per strategy, with bootstrap confidence intervals.

For each strategy and each k (generations per problem) we compute the per-problem estimate
(:mod:`~langgraph_ttc.scaling.estimators`), average over problems, and put a percentile bootstrap
interval over problems around the mean (``n_boot`` resamples of the problem set, seeded). The
interval covers the variability from which problems were drawn; it does not add the per-problem
sampling noise of a finite pool (the exact estimators have none of their own; the Monte Carlo one
adds at most ``0.5/sqrt(n_sub)`` per problem, which the bootstrap partly absorbs).

Costs (the x axis) are the mean ACTUAL calls and tokens per problem (and, for a reasoning model,
the samples' thinking tokens among them): k times the pool's mean per generated sample, plus the strategy's extra calls per sample: one filter call per ANSWERED
sample for filter-vote (Chen et al. 2024: a budget of K calls is K/2 generations + K/2 filter
calls; a sample with no answer cannot be kept, so it is not judged, as in the critique node),
the same filter call for best-of-N when the scores are critique verdicts, the verifier's calls
otherwise. Coverage uses the oracle and costs only its generations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from langgraph_ttc.aggregators import AGGREGATORS, get_aggregator, replayable
from langgraph_ttc.aggregators.sampling import DEFAULT_SUBSAMPLES
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling.estimators import pass_at_k
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples

__all__ = [
    "STRATEGY_NAMES",  # noqa: F822 (computed when read, see __getattr__)
    "CurvePoint",
    "curve_names",
    "CurveSet",
    "bootstrap_ci",
    "default_ks",
    "estimate_curves",
    "score_source",
]


def curve_names() -> tuple[str, ...]:
    """Coverage (pass@k, the oracle) and every registered aggregator a pool can replay, read
    from the registry when called (methods registered later count; those that call the model
    to aggregate are run live instead, see :func:`~langgraph_ttc.aggregators.replayable`).

    Example:
        >>> names = curve_names()
        >>> names[:2], "genselect" in names
        (('coverage', 'majority'), False)
    """
    return ("coverage", *replayable()[0])


def __getattr__(name: str):
    # STRATEGY_NAMES stays importable, computed when read rather than frozen at import.
    if name == "STRATEGY_NAMES":
        return curve_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_ks(k_max: int, per_octave: int = 2) -> list[int]:
    """Log-spaced sample counts 1..k_max (always including both ends).

    Example:
        >>> default_ks(16)
        [1, 2, 3, 4, 6, 8, 11, 16]
    """
    if k_max < 1:
        raise TTCConfigError(f"k_max must be >= 1; got {k_max}.")
    steps = int(np.ceil(np.log2(k_max) * per_octave)) + 1 if k_max > 1 else 1
    grid = np.rint(np.logspace(0, np.log2(k_max), steps, base=2)).astype(int)
    return sorted(set(grid.tolist()) | {1, k_max})


def score_source(pool: PoolSamples) -> str:
    """Which per-sample score best-of-N uses: ``"verifier"`` if the pool has verifier scores,
    else ``"critique"`` (the filter verdict, 1.0 ``[[correct]]`` / 0.0 ``[[wrong]]``).

    Example:
        >>> score_source(PoolSamples())
        'critique'
    """
    for problem in pool.problems:
        if np.isfinite(problem.verifier_scores).any():
            return "verifier"
    return "critique"


@dataclass(frozen=True)
class CurvePoint:
    """One point of a curve: a strategy at k generations per problem (optionally one bin).

    Example:
        >>> CurvePoint("majority", 4, 4.0, 120.0, 0.5, 0.3, 0.7, "exact", 10).to_dict()["k"]
        4
    """

    strategy: str
    k: int
    mean_calls: float
    mean_tokens: float
    accuracy: float
    ci_low: float
    ci_high: float
    method: str
    n_problems: int
    bin: str = "all"
    mean_thinking_tokens: float = 0.0  # of the samples' tokens, those a reasoning model thought

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class CurveSet:
    """Curves of several strategies over the same ks, with the per-problem estimates behind them.

    ``per_problem[strategy]`` has shape (problems, len(ks)); rows follow ``problem_ids``.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> pool = PoolSamples({}, (ProblemSamples.from_lists("q", ["4", "5"], [1, 0]),))
        >>> estimate_curves(pool, ["majority"], [1, 2]).per_problem["majority"].shape
        (1, 2)
    """

    ks: tuple[int, ...]
    problem_ids: tuple[str, ...]
    points: Mapping[str, tuple[CurvePoint, ...]] = field(default_factory=dict)
    per_problem: Mapping[str, np.ndarray] = field(default_factory=dict)
    score_source: str = "critique"

    def accuracy(self, strategy: str) -> np.ndarray:
        return np.array([p.accuracy for p in self.points[strategy]])

    def for_bins(self, bins: Mapping[str, int], *, n_boot: int = 1000, seed: int = 0) -> list:
        """Points recomputed per difficulty bin (``bins`` maps problem id to bin number)."""
        out: list[CurvePoint] = []
        for bin_id in sorted(set(bins.values())):
            rows = np.array([bins.get(pid) == bin_id for pid in self.problem_ids])
            for strategy, matrix in self.per_problem.items():
                lows, highs = bootstrap_ci(matrix[rows], n_boot=n_boot, seed=seed)
                for j, point in enumerate(self.points[strategy]):
                    out.append(
                        CurvePoint(
                            strategy,
                            point.k,
                            point.mean_calls,
                            point.mean_tokens,
                            float(matrix[rows, j].mean()),
                            float(lows[j]),
                            float(highs[j]),
                            point.method,
                            int(rows.sum()),
                            bin=str(bin_id),
                            mean_thinking_tokens=point.mean_thinking_tokens,
                        )
                    )
        return out


def bootstrap_ci(
    matrix: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of the column means of ``matrix`` (rows = problems).

    Example:
        >>> low, high = bootstrap_ci(np.array([[0.0], [1.0], [1.0], [0.0]]), seed=1)
        >>> bool(low[0] < 0.5 < high[0])
        True
    """
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    rows = matrix.shape[0]
    if rows == 0:
        nan = np.full(matrix.shape[1], np.nan)
        return nan, nan
    if rows == 1 or n_boot < 1:
        return matrix.mean(axis=0), matrix.mean(axis=0)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, rows, size=(n_boot, rows))
    means = matrix[picks].mean(axis=1)  # (n_boot, columns)
    alpha = (1 - level) / 2
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def _scores(problem: ProblemSamples, source: str) -> np.ndarray:
    return problem.verifier_scores if source == "verifier" else problem.verdicts


def _per_sample_cost(problem: ProblemSamples, strategy: str, source: str) -> tuple[float, float]:
    """Mean (calls, tokens) per generated sample for ``strategy`` on this problem."""
    if problem.n == 0:
        return 0.0, 0.0
    calls = np.ones(problem.n)
    tokens = problem.generate_tokens.copy()
    needs = frozenset() if strategy == "coverage" else get_aggregator(strategy).needs
    if "verdicts" in needs or ("scores" in needs and source == "critique"):
        calls = calls + problem.critique_calls
        tokens = tokens + problem.critique_tokens
    elif "scores" in needs:
        calls = calls + problem.verify_calls
        tokens = tokens + problem.verify_tokens
    return float(calls.mean()), float(tokens.mean())


def _estimator(strategy: str, source: str, rng: np.random.Generator, n_sub: int) -> Callable:
    if strategy == "coverage":
        return lambda p, k: pass_at_k(p.n, int((p.correct >= 0.5).sum()), k)
    if strategy not in curve_names():
        raise TTCConfigError(
            f"Unknown strategy {strategy!r} for curves from a pool; choose from "
            f"{', '.join(curve_names())}."
        )
    aggregator = get_aggregator(strategy)

    def estimate(problem: ProblemSamples, k: int) -> float:
        return aggregator.at_k(
            problem.answers,
            problem.correct,
            k,
            scores=_scores(problem, source),
            verdicts=problem.verdicts,
            rng=rng,
            n_sub=n_sub,
        )

    return estimate


def estimate_curves(
    pool: PoolSamples,
    strategies: Sequence[str] = ("coverage", "majority"),
    ks: Sequence[int] | None = None,
    *,
    n_boot: int = 1000,
    n_sub: int = DEFAULT_SUBSAMPLES,
    seed: int = 0,
    source: str | None = None,
) -> CurveSet:
    """Estimate every strategy at every k from one pool.

    Args:
        pool: the samples (see :func:`~langgraph_ttc.scaling.pool.load_pool`).
        strategies: names from :func:`curve_names`.
        ks: generations per problem (default :func:`default_ks` up to the smallest pool);
            ks above the smallest problem's sample count are dropped with the others kept.
        n_boot: bootstrap resamples for the intervals.
        n_sub: Monte Carlo subsets per problem and k (weighted best-of-N only).
        seed: seeds the bootstrap and the Monte Carlo subsets.
        source: ``"critique"`` or ``"verifier"`` scores for best-of-N (default: auto).

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> pool = PoolSamples({}, (ProblemSamples.from_lists("q", ["4", "5"], [1, 0]),))
        >>> curves = estimate_curves(pool, ["coverage"], [1, 2])
        >>> curves.accuracy("coverage").tolist()
        [0.5, 1.0]
    """
    if not pool.problems:
        raise TTCConfigError("The pool has no problems; build it first (build_pool).")
    n_min = pool.n_min
    if n_min < 1:
        raise TTCConfigError("Some problem has no samples yet; resume the pool build first.")
    ks = sorted({int(k) for k in (ks or default_ks(n_min)) if 1 <= int(k) <= n_min})
    if not ks:
        raise TTCConfigError(
            f"No k to estimate: every problem has at least {n_min} samples, so ask for k <= "
            f"{n_min} or build the pool with a larger k_max."
        )
    source = source or score_source(pool)
    lacking = [
        s
        for s in strategies
        if s in AGGREGATORS
        and "confidences" in get_aggregator(s).needs
        and not pool.all_have("confidences")
    ]
    if lacking:
        raise TTCConfigError(
            f"{', '.join(lacking)} vote by the samples' confidence, and this pool stores none: "
            "build it with log-probabilities (`langgraph-ttc curves --confidence`)."
        )
    rng = np.random.default_rng(seed)
    points: dict[str, tuple[CurvePoint, ...]] = {}
    per_problem: dict[str, np.ndarray] = {}
    for strategy in strategies:
        estimate = _estimator(strategy, source, rng, n_sub)
        matrix = np.array([[estimate(p, k) for k in ks] for p in pool.problems])
        costs = np.array([_per_sample_cost(p, strategy, source) for p in pool.problems])
        calls_per, tokens_per = costs.mean(axis=0)
        thinking_per = float(np.mean([np.mean(p.thinking_tokens) for p in pool.problems]))
        lows, highs = bootstrap_ci(matrix, n_boot=n_boot, seed=seed)
        exact = strategy == "coverage" or get_aggregator(strategy).estimate == "exact"
        method = "exact" if exact else f"monte_carlo({n_sub})"
        points[strategy] = tuple(
            CurvePoint(
                strategy,
                k,
                float(k * calls_per),
                float(k * tokens_per),
                float(matrix[:, j].mean()),
                float(lows[j]),
                float(highs[j]),
                method,
                len(pool.problems),
                mean_thinking_tokens=float(k * thinking_per),
            )
            for j, k in enumerate(ks)
        )
        per_problem[strategy] = matrix
    return CurveSet(tuple(ks), tuple(pool.problem_ids), points, per_problem, source)
