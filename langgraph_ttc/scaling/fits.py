"""Fitted scaling laws: coverage power law (Brown et al.), vote scaling model (Chen et al.).

- Brown et al. 2024 ("Large Language Monkeys", sec. 3): coverage c(k) ~= exp(a k^b) with a < 0 and
  b < 0 (log-coverage rises towards 0), fitted with ``scipy.optimize.curve_fit`` on about 40
  log-spaced k. We report the fit error (RMSE, mean and max absolute error in coverage units), a
  held-out check (fit on k <= K/4, predict c(K)) and extrapolations to larger k with a 95% band.
  The band comes from refitting on bootstrap resamples of the problems when per-problem coverage
  is given (it then includes which problems were drawn), else from sampling (a, b) from the fit's
  covariance. Coverage values at different k share samples, so the covariance band is optimistic.
- Uncertainty of a and b: 95% percentile intervals (``a_ci``, ``b_ci``) from the same bootstrap
  refits over problems. curve_fit's ``pcov`` standard errors are not reported: they treat the k
  points as independent, but every k is computed from the same samples, so on real coverage
  curves their 95% intervals covered the truth in only 7-21% of simulated runs (issue 13).
- Chen et al. 2024 (sec. 4): see :mod:`~langgraph_ttc.scaling.vote_model`.
- Chen et al. 2024 (Theorem 2): the two-level closed form for the optimal number of votes.

Degenerate data (every coverage 1, every coverage 0, fewer than 3 distinct k) give a result with
a ``status`` other than ``"ok"`` and a ``message``, never an exception.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from langgraph_ttc.extras import require

logger = logging.getLogger(__name__)

__all__ = [
    "PowerLawFit",
    "TwoLevelOptimum",
    "fit_power_law",
    "log_spaced_ks",
    "power_law",
    "two_level_optimal_k",
]

MIN_POINTS = 3
EPS = 1e-9


def power_law(k: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """c(k) = exp(a * k**b) (Brown et al. 2024).

    Example:
        >>> float(power_law(1, -0.5, -0.3)) == math.exp(-0.5)
        True
    """
    return np.exp(a * np.power(np.asarray(k, dtype=float), b))


def log_spaced_ks(k_max: int, n_points: int = 40) -> list[int]:
    """About ``n_points`` distinct integers from 1 to ``k_max``, evenly spaced in log k.

    Example:
        >>> log_spaced_ks(8, 40)
        [1, 2, 3, 4, 5, 6, 7, 8]
    """
    if k_max < 1:
        return []
    grid = np.rint(np.logspace(0, np.log10(k_max), n_points)).astype(int)
    return sorted(set(grid.tolist()) | {1, k_max})


@dataclass(frozen=True)
class PowerLawFit:
    """The fitted law, its error on the fitted points, a held-out check and extrapolations.

    ``extrapolation`` rows are dicts ``{"k", "coverage", "low", "high"}``; ``status`` is
    ``"ok"``, ``"all_correct"``, ``"all_wrong"``, ``"too_few_points"`` or ``"failed"``.
    ``a_ci`` and ``b_ci`` are 95% bootstrap-over-problems intervals (NaN without per-problem
    coverage; ``ci_method`` says which).

    Example:
        >>> fit_power_law([1, 2, 4], [1.0, 1.0, 1.0]).predict(1000).item()
        1.0
    """

    status: str
    a: float = float("nan")
    b: float = float("nan")
    a_ci: tuple[float, float] = (float("nan"), float("nan"))
    b_ci: tuple[float, float] = (float("nan"), float("nan"))
    ci_method: str = ""
    ks: tuple[int, ...] = ()
    observed: tuple[float, ...] = ()
    fitted: tuple[float, ...] = ()
    rmse: float = float("nan")
    mae: float = float("nan")
    max_abs_error: float = float("nan")
    holdout: dict = field(default_factory=dict)
    extrapolation: tuple[dict, ...] = ()
    band_method: str = ""
    message: str = ""

    def predict(self, k: np.ndarray | float) -> np.ndarray:
        """Coverage at k under the fit (1 for an all-correct pool, 0 for all-wrong)."""
        if self.status == "all_correct":
            return np.ones_like(np.asarray(k, dtype=float))
        if self.status == "all_wrong":
            return np.zeros_like(np.asarray(k, dtype=float))
        return power_law(k, self.a, self.b)

    def to_dict(self) -> dict:
        return asdict(self)


def _jacobian(k: np.ndarray, a: float, b: float) -> np.ndarray:
    power = np.power(k, b)
    value = np.exp(a * power)
    return np.stack([value * power, value * a * power * np.log(k)], axis=1)


def _fit(ks: np.ndarray, coverage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a0 = min(math.log(max(float(coverage[0]), 1e-4)), -1e-3)
    optimize = require("scipy.optimize", "eval", "fitting the coverage law")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        popt, pcov = optimize.curve_fit(
            power_law,
            ks,
            coverage,
            p0=(a0, -0.5),
            bounds=([-50.0, -10.0], [0.0, 0.0]),
            jac=_jacobian,
        )
    return popt, pcov


def fit_power_law(
    ks: Sequence[int],
    coverage: Sequence[float],
    *,
    per_problem: np.ndarray | None = None,
    extrapolate_to: Sequence[int] = (),
    n_boot: int = 200,
    seed: int = 0,
) -> PowerLawFit:
    """Fit c(k) = exp(a k^b) to coverage at ``ks``; extrapolate with an uncertainty band.

    Args:
        ks: sample counts (ideally ~40 log-spaced, see :func:`log_spaced_ks`).
        coverage: the dataset's coverage (pass@k) at each k.
        per_problem: optional (problems, len(ks)) pass@k matrix; enables the bootstrap band
            and the intervals for a and b.
        extrapolate_to: larger k to predict.
        n_boot: bootstrap refits (or covariance draws) for the band and intervals.
        seed: seeds the band.

    Example:
        >>> ks = np.arange(1, 41)
        >>> fit = fit_power_law(ks, np.exp(-2.0 * ks ** -0.4))
        >>> fit.status, round(fit.a, 3), round(fit.b, 3)
        ('ok', -2.0, -0.4)
        >>> fit.ci_method  # a and b get intervals only from per-problem coverage
        'none (needs per-problem coverage for the bootstrap over problems)'
    """
    ks_arr = np.asarray(ks, dtype=float)
    cov_arr = np.clip(np.asarray(coverage, dtype=float), 0.0, 1.0)
    base = {"ks": tuple(int(k) for k in ks_arr), "observed": tuple(cov_arr.tolist())}
    if len(np.unique(ks_arr)) < MIN_POINTS:
        return PowerLawFit(
            "too_few_points",
            **base,
            message=f"Need coverage at >= {MIN_POINTS} distinct k; got {len(np.unique(ks_arr))}. "
            "Build a pool with a larger k_max.",
        )
    if (cov_arr >= 1 - EPS).all():
        return PowerLawFit(
            "all_correct", a=0.0, **base, message="Coverage is 1 at every k: nothing to fit."
        )
    if (cov_arr <= EPS).all():
        return PowerLawFit(
            "all_wrong",
            **base,
            message="No sample is correct on any problem: coverage is 0, the law is undefined.",
        )
    try:
        popt, pcov = _fit(ks_arr, cov_arr)
    except (RuntimeError, ValueError) as error:
        return PowerLawFit("failed", **base, message=f"curve_fit did not converge: {error}")
    a, b = (float(x) for x in popt)
    fitted = power_law(ks_arr, a, b)
    residual = fitted - cov_arr
    extra_ks = np.asarray(sorted(set(int(k) for k in extrapolate_to)), dtype=float)
    rng = np.random.default_rng(seed)
    refits = None
    if per_problem is not None and np.asarray(per_problem).shape[0] > 1:
        refits = _bootstrap_refits(ks_arr, np.asarray(per_problem, dtype=float), n_boot, rng)
    a_ci, b_ci, ci_method = _intervals(refits, n_boot)
    lows, highs, method = _band(popt, pcov, refits, extra_ks, n_boot=n_boot, rng=rng)
    return PowerLawFit(
        "ok",
        a=a,
        b=b,
        a_ci=a_ci,
        b_ci=b_ci,
        ci_method=ci_method,
        **base,
        fitted=tuple(fitted.tolist()),
        rmse=float(np.sqrt(np.mean(residual**2))),
        mae=float(np.mean(np.abs(residual))),
        max_abs_error=float(np.max(np.abs(residual))),
        holdout=_holdout(ks_arr, cov_arr),
        extrapolation=tuple(
            {"k": int(k), "coverage": float(power_law(k, a, b)), "low": lo, "high": hi}
            for k, lo, hi in zip(extra_ks, lows, highs, strict=False)
        ),
        band_method=method,
    )


def _holdout(ks: np.ndarray, coverage: np.ndarray) -> dict:
    """Fit on k <= K/4 and compare the prediction with the observed coverage at K = max k."""
    k_top = float(ks.max())
    train = ks <= k_top / 4
    if len(np.unique(ks[train])) < MIN_POINTS or (coverage[train] <= EPS).all():
        return {}
    if (coverage[train] >= 1 - EPS).all():
        return {}
    try:
        popt, _ = _fit(ks[train], coverage[train])
    except (RuntimeError, ValueError):
        return {}
    predicted = float(power_law(k_top, *popt))
    observed = float(coverage[ks == k_top][-1])
    return {
        "fit_k_max": int(ks[train].max()),
        "k": int(k_top),
        "predicted": predicted,
        "observed": observed,
        "abs_error": abs(predicted - observed),
    }


def _bootstrap_refits(ks, matrix, n_boot, rng) -> np.ndarray:
    """Refit on ``n_boot`` resamples of the problems (rows of ``matrix``, with replacement).

    Rows are (a, b, flat): a refit gives (a, b, NaN); a resample whose coverage is 0 or 1 at
    every k has no law and gives (NaN, NaN, that coverage); a refit that fails is left out.
    """
    rows = []
    for _ in range(n_boot):
        resampled = matrix[rng.integers(0, matrix.shape[0], matrix.shape[0])].mean(axis=0)
        if (resampled <= EPS).all() or (resampled >= 1 - EPS).all():
            rows.append((np.nan, np.nan, float(resampled[-1])))
            continue
        try:
            a, b = _fit(ks, resampled)[0]
        except (RuntimeError, ValueError):
            continue
        rows.append((float(a), float(b), np.nan))
    return np.array(rows, dtype=float).reshape(-1, 3)


def _intervals(refits, n_boot) -> tuple[tuple[float, float], tuple[float, float], str]:
    """95% percentile intervals of a and b over the bootstrap refits that have a law."""
    nan = (float("nan"), float("nan"))
    if refits is None:
        return nan, nan, "none (needs per-problem coverage for the bootstrap over problems)"
    fitted = refits[np.isfinite(refits[:, 0])]
    if len(fitted) == 0:
        return nan, nan, f"bootstrap over problems ({n_boot} resamples, none fitted)"
    a_ci, b_ci = (
        tuple(float(q) for q in np.quantile(fitted[:, j], [0.025, 0.975])) for j in (0, 1)
    )
    return a_ci, b_ci, f"bootstrap over problems ({len(fitted)} of {n_boot} resamples fitted)"


def _band(popt, pcov, refits, extra_ks, *, n_boot, rng):
    if extra_ks.size == 0:
        return [], [], ""
    draws = []
    if refits is not None:
        method = f"bootstrap over problems ({n_boot} refits)"
        for a, b, flat in refits:
            if np.isfinite(flat):
                draws.append(np.full(extra_ks.size, flat))
            else:
                draws.append(power_law(extra_ks, a, b))
    elif np.isfinite(pcov).all():
        method = f"parameter covariance ({n_boot} draws; ignores correlation between ks)"
        for a, b in rng.multivariate_normal(popt, pcov, size=n_boot):
            draws.append(power_law(extra_ks, min(a, 0.0), min(b, 0.0)))
    else:
        nan = [float("nan")] * extra_ks.size
        return nan, nan, "none (covariance not finite)"
    if not draws:
        nan = [float("nan")] * extra_ks.size
        return nan, nan, method
    stacked = np.vstack(draws)
    return (
        np.quantile(stacked, 0.025, axis=0).tolist(),
        np.quantile(stacked, 0.975, axis=0).tolist(),
        method,
    )


@dataclass(frozen=True)
class TwoLevelOptimum:
    """The optimal number of votes for a two-level binary-answer dataset.

    ``regime``: ``"interior"`` (accuracy rises then falls; the best K is ``k_odd``),
    ``"increasing"`` (more calls always help: K = inf), ``"decreasing"`` (one call is best).

    Example:
        >>> two_level_optimal_k(0.6, 0.85, 0.35).regime
        'interior'
    """

    k_star: float
    k_odd: float
    regime: str


def two_level_optimal_k(alpha: float, p1: float, p2: float) -> TwoLevelOptimum:
    """Chen et al. 2024 closed form for the best K with a fraction ``alpha`` of easy queries.

    Easy queries are answered right with p1 > 1/2, hard ones with p2 < 1/2 (binary answers).
    K* = 2 ln[(alpha/(1-alpha)) (2p1-1)/(1-2p2)] / ln[p2(1-p2) / (p1(1-p1))], rounded to an
    odd K. It is a maximum when hard queries' error decays slower (p2(1-p2) > p1(1-p1));
    otherwise accuracy eventually rises for ever (or falls from K = 1).

    Example:
        >>> two_level_optimal_k(0.6, 0.85, 0.35).k_odd
        5
    """
    if not (0 < alpha < 1 and 0.5 < p1 < 1 and 0 < p2 < 0.5):
        raise ValueError(f"need 0 < alpha < 1, 1/2 < p1 < 1, 0 < p2 < 1/2; got {alpha, p1, p2}")
    num = math.log((alpha / (1 - alpha)) * (2 * p1 - 1) / (1 - 2 * p2))
    den = math.log(p2 * (1 - p2) / (p1 * (1 - p1)))
    if den == 0:
        return TwoLevelOptimum(math.inf if num > 0 else 1.0, math.inf if num > 0 else 1, "flat")
    k_star = 2 * num / den
    if den > 0:  # a maximum at K*, if K* > 1
        if k_star <= 1:
            return TwoLevelOptimum(k_star, 1, "decreasing")
        return TwoLevelOptimum(k_star, 2 * round((k_star - 1) / 2) + 1, "interior")
    # den < 0: a minimum at K*; accuracy tends to alpha as K grows.
    if k_star <= 1 or alpha >= alpha * p1 + (1 - alpha) * p2:
        return TwoLevelOptimum(k_star, math.inf, "increasing")
    return TwoLevelOptimum(k_star, 1, "decreasing")
