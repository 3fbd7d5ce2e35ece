"""Chen et al. 2024 (sec. 4) scaling model of Vote, fitted from a sample pool.

Per query x, accuracy of Vote with K calls is modelled as
    easy (d(x) < 0):  G(K) = 1 - exp(-a1 K - a2 sqrt(K) - a3)
    hard (d(x) > 0):  G(K) =     exp(-a1 K - a2 sqrt(K) - a3)
    tie  (d(x) = 0):  G(K) = (1 - exp(-a1 K - a2 sqrt(K) - a3)) / m
with a1, a2 >= 1e-6, fitted by bounded least squares (``scipy.optimize.least_squares``: the paper's
squared-error objective; faster and steadier here than ``minimize``'s L-BFGS-B) to the query's
accuracy at K in {1, 2, 5, 10, 20, 50, 100} up to the pool size.

Where we depart from the paper, and why:

- Ties. The paper splits queries at d < 0 (easy) and d >= 0 (hard), so a query whose correct
  answer ties m - 1 others for the mode (d = 0) would be modelled as decaying to 0. With a tie
  broken uniformly, Vote on such a query tends to 1/m as K grows, so we model it as the easy
  curve scaled by 1/m (its limit is 1/m).
- K = 1. The paper's grid is {2, 5, 10, 20, 50, 100}; we add K = 1, so the model's value at
  K = 1, which :attr:`VoteModelFit.optimal_k` may choose, is fitted rather than extrapolated.
- Resampling. The authors' code (lchen001/CompoundAIScalingLaws, ``analysis/analysis.py``,
  ``simulate_answer``) estimates each accuracy by drawing K answers WITH replacement from the
  query's answer counts, many times. We use the exact expectation of drawing K of the pool's
  samples WITHOUT replacement (:func:`~langgraph_ttc.scaling.estimators.majority_at_k`). That
  is the sounder choice: the pool's samples are i.i.d. draws from the model, so every K-subset
  of distinct samples is K genuine independent calls and the average is an unbiased estimate of
  Vote's accuracy with K fresh calls, whereas resampling with replacement votes over the
  empirical distribution, re-using samples (at K near n most are duplicates), which biases
  the estimate towards the pool's own mode. It also has no Monte Carlo noise.
- Odd K for binary votes. With two answers and ties broken uniformly, Vote with an even K is
  exactly as accurate as with K - 1 calls, so when every query has at most two answers the
  optimum (and the plateau) is searched over odd K only.

When the pool is too small for 3 of the paper's K, every k from ``default_ks`` in [1, n] is used.

The dataset curve is the mean of the per-query G; the predicted optimal K is its argmax over
1..``k_pred_max`` (the stored curve keeps 60 log-spaced K of it). A curve that only saturates
has its argmax far out on a flat top, so ``plateau_k`` also reports the smallest K within half a
point (0.005) of the best accuracy: the budget worth paying for. A held-out check fits on
K <= n/2 and compares the predicted dataset accuracy with the observed majority@K at the larger K.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from langgraph_ttc.extras import require
from langgraph_ttc.scaling.curve_estimates import default_ks
from langgraph_ttc.scaling.difficulty import chen_difficulty
from langgraph_ttc.scaling.estimators import answer_values, majority_at_k
from langgraph_ttc.scaling.fits import log_spaced_ks
from langgraph_ttc.scaling.samples import PoolSamples

__all__ = [
    "FIT_KS",
    "PAPER_KS",
    "VoteModelFit",
    "best_k",
    "fit_query",
    "fit_vote_model",
    "vote_curve",
    "vote_kind",
]

PAPER_KS: tuple[int, ...] = (2, 5, 10, 20, 50, 100)
FIT_KS: tuple[int, ...] = (1, *PAPER_KS)  # the paper's grid plus K = 1 (see the module doc)
A_MIN = 1e-6
PLATEAU_TOLERANCE = 0.005
BOUNDS = [(A_MIN, 10.0), (A_MIN, 10.0), (-30.0, 30.0)]


def least_squares():
    """scipy's bounded least squares (the eval extra)."""
    return require("scipy.optimize", "eval", "the vote scaling model").least_squares


def vote_curve(k: np.ndarray | float, params: Sequence[float], kind: str, m: int = 1) -> np.ndarray:
    """G(K) for one query: ``kind`` is ``"easy"``, ``"hard"`` or ``"tie"`` (``m`` answers tied
    for the mode, the correct one among them: the easy curve divided by m).

    Example:
        >>> round(float(vote_curve(4, (0.1, 0.2, 0.0), "easy")), 4)
        0.5507
        >>> round(float(vote_curve(4, (0.1, 0.2, 0.0), "tie", m=2)), 4)
        0.2753
    """
    k = np.asarray(k, dtype=float)
    a1, a2, a3 = params
    decay = np.exp(-np.clip(a1 * k + a2 * np.sqrt(k) + a3, -700, 700))
    if kind == "hard":
        return decay
    return (1.0 - decay) / (m if kind == "tie" else 1)


def vote_kind(answers: Sequence[Hashable | None], correct: Sequence[float]) -> tuple[str, int]:
    """A query's class for the vote model and, for a tie, how many answers tie for the mode.

    From Chen et al.'s d(x) (:func:`~langgraph_ttc.scaling.difficulty.chen_difficulty`):
    ``("easy", 1)`` when d < 0, ``("tie", m)`` when d = 0 and the correct answer is one of m
    answers tied for the mode, else ``("hard", 1)`` (also when no sample has an answer).

    Example:
        >>> vote_kind(["4", "4", "5"], [1, 1, 0]), vote_kind(["4", "5", "6", "6"], [1, 0, 0, 0])
        (('easy', 1), ('hard', 1))
        >>> vote_kind(["4", "5", "6", "4", "5"], [1, 0, 0, 1, 0])
        ('tie', 2)
    """
    d = chen_difficulty(answers, correct)
    if d < 0:
        return "easy", 1
    counts: dict[Hashable, int] = {}
    for answer in answers:
        if answer is not None:
            counts[answer] = counts.get(answer, 0) + 1
    values = answer_values(answers, correct)
    top = max(counts.values(), default=0)
    tied = [a for a, c in counts.items() if c == top]
    if d == 0 and top > 0 and any(values[a] >= 0.5 for a in tied):
        return "tie", len(tied)
    return "hard", 1


def fit_query(
    ks: Sequence[int], accuracies: Sequence[float], kind: str, m: int = 1
) -> tuple[float, ...]:
    """Least-squares (a1, a2, a3) for one query; a few starting points, the best one kept.

    A ``"tie"`` query fits the easy curve to m times its accuracies: the same least-squares
    minimiser as fitting the easy curve divided by m to the accuracies themselves.

    Example:
        >>> ks = np.array([1, 2, 5, 10, 20, 50])
        >>> params = fit_query(ks, vote_curve(ks, (0.05, 0.1, 0.2), "easy"), "easy")
        >>> bool(np.allclose(vote_curve(ks, params, "easy"), vote_curve(ks, (0.05, 0.1, 0.2), "easy"), atol=1e-3))
        True
    """
    ks_arr = np.asarray(ks, dtype=float)
    acc = np.asarray(accuracies, dtype=float)
    if kind == "tie":
        kind, acc = "easy", acc * m

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
        result = least_squares()(residuals, np.array(start), jac=jacobian, bounds=(low, high))
        if best is None or result.cost < best.cost:
            best = result
    return tuple(float(x) for x in best.x)


def best_k(
    ks: Sequence[int],
    accuracy: Sequence[float],
    *,
    odd_only: bool = False,
    tolerance: float = PLATEAU_TOLERANCE,
) -> tuple[int, float, int]:
    """(the K of highest accuracy, that accuracy, the smallest K within ``tolerance`` of it),
    over ``ks`` or, with ``odd_only`` (binary votes), over its odd K only. Equal accuracies
    go to the smaller K.

    Example:
        >>> ks, acc = [1, 2, 3, 4, 5, 6], [0.50, 0.50, 0.60, 0.62, 0.61, 0.63]
        >>> best_k(ks, acc), best_k(ks, acc, odd_only=True)
        ((6, 0.63, 6), (5, 0.61, 5))
    """
    ks_arr = np.asarray(ks, dtype=int)
    acc = np.asarray(accuracy, dtype=float)
    if odd_only and (ks_arr % 2 == 1).any():
        keep = ks_arr % 2 == 1
        ks_arr, acc = ks_arr[keep], acc[keep]
    best = int(np.argmax(acc))  # the smallest K among equals
    plateau = int(np.argmax(acc >= acc[best] - tolerance))
    return int(ks_arr[best]), float(acc[best]), int(ks_arr[plateau])


@dataclass(frozen=True)
class VoteModelFit:
    """The fitted model: per-query parameters, the dataset curve, optimal K, held-out check.

    ``kinds`` maps each query to ``"easy"``, ``"hard"`` or ``"tie"``; ``ties`` maps each tie
    query to m, the answers tied for its mode. ``binary_votes`` is set when every query has at
    most two distinct answers; ``optimal_k`` and ``plateau_k`` are then odd.

    Example:
        >>> fit = VoteModelFit("ok", kinds={"q": "easy"}, params={"q": (0.1, 0.2, 0.0)})
        >>> round(float(fit.predict(4)), 4)
        0.5507
    """

    status: str
    fit_ks: tuple[int, ...] = ()
    kinds: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    ties: dict = field(default_factory=dict)
    binary_votes: bool = False
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
        curves = [
            vote_curve(k, self.params[q], self.kinds[q], self.ties.get(q, 1)) for q in self.params
        ]
        # An accuracy: clip a curve that overshoots [0, 1] between or beyond the fitted K.
        return np.clip(np.mean(np.clip(curves, 0.0, 1.0), axis=0), 0.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)


def _fit_all(
    pool: PoolSamples, ks: Sequence[int], kinds: dict, ties: dict
) -> tuple[dict, np.ndarray]:
    params, observed = {}, []
    for problem in pool.problems:
        acc = [majority_at_k(problem.answers, problem.correct, k) for k in ks]
        observed.append(acc)
        q = problem.problem_id
        params[q] = fit_query(ks, acc, kinds[q], ties.get(q, 1))
    return params, np.array(observed)


def _choose_ks(n: int, ks: Sequence[int] | None, limit: int) -> list[int]:
    if ks is not None:
        return sorted(k for k in set(ks) if 1 <= k <= limit)
    chosen = [k for k in FIT_KS if k <= limit]
    if len([k for k in chosen if k in PAPER_KS]) < 3:
        chosen = [k for k in default_ks(max(n, 1)) if 1 <= k <= limit]
    return chosen


def fit_vote_model(
    pool: PoolSamples, *, ks: Sequence[int] | None = None, k_pred_max: int = 1000
) -> VoteModelFit:
    """Fit Chen et al.'s per-query vote model on a pool; predict the dataset's best K.

    Args:
        pool: samples (all problems use the first ``pool.n_min`` k's).
        ks: K values to fit on (default: the paper's grid plus K = 1, see module doc).
        k_pred_max: largest K the optimum is searched over.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> easy = ProblemSamples.from_lists("e", ["1"] * 6 + ["2"] * 4, [1] * 6 + [0] * 4)
        >>> hard = ProblemSamples.from_lists("h", ["1"] * 4 + ["2"] * 6, [1] * 4 + [0] * 6)
        >>> fit = fit_vote_model(PoolSamples({}, (easy, hard)), k_pred_max=100)
        >>> fit.status, fit.kinds, fit.binary_votes, fit.optimal_k % 2
        ('ok', {'e': 'easy', 'h': 'hard'}, True, 1)
    """
    n = pool.n_min
    if not pool.problems or n < 2:
        return VoteModelFit("too_few_points", message="Need >= 2 samples per problem to fit.")
    classes = {p.problem_id: vote_kind(p.answers, p.correct) for p in pool.problems}
    kinds = {q: kind for q, (kind, _) in classes.items()}
    ties = {q: m for q, (kind, m) in classes.items() if kind == "tie"}
    binary = all(len({a for a in p.answers if a is not None}) <= 2 for p in pool.problems)
    fit_ks = _choose_ks(n, ks, n)
    if not fit_ks:
        return VoteModelFit("too_few_points", kinds=kinds, message="No K in range to fit on.")
    params, observed = _fit_all(pool, fit_ks, kinds, ties)
    predicted = np.array(
        [
            vote_curve(fit_ks, params[p.problem_id], kinds[p.problem_id], ties.get(p.problem_id, 1))
            for p in pool.problems
        ]
    )
    model = VoteModelFit("ok", tuple(fit_ks), kinds, params, ties, binary)
    every_k = np.arange(1, k_pred_max + 1)
    optimal_k, optimal_accuracy, plateau_k = best_k(
        every_k, model.predict(every_k), odd_only=binary
    )
    curve_ks = np.array(log_spaced_ks(k_pred_max, 60))
    curve = model.predict(curve_ks)
    status = "ok" if len(fit_ks) >= 3 else "few_points"
    return VoteModelFit(
        status,
        tuple(fit_ks),
        kinds,
        params,
        ties,
        binary,
        rmse=float(np.sqrt(np.mean((predicted - observed) ** 2))),
        optimal_k=optimal_k,
        optimal_accuracy=optimal_accuracy,
        plateau_k=plateau_k,
        curve_ks=tuple(int(k) for k in curve_ks),
        curve=tuple(float(c) for c in curve),
        holdout=_holdout(pool, n, kinds, ties),
        message="" if status == "ok" else f"Fitted on only {len(fit_ks)} K values.",
    )


def _holdout(pool: PoolSamples, n: int, kinds: dict, ties: dict) -> tuple[dict, ...]:
    """Fit on K <= n/2; report predicted vs observed dataset majority accuracy at larger K."""
    train = _choose_ks(n, None, n // 2)
    test = [k for k in default_ks(n) if n // 2 < k <= n and k >= 2]
    if len(train) < 2 or not test:
        return ()
    params, _ = _fit_all(pool, train, kinds, ties)
    fitted = VoteModelFit("ok", tuple(train), kinds, params, ties)
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
