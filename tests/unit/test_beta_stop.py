"""Adaptive-Consistency's Beta rule against independent computations; ESC's window rule."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import integrate

from langgraph_ttc.beta_stop import (
    beta_leader_probability,
    beta_should_stop,
    esc_answer,
    esc_should_stop,
    leader_probability,
    top_two_counts,
)
from langgraph_ttc.errors import TTCConfigError


def _binomial_form(a: int, b: int) -> Fraction:
    """P(Beta(a+1, b+1) > 1/2) = P(Binomial(a+b+1, 1/2) <= a), exactly."""
    n = a + b + 1
    return Fraction(sum(comb(n, j) for j in range(a + 1)), 2**n)


def _authors_integral(a: float, b: float) -> float:
    """The ratio of integrals the authors' BetaStoppingCriteria evaluates."""

    def f(x: float) -> float:
        return x**a * (1 - x) ** b

    return integrate.quad(f, 0.5, 1)[0] / integrate.quad(f, 0, 1)[0]


@pytest.mark.parametrize(("a", "b"), [(a, b) for a in range(0, 9) for b in range(0, a + 1)])
def test_closed_form_matches_exact_binomial_and_the_authors_integral(a, b):
    p = leader_probability(a, b)
    assert p == pytest.approx(float(_binomial_form(a, b)), abs=1e-14)
    assert p == pytest.approx(_authors_integral(a, b), abs=1e-10)


def test_hand_values():
    assert leader_probability(1, 0) == 0.75
    assert leader_probability(2, 0) == 0.875
    assert leader_probability(3, 0) == 0.9375
    assert leader_probability(4, 0) == 0.96875
    assert leader_probability(3, 1) == 0.8125  # 26/32
    assert leader_probability(5, 5) == pytest.approx(0.5)


def test_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    for a, b in [(6, 2), (10, 7), (3.5, 1.25)]:
        draws = rng.beta(a + 1, b + 1, size=400_000)
        assert leader_probability(a, b) == pytest.approx(np.mean(draws > 0.5), abs=4e-3)


def test_large_counts_stay_accurate():
    # 60 vs 40: integrand underflows nothing in the closed form
    assert leader_probability(60, 40) == pytest.approx(float(_binomial_form(60, 40)), abs=1e-12)


def test_counts_from_answers_follow_most_common_two():
    assert top_two_counts(["5", "4", "4", "6", "5", "4"]) == ("4", 3, 2)
    assert top_two_counts(["a", "b"]) == ("a", 1, 1)  # tie: seen first
    assert top_two_counts([None, "x", None]) == ("x", 1, 0)  # None does not vote
    # third answers are ignored, as in the authors' code: a=3 ("4"), b=2 ("5")
    answers = ["4", "5", "4", "6", "5", "4", "7"]
    assert beta_leader_probability(answers) == float(_binomial_form(3, 2))


def test_stop_decisions():
    assert not beta_should_stop(["4"] * 3)  # 15/16 < 0.95
    assert beta_should_stop(["4"] * 4)  # 31/32 >= 0.95
    assert beta_should_stop(["4"] * 3, threshold=0.9375)  # >= as the authors
    assert not beta_should_stop(["4"] * 4 + ["5"])  # a=4, b=1: 57/64 = 0.89
    assert beta_leader_probability([]) == 0.5
    with pytest.raises(TTCConfigError):
        beta_should_stop(["4"], threshold=1.5)
    with pytest.raises(TTCConfigError):
        leader_probability(1, 2)


def test_esc_window_rule():
    assert esc_answer(["3"] * 5) == "3"
    assert esc_should_stop(["3"] * 5)
    assert not esc_should_stop(["3"] * 4)  # no complete window
    assert not esc_should_stop(["3"] * 4 + ["4"])
    # the second window is unanimous; answers past the boundary (in flight) do not hide it
    answers = ["1", "2", "1", "1", "1"] + ["2"] * 5 + ["1", "3"]
    assert esc_answer(answers) == "2"
    # ESC returns the window's answer even where the vote over all samples would differ
    answers = ["B", "B", "B", "B", "C"] * 2 + ["A"] * 5
    assert esc_answer(answers) == "A"
    assert not esc_should_stop([None] * 5)  # unparsed answers are not unanimous
    with pytest.raises(TTCConfigError):
        esc_answer(["1"], window=0)
