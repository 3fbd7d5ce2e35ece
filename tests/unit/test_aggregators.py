"""Aggregators as pure functions, against hand-computed cases and brute force."""

from __future__ import annotations

from collections import Counter

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
