"""Estimators vs brute force over every ordered k-subset, and vs the binomial on a noisy oracle."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_ttc.aggregators import best_of_n, filter_vote, majority_vote, weighted_best_of_n
from langgraph_ttc.aggregators._exact_vote import win_probabilities
from langgraph_ttc.scaling import (
    PoolSamples,
    ProblemSamples,
    best_of_n_at_k,
    bootstrap_ci,
    estimate_curves,
    filter_vote_at_k,
    majority_at_k,
    pass_at_k,
    weighted_best_of_n_at_k,
)

ANSWERS = [None, "a", "b", "c", "d"]


def _random_pool(rng: random.Random, n: int):
    """Answers with correctness a property of the answer ("a" right), verdicts and scores."""
    answers = [rng.choice(ANSWERS) for _ in range(n)]
    correct = [1.0 if a == "a" else 0.0 for a in answers]
    verdicts = [rng.choice([1.0, 0.0, None]) for _ in range(n)]
    scores = [rng.choice([0.0, 0.25, 0.5, 1.0, None]) for _ in range(n)]
    return answers, correct, verdicts, scores


def _brute(answers, correct, k, pick) -> float:
    """Mean over every ordered k-tuple of distinct samples of the picked answer's correctness."""
    value = {a: c for a, c in zip(answers, correct, strict=True) if a is not None}
    total = count = 0
    for order in itertools.permutations(range(len(answers)), k):
        winner = pick(list(order))
        total += 0.0 if winner is None else value[winner]
        count += 1
    return total / count


def _zero(scores):
    return [0.0 if s is None else s for s in scores]


POOLS = [(seed, n, k) for seed in range(12) for n in (3, 5, 7) for k in range(1, n + 1)]


@pytest.mark.parametrize(("seed", "n", "k"), POOLS)
def test_exact_estimators_match_brute_force(seed, n, k):
    answers, correct, verdicts, scores = _random_pool(random.Random(seed * 31 + n), n)
    zero = _zero(scores)

    def majority(order):
        return majority_vote([answers[i] for i in order]).answer

    def filtered(order):
        kept = [verdicts[i] is not None and verdicts[i] >= 0.5 for i in order]
        return filter_vote([answers[i] for i in order], kept).answer

    def best(order):
        return best_of_n([answers[i] for i in order], [zero[i] for i in order]).answer

    assert majority_at_k(answers, correct, k) == pytest.approx(
        _brute(answers, correct, k, majority), abs=1e-9
    )
    assert filter_vote_at_k(answers, correct, verdicts, k) == pytest.approx(
        _brute(answers, correct, k, filtered), abs=1e-9
    )
    assert best_of_n_at_k(answers, correct, scores, k) == pytest.approx(
        _brute(answers, correct, k, best), abs=1e-9
    )
    c = sum(1 for x in correct if x >= 0.5)
    any_correct = _brute(
        answers, correct, k, lambda order: "a" if any(correct[i] for i in order) else None
    )
    assert pass_at_k(n, c, k) == pytest.approx(any_correct if "a" in answers else 0.0, abs=1e-9)


def test_best_of_n_at_k_credits_the_winning_samples_own_grade():
    # Issue 13: both samples say "x", the top-scored one is right: best-of-2 is always right.
    assert best_of_n_at_k(["x", "x"], [1, 0], [0.9, 0.1], 2) == 1.0
    assert best_of_n_at_k(["x", "x"], [1, 0], [0.9, 0.1], 1) == 0.5
    # By hand, k=2 of 3: {0,1} -> sample 1 (0.8, right); {0,2} -> sample 2 (0.5, wrong);
    # {1,2} -> sample 1: 2/3. (Crediting "x"'s mean correctness, 1/2, would give 1/2.)
    assert best_of_n_at_k(["x", "x", "y"], [0, 1, 0], [0.2, 0.8, 0.5], 2) == pytest.approx(2 / 3)


def _brute_own_grade(answers, correct, k, pick) -> float:
    """Mean over every ordered k-tuple of the grade of the sample the aggregator returns
    (``pick`` gives its position in the tuple), as a live run grades the returned candidate."""
    total = count = 0
    for order in itertools.permutations(range(len(answers)), k):
        index = pick(list(order))
        total += 0.0 if index is None else correct[order[index]]
        count += 1
    return total / count


@pytest.mark.parametrize(
    ("seed", "n", "k"), [(s, n, k) for s in range(6) for n in (4, 6) for k in (1, 2, 3, n)]
)
def test_estimators_grade_the_returned_sample_like_a_live_run(seed, n, k):
    # Grades that are NOT a function of the answer (a flaky grader): each sample its own.
    rng = random.Random(500 + seed * 7 + n)
    answers, _, verdicts, scores = _random_pool(rng, n)
    correct = [float(rng.random() < 0.5) for _ in answers]
    zero = _zero(scores)

    def majority(order):
        return majority_vote([answers[i] for i in order]).index

    def filtered(order):
        kept = [verdicts[i] is not None and verdicts[i] >= 0.5 for i in order]
        return filter_vote([answers[i] for i in order], kept).index

    def best(order):
        return best_of_n([answers[i] for i in order], [zero[i] for i in order]).index

    def weighted(order):
        return weighted_best_of_n([answers[i] for i in order], [zero[i] for i in order]).index

    assert best_of_n_at_k(answers, correct, scores, k) == pytest.approx(
        _brute_own_grade(answers, correct, k, best), abs=1e-9
    )
    assert majority_at_k(answers, correct, k) == pytest.approx(
        _brute_own_grade(answers, correct, k, majority), abs=1e-9
    )
    assert filter_vote_at_k(answers, correct, verdicts, k) == pytest.approx(
        _brute_own_grade(answers, correct, k, filtered), abs=1e-9
    )
    estimate = weighted_best_of_n_at_k(
        answers, correct, scores, k, rng=np.random.default_rng(seed), n_sub=3000
    )
    assert estimate == pytest.approx(_brute_own_grade(answers, correct, k, weighted), abs=0.04)


@pytest.mark.parametrize("seed", range(6))
def test_weighted_best_of_n_monte_carlo_close_to_brute_force(seed):
    answers, correct, _, scores = _random_pool(random.Random(100 + seed), 6)
    zero = _zero(scores)
    for k in (2, 4, 6):
        exact = _brute(
            answers,
            correct,
            k,
            lambda order: (
                weighted_best_of_n([answers[i] for i in order], [zero[i] for i in order]).answer
            ),
        )
        rng = np.random.default_rng(seed)
        estimate = weighted_best_of_n_at_k(answers, correct, scores, k, rng=rng, n_sub=3000)
        assert estimate == pytest.approx(exact, abs=0.04)  # ~4.5 standard errors


@pytest.mark.parametrize("score", [0.0, 0.7])
def test_weighted_best_of_n_equal_scores_is_exact(score):
    answers = ["a", "b", "b", None, "a", "c", "a"]
    correct = [1.0 if a == "a" else 0.0 for a in answers]
    scores = [score] * len(answers)
    for k in range(1, len(answers) + 1):
        exact = _brute(
            answers,
            correct,
            k,
            lambda order: (
                weighted_best_of_n([answers[i] for i in order], [score] * len(order)).answer
            ),
        )
        assert weighted_best_of_n_at_k(answers, correct, scores, k) == pytest.approx(exact)


def test_majority_beyond_the_exact_range_uses_monte_carlo():
    answers = ["a"] * 400 + ["b"] * 300 + [None] * 10
    correct = [1.0] * 400 + [0.0] * 310
    estimate = majority_at_k(answers, correct, 650, rng=np.random.default_rng(0), n_sub=50)
    assert estimate == pytest.approx(1.0, abs=1e-9)  # 650 of 710: "a" always wins


def test_pass_at_k_known_values():
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))
    assert pass_at_k(100, 3, 98) == 1.0  # n - c < k
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    n_none=st.integers(0, 4),
    data=st.data(),
)
def test_win_probabilities_are_a_distribution(counts, n_none, data):
    n = sum(counts) + n_none
    k = data.draw(st.integers(1, n))
    wins = win_probabilities(counts, n_none, k)
    assert (wins >= -1e-12).all()
    # Someone wins unless every drawn sample is answerless.
    p_no_answer = math.comb(n_none, k) / math.comb(n, k)
    assert wins.sum() == pytest.approx(1 - p_no_answer, abs=1e-9)
    # An answer with more samples never wins less often.
    order = np.argsort(counts, kind="stable")
    assert all(
        wins[order[i]] <= wins[order[i + 1]] + 1e-9
        for i in range(len(order) - 1)
        if counts[order[i]] < counts[order[i + 1]]
    )


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_pass_at_k_is_monotone_in_k_and_c(n, data):
    c = data.draw(st.integers(0, n))
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
    if c < n:
        assert pass_at_k(n, c, 1) <= pass_at_k(n, c + 1, 1)


@settings(max_examples=40, deadline=None)
@given(
    answers=st.lists(st.sampled_from(ANSWERS), min_size=1, max_size=12),
)
def test_k_equal_one_is_the_mean_value(answers):
    correct = [1.0 if a == "a" else 0.0 for a in answers]
    mean = float(np.mean(correct))
    assert majority_at_k(answers, correct, 1) == pytest.approx(mean)
    assert best_of_n_at_k(answers, correct, [0.5] * len(answers), 1) == pytest.approx(mean)
    assert filter_vote_at_k(answers, correct, [None] * len(answers), 1) == pytest.approx(mean)


# -- against the binomial, on a pool drawn from a noisy oracle -------------------------------


def _oracle_pool(p: float, n_questions: int, n_samples: int, wrong: int):
    """A pool whose questions are right with probability p; ``wrong`` distinct wrong answers."""
    from langgraph_ttc.testing import FakeBackend, NoisyOracle

    questions = {f"What is {i} + 1000?": (str(i + 1000), p) for i in range(n_questions)}
    wrongs = {q: [str(int(a) + d) for d in range(1, wrong + 1)] for q, (a, _) in questions.items()}
    backend = FakeBackend(reply=NoisyOracle(questions, wrong_answers=wrongs))
    problems = []
    for index, (question, (answer, _)) in enumerate(questions.items()):
        texts = [backend.reply([("human", question)], seed) for seed in range(n_samples)]
        got = [t.removeprefix("The answer is ").rstrip(".") for t in texts]
        problems.append(
            ProblemSamples.from_lists(str(index), got, [float(g == answer) for g in got])
        )
    return PoolSamples({}, tuple(problems))


def _binomial_majority(k: int, p: float) -> float:
    """P(the right answer wins a 2-answer vote of k): more than half, or half and the coin flip."""
    win = sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))
    if k % 2 == 0:
        win += 0.5 * math.comb(k, k // 2) * (p * (1 - p)) ** (k // 2)
    return win


@pytest.mark.parametrize("p", [0.3, 0.6])
def test_oracle_pool_matches_the_binomial(p):
    pool = _oracle_pool(p, n_questions=60, n_samples=24, wrong=1)
    ks = [1, 2, 3, 5, 8, 13]
    curves = estimate_curves(pool, ["coverage", "majority"], ks, n_boot=200)
    for j, k in enumerate(ks):
        coverage = curves.per_problem["coverage"][:, j]
        majority = curves.per_problem["majority"][:, j]
        # Each per-question estimate is unbiased; their mean is within a few standard errors.
        se_cov = coverage.std(ddof=1) / math.sqrt(len(coverage)) + 0.01
        se_maj = majority.std(ddof=1) / math.sqrt(len(majority)) + 0.01
        assert coverage.mean() == pytest.approx(1 - (1 - p) ** k, abs=4 * se_cov)
        assert majority.mean() == pytest.approx(_binomial_majority(k, p), abs=4 * se_maj)
        point = curves.points["majority"][j]
        assert point.ci_low <= point.accuracy <= point.ci_high
        assert point.mean_calls == k


def test_costs_count_filter_and_verifier_calls():
    problem = ProblemSamples.from_lists(
        "q",
        ["1", "2", None, "1"],
        [1, 0, 0, 1],
        verdicts=[1, 0, None, None],
        verifier_scores=[0.9, 0.1, None, 0.8],
        generate_tokens=[10, 10, 10, 10],
        critique_tokens=[5, 5, 0, 5],
        verify_tokens=[7, 7, 0, 7],
        verify_calls=[1, 1, 0, 1],
    )
    pool = PoolSamples({}, (problem,))
    curves = estimate_curves(pool, ["majority", "filter_vote", "best_of_n"], [2], n_boot=0)
    assert curves.score_source == "verifier"
    assert curves.points["majority"][0].mean_calls == 2
    assert curves.points["filter_vote"][0].mean_calls == pytest.approx(2 * 1.75)
    assert curves.points["filter_vote"][0].mean_tokens == pytest.approx(2 * 13.75)
    assert curves.points["best_of_n"][0].mean_calls == pytest.approx(2 * 1.75)
    critique_based = estimate_curves(pool, ["best_of_n"], [2], n_boot=0, source="critique")
    assert critique_based.score_source == "critique"


def test_bootstrap_interval_brackets_the_mean_and_degenerates():
    matrix = np.array([[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]])
    low, high = bootstrap_ci(matrix, n_boot=500, seed=3)
    assert low[0] <= 0.5 <= high[0]
    assert low[1] == high[1] == 1.0
    single_low, single_high = bootstrap_ci(matrix[:1])
    assert single_low.tolist() == single_high.tolist() == [0.0, 1.0]
