"""Accuracy at equal calls, and the pool oracle the router is measured against.

A compute ratio ("the best fixed strategy needs 1.8x the calls to match") flatters a router
whenever the fixed curves have a flat tail. What a user of a router buys is accuracy at the
calls they spend, so ``compare`` leads with three numbers per budget, all at the router's own
mean calls C (SPEC sec. 5, "the measure that matters is accuracy at equal total compute against
uniform allocation, and the share of an oracle's gain a method captures"):

* **uniform**: each fixed method (majority, confidence-weighted vote, ...) spending the same
  number of calls on every question, its mean curve interpolated linearly at C;
* **oracle**: an allocation that knows every question's own curves (each fixed method at each
  sample count, estimated from the question's own samples) and gives each question the method
  and sample count that maximise mean accuracy at C mean calls. Per question the points are
  reduced to their upper concave hull; greedy on marginal gain per call over all hulls is then
  optimal (the last step may split a question between two plans: a mixture at the same
  expected cost). It is an upper bound no label-free router can reach, estimated on the same
  samples it is scored on (so a little optimistic). Each question's curve is an average over
  the replayed orders of its samples: with few orders the curves are noisy and the oracle picks
  their luck (measured on a synthetic mix: 0.675 with 4 orders where 48 orders give 0.603 at
  5 calls), so compare it over 32 orders or more (``compare``'s default);
* **share of the oracle's gain** = (router - best uniform) / (oracle - best uniform).

Intervals come from one bootstrap over questions: each resample recomputes the router's mean,
its calls, every uniform curve at those calls, the best of them and the oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from langgraph_ttc.errors import TTCConfigError

__all__ = ["OracleCurves", "equal_calls_rows", "oracle_curve", "upper_hull"]


def upper_hull(calls: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper concave hull of (calls, accuracy) points, from the cheapest point (the most
    accurate among equally cheap ones) rightwards, accuracy strictly increasing.

    Example:
        >>> c, a = upper_hull(np.array([1.0, 2, 3, 4]), np.array([0.2, 0.25, 0.5, 0.45]))
        >>> c.tolist(), a.tolist()
        ([1.0, 3.0], [0.2, 0.5])
    """
    order = np.lexsort((-accuracy, calls))
    xs, ys = np.asarray(calls, float)[order], np.asarray(accuracy, float)[order]
    hull_x, hull_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        if x <= hull_x[-1] or y <= hull_y[-1]:
            continue  # no cheaper, or no better: dominated
        while len(hull_x) >= 2:
            # Drop the last point while it lies on or below the chord to the new one.
            (x0, y0), (x1, y1) = (hull_x[-2], hull_y[-2]), (hull_x[-1], hull_y[-1])
            if (y1 - y0) * (x - x0) <= (y - y0) * (x1 - x0):
                hull_x.pop()
                hull_y.pop()
            else:
                break
        hull_x.append(x)
        hull_y.append(y)
    return np.array(hull_x), np.array(hull_y)


@dataclass(frozen=True)
class OracleCurves:
    """Every question's hull as a start point and segments, the segments in one global order
    of decreasing marginal gain per call (the greedy allocation's order).

    Attributes:
        base_calls / base_accuracy: each question's cheapest point (shape (questions,)).
        question: the question of each segment, in greedy order.
        calls / gain: each segment's extra calls and extra accuracy, in greedy order.
    """

    base_calls: np.ndarray
    base_accuracy: np.ndarray
    question: np.ndarray
    calls: np.ndarray
    gain: np.ndarray

    @classmethod
    def from_runs(cls, runs: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> OracleCurves:
        """From ``runs[method] = (accuracy, calls)``, per-question arrays of shape (questions,
        points): every fixed method at every sample count.

        Example:
            >>> acc = np.array([[0.5, 0.75, 0.8], [1.0, 1.0, 1.0]])
            >>> calls = np.array([[1.0, 2.0, 3.0]] * 2)
            >>> curves = OracleCurves.from_runs({"majority": (acc, calls)})
            >>> curves.base_calls.tolist(), curves.gain.round(3).tolist()
            ([1.0, 1.0], [0.25, 0.05])
        """
        if not runs:
            raise TTCConfigError("The oracle needs at least one fixed method's curves.")
        accuracy = np.concatenate([a for a, _ in runs.values()], axis=1)
        calls = np.concatenate([c for _, c in runs.values()], axis=1)
        base_calls, base_accuracy, question, extra, gain = [], [], [], [], []
        for q in range(accuracy.shape[0]):
            xs, ys = upper_hull(calls[q], accuracy[q])
            base_calls.append(xs[0])
            base_accuracy.append(ys[0])
            question += [q] * (len(xs) - 1)
            extra += np.diff(xs).tolist()
            gain += np.diff(ys).tolist()
        extra_a, gain_a = np.array(extra, float), np.array(gain, float)
        # Concave hulls: within a question the slopes already decrease, so a stable sort on
        # slope keeps each question's segments in their own order.
        order = np.argsort(-(gain_a / np.where(extra_a > 0, extra_a, 1.0)), kind="stable")
        return cls(
            np.array(base_calls),
            np.array(base_accuracy),
            np.array(question, dtype=int)[order],
            extra_a[order],
            gain_a[order],
        )

    def accuracy_at(self, mean_calls: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The oracle's mean accuracy at ``mean_calls`` per question (one value per row of
        ``weights``: question multiplicities of a bootstrap resample; default one row of ones).
        Below the questions' cheapest points it is their accuracy there.

        Example:
            >>> acc = np.array([[0.0, 0.0, 0.0], [0.2, 0.6, 0.9]])
            >>> curves = OracleCurves.from_runs({"m": (acc, np.array([[1.0, 2, 3]] * 2))})
            >>> curves.accuracy_at(np.array([1.5])).round(3).tolist()  # the extra call: question 2
            [0.3]
        """
        weights = np.ones((1, len(self.base_calls))) if weights is None else np.atleast_2d(weights)
        mean_calls = np.broadcast_to(np.asarray(mean_calls, float), (weights.shape[0],))
        total = weights.sum(axis=1)
        floor = weights @ self.base_calls
        start = weights @ self.base_accuracy
        if not len(self.calls):
            return start / total
        seg_w = weights[:, self.question]  # (rows, segments)
        spent = np.cumsum(seg_w * self.calls, axis=1)
        gained = np.cumsum(seg_w * self.gain, axis=1)
        extra = np.maximum(mean_calls * total - floor, 0.0)
        full = (spent <= extra[:, None] + 1e-9).sum(axis=1)  # segments taken whole
        rows = np.arange(weights.shape[0])
        before_calls = np.where(full > 0, spent[rows, np.maximum(full - 1, 0)], 0.0)
        before_gain = np.where(full > 0, gained[rows, np.maximum(full - 1, 0)], 0.0)
        nxt = np.minimum(full, len(self.calls) - 1)
        part_calls = seg_w[rows, nxt] * self.calls[nxt]
        fraction = np.where(
            (full < len(self.calls)) & (part_calls > 0),
            (extra - before_calls) / np.where(part_calls > 0, part_calls, 1.0),
            0.0,
        )
        partial = np.clip(fraction, 0.0, 1.0) * seg_w[rows, nxt] * self.gain[nxt]
        return (start + before_gain + partial) / total


def oracle_curve(curves: OracleCurves, calls: np.ndarray) -> list[dict]:
    """Points of the oracle's accuracy against mean calls, for plots.

    Example:
        >>> acc = np.array([[0.2, 0.6, 0.9]])
        >>> oracle_curve(OracleCurves.from_runs({"m": (acc, np.array([[1.0, 2, 3]]))}), [2.0])
        [{'mean_calls': 2.0, 'accuracy': 0.6}]
    """
    return [
        {"mean_calls": round(float(c), 3), "accuracy": round(float(curves.accuracy_at(c)[0]), 4)}
        for c in calls
    ]


def _interp_rows(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of ``ys`` over increasing ``xs`` at ``x`` (flat beyond the
    last point, flat before the first)."""
    right = np.clip((xs < x[:, None]).sum(axis=1), 1, xs.shape[1] - 1)
    rows = np.arange(len(x))
    x0, x1 = xs[rows, right - 1], xs[rows, right]
    y0, y1 = ys[rows, right - 1], ys[rows, right]
    t = np.clip((x - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    return y0 + t * (y1 - y0)


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None, None
    return round(float(np.quantile(finite, 0.025)), 4), round(float(np.quantile(finite, 0.975)), 4)


def equal_calls_rows(
    replays: Mapping[int, tuple[np.ndarray, np.ndarray]],
    fixed_runs: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    cost: str = "calls",
) -> list[dict]:
    """Per budget: the router's accuracy and mean calls, every fixed method's uniform accuracy
    at those calls, the best of them, the oracle's, and the share of the oracle's gain the
    router captures, with 95% bootstrap intervals over questions.

    ``replays[budget] = (accuracy, calls)`` per question; ``fixed_runs[method] = (accuracy,
    calls)`` per question and sample count (shape (questions, points)). A method whose
    cheapest point costs more than the router spends is left out at that budget.

    Example:
        >>> acc = np.array([[1.0, 1.0], [0.0, 1.0]])
        >>> runs = {"majority": (acc, np.array([[1.0, 2.0]] * 2))}
        >>> row = equal_calls_rows({2: (np.array([1.0, 1.0]), np.array([1.0, 2.0]))}, runs,
        ...                        n_boot=10)[0]
        >>> row["uniform"]["majority"], row["oracle_accuracy"], row["oracle_share"]
        (0.75, 1.0, 1.0)
    """
    curves = OracleCurves.from_runs(fixed_runs)
    n = len(curves.base_calls)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_boot, n))
    weights = np.stack([np.bincount(p, minlength=n) for p in picks]).astype(float)
    weights = np.vstack([np.ones(n), weights])  # row 0: the questions themselves
    total = weights.sum(axis=1)
    mean_curves = {
        s: ((weights @ calls) / total[:, None], (weights @ acc) / total[:, None])
        for s, (acc, calls) in fixed_runs.items()
    }
    rows = []
    for budget, (accuracy, calls) in replays.items():
        router = (weights @ accuracy) / total
        spent = (weights @ calls) / total
        uniform = {
            s: np.where(xs[:, 0] <= spent + 1e-9, _interp_rows(spent, xs, ys), np.nan)
            for s, (xs, ys) in mean_curves.items()
        }
        stacked = np.stack(list(uniform.values()))  # (methods, rows)
        usable = np.isfinite(stacked[:, 0])
        best = np.where(usable[:, None], stacked, -np.inf).max(axis=0)
        best = np.where(np.isfinite(best), best, np.nan)
        oracle = curves.accuracy_at(spent, weights)
        room = oracle - best
        share = np.where(room > 1e-9, (router - best) / np.where(room > 1e-9, room, 1.0), np.nan)
        names = [s for s, ok in zip(uniform, usable, strict=True) if ok]
        best_name = max(names, key=lambda s: uniform[s][0]) if names else None
        row = {
            "budget": budget,
            f"router_{cost}": round(float(spent[0]), 3),
            "router_accuracy": round(float(router[0]), 4),
            "router_ci": _interval(router[1:]),
            "uniform": {s: round(float(v[0]), 4) for s, v in uniform.items() if np.isfinite(v[0])},
            "best_uniform": best_name,
            "best_uniform_accuracy": None if best_name is None else round(float(best[0]), 4),
            "best_uniform_ci": _interval(best[1:]),
            "gain_over_uniform": None
            if best_name is None
            else round(float(router[0] - best[0]), 4),
            "gain_over_uniform_ci": _interval((router - best)[1:]),
            "oracle_accuracy": round(float(oracle[0]), 4),
            "oracle_ci": _interval(oracle[1:]),
            "oracle_share": None if not np.isfinite(share[0]) else round(float(share[0]), 3),
            "oracle_share_ci": _interval(share[1:]),
        }
        rows.append(row)
    return rows
