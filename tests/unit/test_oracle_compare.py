"""Accuracy at equal calls and the pool oracle (``compare``'s lead columns)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.compare import compare_policy, format_comparison, write_comparison
from langgraph_ttc.scaling.oracle import OracleCurves, equal_calls_rows, upper_hull
from langgraph_ttc.scaling.synthetic import synthetic_pool


def brute_force_oracle(accuracy: np.ndarray, calls: np.ndarray, mean_calls: float) -> float:
    """The best mean accuracy over every pure per-question choice of point (and mixtures of
    two allocations, which the greedy's split last step is): an exhaustive check."""
    n = accuracy.shape[0]
    choices = list(itertools.product(range(accuracy.shape[1]), repeat=n))
    points = [
        (
            np.mean([calls[q, c[q]] for q in range(n)]),
            np.mean([accuracy[q, c[q]] for q in range(n)]),
        )
        for c in choices
    ]
    best = max((a for c, a in points if c <= mean_calls + 1e-9), default=-np.inf)
    for (c1, a1), (c2, a2) in itertools.combinations(points, 2):
        if min(c1, c2) <= mean_calls <= max(c1, c2) and c1 != c2:
            t = (mean_calls - c1) / (c2 - c1)
            best = max(best, a1 + t * (a2 - a1))
    return best


def test_the_greedy_oracle_is_the_best_allocation():
    rng = np.random.default_rng(5)
    for _ in range(15):
        accuracy = np.sort(rng.random((3, 4)), axis=1) * rng.random((3, 1))
        accuracy[:, 2] -= rng.random(3) * 0.3  # non-concave, sometimes non-monotone curves
        calls = np.tile(np.array([1.0, 2.0, 3.0, 4.0]), (3, 1))
        curves = OracleCurves.from_runs({"m": (accuracy, calls)})
        for target in (1.0, 1.7, 2.5, 3.3, 4.0):
            greedy = float(curves.accuracy_at(np.array([target]))[0])
            assert greedy == pytest.approx(brute_force_oracle(accuracy, calls, target), abs=1e-9)


def test_upper_hull_is_concave_and_increasing():
    rng = np.random.default_rng(1)
    for _ in range(50):
        xs, ys = rng.integers(1, 20, 12).astype(float), rng.random(12)
        hx, hy = upper_hull(xs, ys)
        assert (np.diff(hx) > 0).all() and (np.diff(hy) > 0).all()
        slopes = np.diff(hy) / np.diff(hx)
        assert (np.diff(slopes) < 1e-12).all()
        # every point lies on or below the hull (beyond its start)
        for x, y in zip(xs, ys, strict=True):
            if x >= hx[0]:
                assert y <= np.interp(x, hx, hy) + 1e-12


def test_equal_calls_rows_interpolate_uniform_and_share_the_gain():
    # Two questions: one solved by 1 sample, one needing 3; majority curves at 1..3 calls.
    accuracy = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    calls = np.array([[1.0, 2.0, 3.0]] * 2)
    router = (np.array([1.0, 1.0]), np.array([1.0, 3.0]))  # 2 calls on average, both right
    (row,) = equal_calls_rows({4: router}, {"majority": (accuracy, calls)}, n_boot=200)
    assert row["router_calls"] == 2.0 and row["router_accuracy"] == 1.0
    assert row["uniform"]["majority"] == 0.5  # majority at 2 calls per question
    assert row["oracle_accuracy"] == 1.0 and row["oracle_share"] == 1.0
    assert row["gain_over_uniform"] == 0.5
    low, high = row["router_ci"]
    assert low <= 1.0 <= high


def test_a_method_whose_cheapest_point_costs_more_is_left_out():
    accuracy = np.array([[0.5, 0.6]])
    runs = {
        "majority": (accuracy, np.array([[1.0, 2.0]])),
        "filter_vote": (accuracy + 0.3, np.array([[2.0, 4.0]])),  # a critique per sample
    }
    (row,) = equal_calls_rows({1: (np.array([0.5]), np.array([1.0]))}, runs, n_boot=10)
    assert set(row["uniform"]) == {"majority"} and row["best_uniform"] == "majority"


def test_compare_leads_with_equal_calls_and_plots_the_oracle(tmp_path):
    pool = synthetic_pool(
        {"easy": 6, "medium": 6, "hopeless": 4, "trap": 4}, k=16, critiques=False, scores=False
    )
    comparison = compare_policy(pool, Policy(meta={"probes": 4}), budgets=[4, 8, 16], n_orders=4,
                                n_boot=100)  # fmt: skip
    for row in comparison.adaptive:
        for key in ("router_accuracy", "oracle_accuracy", "best_uniform", "oracle_share_ci"):
            assert key in row
        assert row["oracle_accuracy"] >= row["best_uniform_accuracy"] - 1e-9
        assert row["router_calls"] == pytest.approx(row["mean_calls"], abs=1e-3)
        assert row["compute_ratio"] is None or row["compute_ratio"] > 0  # kept
    assert comparison.oracle and all(
        b["accuracy"] >= a["accuracy"] for a, b in itertools.pairwise(comparison.oracle)
    )
    text = format_comparison(comparison)
    assert text.index("share of oracle gain") < text.index("ratio [95% CI]")
    # compare's tokens are generated ones (curves' are prompt + completion): the header says so
    assert "gen tok" in text and "mean generated (completion" in text
    write_comparison(comparison, tmp_path)
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["oracle"] and "oracle_share" in saved["adaptive"][0]
    assert (tmp_path / "compare.png").stat().st_size > 10_000
