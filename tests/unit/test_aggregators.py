"""Aggregators as pure functions, against hand-computed cases and brute force."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from langgraph_ttc.aggregators import best_of_n, filter_vote, majority_vote, weighted_best_of_n


def test_majority_tie_goes_to_the_earliest_answer():
    assert majority_vote(["b", "a", "a", "b"]).answer == "b"
    assert majority_vote(["b", "a", "a", "b"]).index == 0


def test_none_answers_do_not_vote():
    result = majority_vote([None, None, "3"])
    assert (result.answer, result.index, result.confidence) == ("3", 2, 1.0)
    assert majority_vote([None, None]).answer is None


def test_weighted_best_of_n_sums_scores_per_answer():
    # Snell et al.: 0.3 + 0.3 for "4" beats a single 0.5 for "5"
    assert weighted_best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer == "4"
    assert best_of_n(["4", "5", "4"], [0.3, 0.5, 0.3]).answer == "5"


def test_weighted_best_of_n_exact_ties_go_to_the_earliest_candidate():
    # Issue 13: 0.3 + 0.6 = 0.8999999999999999 in floating point, but it ties 0.9 exactly, so
    # the documented rule (earliest candidate) decides: "b" comes first.
    assert 0.3 + 0.6 != 0.9
    assert weighted_best_of_n(["b", "b", "a"], [0.3, 0.6, 0.9]).answer == "b"
    assert weighted_best_of_n(["a", "b", "b"], [0.9, 0.3, 0.6]).answer == "a"
    # 0.1 + 0.2 = 0.30000000000000004 ties 0.3 too; earliest ("c") wins.
    assert weighted_best_of_n(["c", "d", "c"], [0.1, 0.3, 0.2]).index == 0
    # A real difference still wins: 0.3 + 0.61 = 0.91 > 0.9.
    assert weighted_best_of_n(["b", "b", "a"], [0.3, 0.61, 0.9]).answer == "b"
    assert weighted_best_of_n(["b", "b", "a"], [0.3, 0.59, 0.9]).answer == "a"


def test_the_weighted_best_of_n_estimator_follows_the_same_tie_rule():
    # k = 3 of 3: every order draws all three; "b" (0.3 + 0.6) ties "a" (0.9), so the answer
    # seen first wins: "b" first in 4 of the 6 orders -> value 4/6 with only "b" right.
    from langgraph_ttc.scaling import weighted_best_of_n_at_k

    value = weighted_best_of_n_at_k(
        ["b", "b", "a"], [1, 1, 0], [0.3, 0.6, 0.9], 3, rng=np.random.default_rng(0), n_sub=6000
    )
    assert abs(value - 4 / 6) < 0.03


def test_filter_vote_keeps_judged_correct_and_falls_back():
    assert filter_vote(["1", "2", "2"], [True, None, False]).answer == "1"
    fallback = filter_vote(["1", "2", "2"], [None, False, False])
    assert fallback.answer == "2" and fallback.method == "filter_vote_fallback"


@given(st.lists(st.one_of(st.none(), st.sampled_from("abcd")), max_size=12))
def test_majority_matches_counter(answers):
    counts = Counter(a for a in answers if a is not None)
    result = majority_vote(answers)
    if not counts:
        assert result.answer is None
        return
    top = max(counts.values())
    assert counts[result.answer] == top
    assert answers.index(result.answer) == min(
        answers.index(a) for a, c in counts.items() if c == top
    )
