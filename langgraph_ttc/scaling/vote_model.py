"""Chen et al. 2024 (sec. 4) scaling model of Vote, fitted from a sample pool.

Per query x, accuracy of Vote with K calls is modelled as
    easy (d(x) < 0):  G(K) = 1 - exp(-a1 K - a2 sqrt(K) - a3)
    hard (otherwise): G(K) =     exp(-a1 K - a2 sqrt(K) - a3)
with a1, a2 >= 1e-6, fitted by bounded least squares (``scipy.optimize.least_squares``: the paper's
squared-error objective; faster and steadier here than ``minimize``'s L-BFGS-B) to the query's
accuracy at K in {2, 5, 10, 20, 50, 100} up to the pool size. The paper simulates those accuracies
by resampling the query's answer pool; we use the exact expectation of that resampling
(:func:`~langgraph_ttc.scaling.estimators.majority_at_k`), i.e. infinitely many resamples. When the
pool is too small for 3 of the paper's K, every k from ``default_ks`` in [2, n] is used instead.

The dataset curve is the mean of the per-query G; the predicted optimal K is its argmax over
1..``k_pred_max`` (the stored curve keeps 60 log-spaced K of it). A curve that only saturates
has its argmax far out on a flat top, so ``plateau_k`` also reports the smallest K within half a
point (0.005) of the best accuracy: the budget worth paying for. A held-out check fits on K <= n/2 and compares the predicted dataset accuracy
with the observed majority@K at the larger K.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import least_squares

from langgraph_ttc.scaling.curve_estimates import default_ks
from langgraph_ttc.scaling.difficulty import chen_difficulty
from langgraph_ttc.scaling.estimators import majority_at_k
from langgraph_ttc.scaling.fits import log_spaced_ks
from langgraph_ttc.scaling.samples import PoolSamples

__all__ = ["PAPER_KS", "VoteModelFit", "fit_query", "fit_vote_model", "vote_curve"]

PAPER_KS: tuple[int, ...] = (2, 5, 10, 20, 50, 100)
A_MIN = 1e-6
PLATEAU_TOLERANCE = 0.005
BOUNDS = [(A_MIN, 10.0), (A_MIN, 10.0), (-30.0, 30.0)]


def vote_curve(k: np.ndarray | float, params: Sequence[float], kind: str) -> np.ndarray:
    """G(K) for one query (``kind`` is ``"easy"`` or ``"hard"``).

    Example:
        >>> round(float(vote_curve(4, (0.1, 0.2, 0.0), "easy")), 4)
        0.5507
    """
    k = np.asarray(k, dtype=float)
    a1, a2, a3 = params
    decay = np.exp(-np.clip(a1 * k + a2 * np.sqrt(k) + a3, -700, 700))
    return 1.0 - decay if kind == "easy" else decay


def fit_query(ks: Sequence[int], accuracies: Sequence[float], kind: str) -> tuple[float, ...]:
    """Least-squares (a1, a2, a3) for one query; a few starting points, the best one kept.

    Example:
        >>> ks = np.array([2, 5, 10, 20, 50])
        >>> params = fit_query(ks, vote_curve(ks, (0.05, 0.1, 0.2), "easy"), "easy")
        >>> bool(np.allclose(vote_curve(ks, params, "easy"), vote_curve(ks, (0.05, 0.1, 0.2), "easy"), atol=1e-3))
        True
    """
    ks_arr = np.asarray(ks, dtype=float)
    acc = np.asarray(accuracies, dtype=float)

    features = np.stack([ks_arr, np.sqrt(ks_arr), np.ones_like(ks_arr)], axis=1)
    sign = 1.0 if kind == "easy" else -1.0  # dG/dparams = sign * exp(-exponent) * features

    def residuals(params):
        decay = np.exp(-np.clip(features @ params, -700, 700))
        return (1.0 - decay if kind == "easy" else decay) - acc

    def jacobian(params):
        decay = np.exp(-np.clip(features @ params, -700, 700))
        return sign * decay[:, None] * features

    low, high = zip(*BOUNDS, strict=False)
    best = None
    for start in ((0.01, 0.1, 0.0), (A_MIN * 10, A_MIN * 10, 2.0), (0.1, 0.5, -1.0)):
        result = least_squares(residuals, np.array(start), jac=jacobian, bounds=(low, high))
        if best is None or result.cost < best.cost:
            best = result
    return tuple(float(x) for x in best.x)


@dataclass(frozen=True)
class VoteModelFit:
    """The fitted model: per-query parameters, the dataset curve, optimal K, held-out check.

    Example:
        >>> fit = VoteModelFit("ok", kinds={"q": "easy"}, params={"q": (0.1, 0.2, 0.0)})
        >>> round(float(fit.predict(4)), 4)
        0.5507
    """

    status: str
    fit_ks: tuple[int, ...] = ()
    kinds: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    rmse: float = float("nan")
    optimal_k: int | None = None
    optimal_accuracy: float = float("nan")
    plateau_k: int | None = None
    curve_ks: tuple[int, ...] = ()
    curve: tuple[float, ...] = ()
    holdout: tuple[dict, ...] = ()
    message: str = ""

    def predict(self, k: np.ndarray | float) -> np.ndarray:
        """Dataset accuracy of Vote at K under the fitted model (mean over queries)."""
        if not self.params:
            return np.full_like(np.asarray(k, dtype=float), np.nan)
        curves = [vote_curve(k, self.params[q], self.kinds[q]) for q in self.params]
        # Fitted on K >= 2, an easy query's G can dip below 0 at K = 1: it is an accuracy.
        return np.clip(np.mean(np.clip(curves, 0.0, 1.0), axis=0), 0.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)


def _fit_all(pool: PoolSamples, ks: Sequence[int], kinds: dict) -> tuple[dict, np.ndarray]:
    params, observed = {}, []
    for problem in pool.problems:
        acc = [majority_at_k(problem.answers, problem.correct, k) for k in ks]
        observed.append(acc)
        params[problem.problem_id] = fit_query(ks, acc, kinds[problem.problem_id])
    return params, np.array(observed)


def _choose_ks(n: int, ks: Sequence[int] | None, limit: int) -> list[int]:
    if ks is not None:
        return sorted(k for k in set(ks) if 1 <= k <= limit)
    chosen = [k for k in PAPER_KS if k <= limit]
    if len(chosen) < 3:
        chosen = [k for k in default_ks(max(n, 1)) if 2 <= k <= limit]
    return chosen


def fit_vote_model(
    pool: PoolSamples, *, ks: Sequence[int] | None = None, k_pred_max: int = 1000
) -> VoteModelFit:
    """Fit Chen et al.'s per-query vote model on a pool; predict the dataset's best K.

    Args:
        pool: samples (all problems use the first ``pool.n_min`` k's).
        ks: K values to fit on (default: the paper's grid within the pool, see module doc).
        k_pred_max: largest K the optimum is searched over.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> easy = ProblemSamples.from_lists("e", ["1"] * 6 + ["2"] * 4, [1] * 6 + [0] * 4)
        >>> hard = ProblemSamples.from_lists("h", ["1"] * 4 + ["2"] * 6, [1] * 4 + [0] * 6)
        >>> fit = fit_vote_model(PoolSamples({}, (easy, hard)), k_pred_max=100)
        >>> fit.status, fit.kinds
        ('ok', {'e': 'easy', 'h': 'hard'})
    """
    n = pool.n_min
    if not pool.problems or n < 2:
        return VoteModelFit("too_few_points", message="Need >= 2 samples per problem to fit.")
    kinds = {
        p.problem_id: "easy" if chen_difficulty(p.answers, p.correct) < 0 else "hard"
        for p in pool.problems
    }
    fit_ks = _choose_ks(n, ks, n)
    if not fit_ks:
        return VoteModelFit("too_few_points", kinds=kinds, message="No K in range to fit on.")
    params, observed = _fit_all(pool, fit_ks, kinds)
    predicted = np.array(
        [vote_curve(fit_ks, params[p.problem_id], kinds[p.problem_id]) for p in pool.problems]
    )
    model = VoteModelFit("ok", tuple(fit_ks), kinds, params)
    every_k = np.arange(1, k_pred_max + 1)
    full = model.predict(every_k)
    best = int(np.argmax(full))  # the smallest K among equals
    curve_ks = np.array(log_spaced_ks(k_pred_max, 60))
    curve = model.predict(curve_ks)
    status = "ok" if len(fit_ks) >= 3 else "few_points"
    return VoteModelFit(
        status,
        tuple(fit_ks),
        kinds,
        params,
        rmse=float(np.sqrt(np.mean((predicted - observed) ** 2))),
        optimal_k=int(every_k[best]),
        optimal_accuracy=float(full[best]),
        plateau_k=int(every_k[np.argmax(full >= full[best] - PLATEAU_TOLERANCE)]),
        curve_ks=tuple(int(k) for k in curve_ks),
        curve=tuple(float(c) for c in curve),
        holdout=_holdout(pool, n, kinds),
        message="" if status == "ok" else f"Fitted on only {len(fit_ks)} K values.",
    )


def _holdout(pool: PoolSamples, n: int, kinds: dict) -> tuple[dict, ...]:
    """Fit on K <= n/2; report predicted vs observed dataset majority accuracy at larger K."""
    train = _choose_ks(n, None, n // 2)
    test = [k for k in default_ks(n) if n // 2 < k <= n and k >= 2]
    if len(train) < 2 or not test:
        return ()
    params, _ = _fit_all(pool, train, kinds)
    fitted = VoteModelFit("ok", tuple(train), kinds, params)
    rows = []
    for k in test:
        observed = float(np.mean([majority_at_k(p.answers, p.correct, k) for p in pool.problems]))
        predicted = float(fitted.predict(k))
        rows.append(
            {
                "fit_k_max": max(train),
                "k": k,
                "predicted": predicted,
                "observed": observed,
                "abs_error": abs(predicted - observed),
            }
        )
    return tuple(rows)
