"""Fitted laws: power-law recovery, degenerate data, Chen et al.'s vote model, closed-form K*."""

from __future__ import annotations

import math

import numpy as np
import pytest

from langgraph_ttc.scaling import (
    PoolSamples,
    ProblemSamples,
    fit_power_law,
    fit_vote_model,
    log_spaced_ks,
    majority_at_k,
    pass_at_k,
    power_law,
    two_level_optimal_k,
    vote_curve,
)
from langgraph_ttc.scaling.vote_model import best_k, fit_query, vote_kind


@pytest.mark.parametrize(("a", "b"), [(-2.0, -0.4), (-0.7, -0.9), (-4.5, -0.15)])
def test_power_law_recovers_known_parameters(a, b):
    ks = log_spaced_ks(1000, 40)
    assert 30 <= len(ks) <= 41
    fit = fit_power_law(ks, power_law(np.array(ks), a, b), extrapolate_to=[2000, 10_000])
    assert fit.status == "ok"
    assert fit.a == pytest.approx(a, abs=1e-4)
    assert fit.b == pytest.approx(b, abs=1e-4)
    assert fit.rmse < 1e-6
    for row in fit.extrapolation:
        assert row["coverage"] == pytest.approx(float(power_law(row["k"], a, b)), abs=1e-6)
        assert row["low"] <= row["coverage"] + 1e-9 <= row["high"] + 2e-9


def test_power_law_with_noise_and_bootstrap_band():
    rng = np.random.default_rng(0)
    ks = np.array(log_spaced_ks(64, 40))
    # 80 problems with per-problem accuracies from a Beta: coverage = mean of 1 - (1 - p)^k.
    p = rng.beta(0.3, 1.5, size=80)
    per_problem = 1 - (1 - p[:, None]) ** ks[None, :]
    fit = fit_power_law(
        ks, per_problem.mean(axis=0), per_problem=per_problem, extrapolate_to=[128, 640]
    )
    assert fit.status == "ok" and fit.a < 0 and fit.b < 0
    assert fit.rmse < 0.03 and fit.max_abs_error < 0.06
    assert "bootstrap" in fit.band_method
    for row in fit.extrapolation:
        assert row["low"] < row["coverage"] < row["high"]
        assert row["low"] >= 0.0 and row["high"] <= 1.0
    assert fit.holdout["k"] == 64 and fit.holdout["fit_k_max"] <= 16
    assert fit.holdout["abs_error"] < 0.1


def _law(k, a, b):
    return np.exp(a * np.power(k, b))


def test_bootstrap_intervals_for_a_and_b_cover_the_truth_where_pcov_does_not():
    # 40 simulated pools of k-correlated coverage: 40 problems with p ~ Beta(0.3, 1.5), 64
    # samples each, pass@k at the log-spaced k (every k from the same samples). The truth is
    # the law fitted to the population curve 1 - E[(1-p)^k] = 1 - B(0.3, 1.5 + k) / B(0.3, 1.5)
    # (a = -1.760, b = -0.389). curve_fit's pcov treats the k points as independent.
    from scipy.optimize import curve_fit
    from scipy.special import betaln

    alpha, beta, problems, n = 0.3, 1.5, 40, 64
    ks = np.array(log_spaced_ks(n, 40), dtype=float)
    population = 1 - np.exp(betaln(alpha, beta + ks) - betaln(alpha, beta))
    (a_true, b_true), _ = curve_fit(_law, ks, population, p0=(-1.0, -0.5))
    assert (a_true, b_true) == pytest.approx((-1.760, -0.389), abs=1e-3)
    rng = np.random.default_rng(2024)
    boot = {"a": 0, "b": 0}
    pcov_hits = {"a": 0, "b": 0}
    runs = 40
    for run in range(runs):
        correct = rng.binomial(n, rng.beta(alpha, beta, size=problems))
        per_problem = np.array([[pass_at_k(n, int(c), int(k)) for k in ks] for c in correct])
        coverage = per_problem.mean(axis=0)
        fit = fit_power_law(ks, coverage, per_problem=per_problem, n_boot=100, seed=run)
        assert "bootstrap over problems" in fit.ci_method
        boot["a"] += fit.a_ci[0] <= a_true <= fit.a_ci[1]
        boot["b"] += fit.b_ci[0] <= b_true <= fit.b_ci[1]
        popt, pcov = curve_fit(_law, ks, coverage, p0=(-1.0, -0.5))
        se = np.sqrt(np.diag(pcov))
        pcov_hits["a"] += abs(popt[0] - a_true) <= 1.96 * se[0]
        pcov_hits["b"] += abs(popt[1] - b_true) <= 1.96 * se[1]
    # Seeded: bootstrap 37/40 (a) and 38/40 (b); pcov's 95% intervals 4/40 each.
    assert boot["a"] / runs >= 0.8 and boot["b"] / runs >= 0.8
    assert pcov_hits["a"] / runs <= 0.3 and pcov_hits["b"] / runs <= 0.3
    assert not hasattr(fit, "a_se")  # the pcov standard errors are no longer reported


def test_power_law_without_per_problem_coverage_has_no_parameter_intervals():
    fit = fit_power_law([1, 2, 4, 8, 16], [0.2, 0.3, 0.4, 0.5, 0.6])
    assert fit.status == "ok"
    assert all(math.isnan(x) for x in (*fit.a_ci, *fit.b_ci))
    assert fit.ci_method.startswith("none")


@pytest.mark.parametrize(
    ("coverage", "status"),
    [([1.0, 1.0, 1.0, 1.0], "all_correct"), ([0.0, 0.0, 0.0, 0.0], "all_wrong")],
)
def test_power_law_degenerate_data(coverage, status):
    fit = fit_power_law([1, 2, 4, 8], coverage, extrapolate_to=[100])
    assert fit.status == status and fit.message
    assert fit.predict(100) == pytest.approx(coverage[0])


def test_power_law_too_few_points():
    fit = fit_power_law([1, 2], [0.2, 0.3])
    assert fit.status == "too_few_points"
    assert "k_max" in fit.message


# -- Chen et al. vote model -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["easy", "hard"])
def test_fit_query_reproduces_its_own_curve(kind):
    ks = np.array([2, 5, 10, 20, 50, 100])
    truth = (0.02, 0.15, 0.3)
    params = fit_query(ks, vote_curve(ks, truth, kind), kind)
    assert min(params[:2]) >= 1e-6
    grid = np.arange(1, 200)
    assert np.abs(vote_curve(grid, params, kind) - vote_curve(grid, truth, kind)).max() < 0.01


def _binary_problem(pid: str, p: float, n: int) -> ProblemSamples:
    right = round(p * n)
    answers = ["1"] * right + ["2"] * (n - right)
    return ProblemSamples.from_lists(pid, answers, [1.0] * right + [0.0] * (n - right))


def test_vote_model_on_easy_and_hard_queries():
    n = 64
    problems = [_binary_problem(f"e{i}", 0.7, n) for i in range(6)]
    problems += [_binary_problem(f"h{i}", 0.35, n) for i in range(4)]
    pool = PoolSamples({}, tuple(problems))
    fit = fit_vote_model(pool, k_pred_max=200)
    assert fit.status == "ok"
    assert fit.fit_ks == (1, 2, 5, 10, 20, 50)  # the paper's grid within n = 64, plus K = 1
    assert {q for q, kind in fit.kinds.items() if kind == "easy"} == {f"e{i}" for i in range(6)}
    assert fit.rmse < 0.05
    for row in fit.holdout:
        assert row["abs_error"] < 0.05
    observed = np.mean([majority_at_k(p.answers, p.correct, 33) for p in problems])
    assert float(fit.predict(33)) == pytest.approx(observed, abs=0.05)
    # Easy queries gain, hard queries lose: the dataset curve is an inverse U with an optimum.
    assert 1 < fit.optimal_k < 200
    assert fit.optimal_accuracy >= float(fit.predict(1)) and fit.optimal_accuracy >= float(
        fit.predict(200)
    )


def test_vote_model_fits_k_one_and_picks_an_odd_k_for_binary_votes():
    # The pool above: 6 queries right with p = 0.7 (45 of 64 samples), 4 with p = 0.35 (22 of 64):
    # majority@1 = (6 * 45/64 + 4 * 22/64) / 10 = 0.5594. Fitted on K >= 2 only, the model said
    # 0.523 at K = 1 and chose K = 12; fitted with K = 1, it is within 0.01 and K is odd.
    n = 64
    problems = [_binary_problem(f"e{i}", 0.7, n) for i in range(6)]
    problems += [_binary_problem(f"h{i}", 0.35, n) for i in range(4)]
    fit = fit_vote_model(PoolSamples({}, tuple(problems)), k_pred_max=200)
    observed = np.mean([majority_at_k(p.answers, p.correct, 1) for p in problems])
    assert observed == pytest.approx((6 * 45 / 64 + 4 * 22 / 64) / 10)  # 0.5594
    assert float(fit.predict(1)) == pytest.approx(0.5594, abs=0.01)
    assert fit.binary_votes
    assert fit.optimal_k % 2 == 1 and fit.plateau_k % 2 == 1
    # Binary votes with a uniform tie-break: K = 2j is exactly as accurate as K = 2j - 1.
    for k in (2, 4, 12):
        assert majority_at_k(problems[0].answers, problems[0].correct, k) == pytest.approx(
            majority_at_k(problems[0].answers, problems[0].correct, k - 1)
        )


def test_best_k_prefers_odd_k_for_binary_votes():
    ks, accuracy = [1, 2, 3, 4, 5, 6], [0.50, 0.50, 0.60, 0.62, 0.61, 0.63]
    assert best_k(ks, accuracy) == (6, 0.63, 6)
    # Odd K only: 0.50, 0.60, 0.61 -> K = 5; the plateau (>= 0.605) starts at 5 too.
    assert best_k(ks, accuracy, odd_only=True) == (5, 0.61, 5)
    # The plateau: the smallest K within 0.005 of the best (0.66 - 0.005 = 0.655 -> K = 3).
    assert best_k([1, 3, 5], [0.5, 0.657, 0.66], odd_only=True) == (5, 0.66, 3)


def test_a_tie_query_tends_to_one_over_m():
    # By hand: (1 - exp(-(0.1*4 + 0.2*2 + 0))) / 2 = (1 - e^-0.8) / 2 = 0.2753; -> 1/2 and 1/3.
    assert float(vote_curve(4, (0.1, 0.2, 0.0), "tie", m=2)) == pytest.approx(0.2753, abs=1e-4)
    assert float(vote_curve(10_000, (0.1, 0.2, 0.0), "tie", m=3)) == pytest.approx(1 / 3)
    # "1" (right) and "2" tie with 3 of 8 samples each, "3" has 2: d = 3/8 - 3/8 = 0, m = 2.
    answers = ["1", "2", "3", "1", "2", "3", "1", "2"]
    tie = ProblemSamples.from_lists("t", answers, [1.0 if a == "1" else 0.0 for a in answers])
    assert vote_kind(tie.answers, tie.correct) == ("tie", 2)
    fit = fit_vote_model(PoolSamples({}, (tie,)), k_pred_max=1000)
    assert fit.kinds == {"t": "tie"} and fit.ties == {"t": 2}
    # majority@1 = 3/8; all 8 samples: "1" and "2" tie, the earlier of them wins: 1/2.
    assert majority_at_k(tie.answers, tie.correct, 1) == pytest.approx(3 / 8)
    assert majority_at_k(tie.answers, tie.correct, 8) == pytest.approx(1 / 2)
    assert float(fit.predict(1)) == pytest.approx(3 / 8, abs=0.02)
    assert float(fit.predict(1000)) == pytest.approx(1 / 2, abs=0.01)  # was ~0 when "hard"
    # Not a tie: the correct answer alone at the top (easy), or a wrong answer ahead (hard).
    assert vote_kind(["1", "1", "2"], [1, 1, 0]) == ("easy", 1)
    assert vote_kind(["2", "2", "1", "3", "3"], [0, 0, 1, 0, 0]) == ("hard", 1)
    assert vote_kind(["2", "3"], [0, 0]) == ("hard", 1)  # no right answer: d = 1/2 - 0
    assert vote_kind([None, None], [0, 0]) == ("hard", 1)  # no answer at all


def test_vote_model_degenerate_pools():
    all_right = PoolSamples({}, (_binary_problem("a", 1.0, 8), _binary_problem("b", 1.0, 8)))
    fit = fit_vote_model(all_right, k_pred_max=50)
    assert fit.status in ("ok", "few_points")
    assert float(fit.predict(10)) == pytest.approx(1.0, abs=1e-3)
    all_wrong = PoolSamples({}, (_binary_problem("a", 0.0, 8),))
    assert float(fit_vote_model(all_wrong, k_pred_max=50).predict(10)) == pytest.approx(0, abs=1e-3)
    tiny = PoolSamples({}, (_binary_problem("a", 1.0, 1),))
    assert fit_vote_model(tiny).status == "too_few_points"


# -- the two-level closed form ----------------------------------------------------------------


def _two_level_accuracy(k: int, alpha: float, p1: float, p2: float) -> float:
    def win(p):
        return sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))

    return alpha * win(p1) + (1 - alpha) * win(p2)


@pytest.mark.parametrize(
    ("alpha", "p1", "p2"), [(0.6, 0.85, 0.35), (0.7, 0.8, 0.4), (0.55, 0.9, 0.45)]
)
def test_two_level_closed_form_is_near_the_brute_force_optimum(alpha, p1, p2):
    optimum = two_level_optimal_k(alpha, p1, p2)
    assert optimum.regime == "interior"
    assert optimum.k_odd % 2 == 1
    odd = list(range(1, 401, 2))
    accuracy = [_two_level_accuracy(k, alpha, p1, p2) for k in odd]
    best = odd[int(np.argmax(accuracy))]
    # The closed form is asymptotic: near the true optimum, and nearly as accurate.
    assert abs(optimum.k_odd - best) <= max(4, 0.35 * best)
    assert _two_level_accuracy(optimum.k_odd, alpha, p1, p2) >= max(accuracy) - 0.01


def test_two_level_regimes_and_validation():
    assert two_level_optimal_k(0.9, 0.6, 0.1).k_odd == math.inf  # hard errors vanish fast
    assert two_level_optimal_k(0.1, 0.9, 0.45).k_odd == 1  # mostly hard: one call is best
    with pytest.raises(ValueError):
        two_level_optimal_k(0.5, 0.4, 0.3)
