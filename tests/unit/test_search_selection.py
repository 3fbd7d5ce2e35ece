"""Pure selection rules of the searches, checked against hand-computed cases."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.search.selection import (
    beam_shape,
    beam_widths,
    dvts_widths,
    fit_widths,
    ranked,
    rebase_widths,
    reduce_scores,
    resolve_m,
    softmax,
)
from langgraph_ttc.strategies import BeamSearch, Dvts, Lookahead, Rebase


def test_softmax_by_hand():
    # e^0.9, e^0.5, e^0.1 = 2.4596, 1.6487, 1.1052; sum 5.2135
    assert softmax([0.9, 0.5, 0.1], 1.0) == pytest.approx([0.47178, 0.31624, 0.21198], abs=1e-5)
    # T = 0.1: e^9, e^5, e^1 = 8103.08, 148.41, 2.718; sum 8254.21
    assert softmax([0.9, 0.5, 0.1], 0.1) == pytest.approx([0.98169, 0.01798, 0.00033], abs=1e-5)
    assert softmax([], 0.1) == []
    with pytest.raises(TTCConfigError):
        softmax([1.0], 0.0)


@pytest.mark.parametrize(
    "scores,budget,temperature,expected",
    [
        # The issue's repros (authors' rule, thu-wyz/inference_scaling rebase.py select_softmax):
        # equal scores, p = 1/3 each: ceil(4/3)=2; then 2 left over 2/3 of the mass: ceil(1)=1;
        # then 1 left over the last 1/3: 1.
        ([0.5, 0.5, 0.5], 4, 0.1, [2, 1, 1]),
        # T=0.2: e^(R/T) ~ [90.0, 54.6, 33.1, 20.1, 12.2], p = [.4287, .2600, .1577, .0956, .0580]:
        # ceil(1.715)=2; 2 * .2600/.5713 = 0.910 -> 1; 1 * .1577/.3113 = 0.507 -> 1; nothing left.
        ([0.9, 0.8, 0.7, 0.6, 0.5], 4, 0.2, [2, 1, 1, 0, 0]),
        # p = [.4718, .3162, .2120]; B=4: ceil(1.887)=2; 2 * .3162/.5282 = 1.197 -> 2; none left
        ([0.9, 0.5, 0.1], 4, 1.0, [2, 2, 0]),
        # p = [.9817, .0180, .0003]; ceil(3.927)=4 takes all of B
        ([0.9, 0.5, 0.1], 4, 0.1, [4, 0, 0]),
        # B=100, T=0.1: ceil(98.17)=99; 1 * .0180/.0183 = 0.98 -> 1; 0
        ([0.9, 0.5, 0.1], 100, 0.1, [99, 1, 0]),
        # allocation walks by score, not by position: [0.1, 0.9] -> p = [.0003, .9997]
        ([0.1, 0.9], 3, 0.1, [0, 3]),
        # T = 0.2 (the authors' code): e^(0.8/0.2)=e^4 vs 1 -> p = [.9820, .0180]; B=8
        ([0.8, 0.0], 8, 0.2, [8, 0]),
        # T = 1: p = [.5987, .4013] for [0.6, 0.2]; B=5: ceil(2.99)=3, then 2 left over the rest
        ([0.6, 0.2], 5, 1.0, [3, 2]),
        ([0.6, 0.2], 0, 1.0, [0, 0]),
        ([], 4, 0.1, []),
    ],
)
def test_rebase_widths_by_hand(scores, budget, temperature, expected):
    assert rebase_widths(scores, budget, temperature) == expected
    assert rebase_widths(scores, budget, temperature, rule="authors") == expected


@pytest.mark.parametrize(
    "scores,budget,temperature,expected",
    [
        # Wu et al. 2024, Eq. 1: Round(B * p). B * p = [1.33, 1.33, 1.33] -> [1, 1, 1] (sum 3 < B)
        ([0.5, 0.5, 0.5], 4, 0.1, [1, 1, 1]),
        # B * p = [1.715, 1.040, 0.631, 0.383, 0.232] -> [2, 1, 1, 0, 0] (here paper = code)
        ([0.9, 0.8, 0.7, 0.6, 0.5], 4, 0.2, [2, 1, 1, 0, 0]),
        # B * p = [1.887, 1.265, 0.848] -> [2, 1, 1]
        ([0.9, 0.5, 0.1], 4, 1.0, [2, 1, 1]),
        # equal scores, B=3 over 2: 1.5 each, halves round up -> [2, 2] (sum 4 > B)
        ([0.3, 0.3], 3, 0.1, [2, 2]),
    ],
)
def test_rebase_widths_paper_rule_by_hand(scores, budget, temperature, expected):
    assert rebase_widths(scores, budget, temperature, rule="paper") == expected


def test_rebase_rejects_an_unknown_rule():
    with pytest.raises(TTCConfigError, match="authors"):
        rebase_widths([0.5], 4, 0.1, rule="round")
    with pytest.raises(TTCConfigError, match="rule"):
        Rebase(rule="round")


def _authors_rule(scores, budget, temperature):
    """An independent reading of the authors' select_softmax (exact fractions; no tolerance):
    sort by score (earlier first on ties), then width_j = ceil(W * e_j / S) with W and S what
    is left of the width and of the mass."""
    from fractions import Fraction

    top = max(scores)
    mass = [Fraction(math.exp((s - top) / temperature)) for s in scores]
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    out = [0] * len(scores)
    width, left_mass = budget, sum(mass)
    for i in order:
        if left_mass == 0:
            break
        out[i] = math.ceil(width * mass[i] / left_mass)
        width -= out[i]
        left_mass -= mass[i]
    return out


def test_rebase_matches_the_authors_rule_on_a_random_sweep():
    rng = random.Random(13)
    for _ in range(500):
        scores = [round(rng.random(), 2) for _ in range(rng.randint(1, 10))]
        budget = rng.randint(1, 32)
        temperature = rng.choice([0.05, 0.1, 0.2, 0.5, 1.0])
        widths = rebase_widths(scores, budget, temperature)
        assert widths == _authors_rule(scores, budget, temperature), (scores, budget, temperature)
        assert sum(widths) == budget


@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    st.integers(1, 64),
    st.sampled_from([0.05, 0.1, 0.2, 1.0, 5.0]),
)
def test_rebase_spends_exactly_the_budget_and_favours_higher_scores(scores, budget, temperature):
    widths = rebase_widths(scores, budget, temperature)
    assert sum(widths) == budget
    assert all(w >= 0 for w in widths)
    order = ranked(scores)
    # Along the score order, once a node gets nothing, no lower node gets anything.
    got = [widths[i] for i in order]
    assert got == [w for w in got if w > 0] + [0] * got.count(0)
    # The top node's width is ceil(B * p_top) (the walk starts with the whole budget and mass).
    p = softmax(scores, temperature)
    assert widths[order[0]] == min(math.ceil(budget * p[order[0]] - 1e-9), budget)


@pytest.mark.parametrize(
    "n,m,expected",
    [(16, 4, (4, 4)), (16, 3, (5, 3)), (4, 4, (1, 4)), (2, 4, (1, 2)), (1, 1, (1, 1))],
)
def test_beam_shape(n, m, expected):
    assert beam_shape(n, m) == expected


def test_beam_widths_keep_the_top_n_over_m_and_break_ties_by_position():
    assert beam_widths([0.2, 0.9, 0.5, 0.1], n=4, m=2) == [0, 2, 2, 0]
    assert beam_widths([0.5, 0.5, 0.5, 0.5], n=8, m=4) == [4, 4, 0, 0]
    assert beam_widths([0.3], n=8, m=4) == [4]  # fewer open beams than N/M: all kept
    assert beam_widths([0.1, 0.7, 0.7, 0.3, 0.9, 0.0], n=16, m=4) == [0, 4, 4, 4, 4, 0]


def test_m_sqrt_and_validation():
    assert resolve_m("sqrt", 16) == 4
    assert resolve_m("sqrt", 8) == 2
    assert resolve_m("sqrt", 1) == 1
    for bad in (0, -1, "four", 2.5, True):
        with pytest.raises(TTCConfigError):
            resolve_m(bad, 8)
    assert BeamSearch(n=16, m="sqrt").widths([{}] * 5, [0.1, 0.2, 0.3, 0.4, 0.5], []) == [
        0,
        4,
        4,
        4,
        4,
    ]
    assert BeamSearch(m="4").m == 4  # CLI-style strings of digits are accepted
    with pytest.raises(TTCConfigError):
        BeamSearch(m=0)


def test_dvts_widths_pick_the_best_node_of_each_subtree():
    assert dvts_widths([0.2, 0.6, 0.9, 0.1], subtrees=[0, 0, 1, 1], m=2) == [0, 2, 2, 0]
    assert dvts_widths([0.5, 0.5, 0.4], subtrees=[3, 3, 4], m=4) == [4, 0, 4]
    with pytest.raises(ValueError):
        dvts_widths([0.1], subtrees=[0, 1], m=2)


def test_dvts_strategy_skips_subtrees_with_a_solution():
    frontier = [{"subtree": 0}, {"subtree": 0}, {"subtree": 1}, {"subtree": 1}]
    strategy = Dvts(n=8, m=4)
    assert strategy.subtrees == 2
    assert [strategy.subtree_of_first(i) for i in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert strategy.widths(frontier, [0.1, 0.3, 0.9, 0.2], done=[]) == [0, 4, 4, 0]
    assert strategy.widths(frontier, [0.1, 0.3, 0.9, 0.2], done=[{"subtree": 1}]) == [0, 4, 0, 0]
    # n not a multiple of m: the last subtree takes the rest of the first steps
    assert [Dvts(n=6, m=4).subtree_of_first(i) for i in range(6)] == [0, 0, 0, 0, 0, 0]


def test_rebase_strategy_reduces_the_width_by_finished_solutions():
    strategy = Rebase(n=4, temperature_b=1.0)
    frontier = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    assert strategy.widths(frontier, [0.9, 0.5, 0.1], done=[]) == [2, 2, 0]
    # one solution finished: B = 3; p = [.4718, .3162, .2120]: ceil(1.42)=2, then
    # 1 * .3162/.5282 = 0.60 -> 1, then nothing left
    assert strategy.widths(frontier, [0.9, 0.5, 0.1], done=[{"id": "x"}]) == [2, 1, 0]
    assert strategy.widths(frontier, [0.9, 0.5, 0.1], done=[{}] * 4) == [0, 0, 0]
    assert Rebase().temperature == 1.0 and Rebase().max_rounds == 25
    assert Rebase().rule == "authors"


def test_rebase_strategy_paper_rule_is_trimmed_to_the_budget():
    # Eq. 1 rounds 1.5 and 1.5 up to [2, 2]; B = 3, so the lower-ranked (later) node loses one.
    assert Rebase(n=3, rule="paper").widths([{}, {}], [0.3, 0.3], done=[]) == [2, 1]
    # Three equal scores, B = 4: Round(4/3) = 1 each; Eq. 1 spends 3 of the 4.
    assert Rebase(n=4, rule="paper").widths([{}, {}, {}], [0.5] * 3, done=[]) == [1, 1, 1]
    assert Rebase(n=4, rule="paper").describe() == "rebase n=4 T_b=0.1 rule=paper"


def test_beam_search_stops_once_n_solutions_are_finished():
    strategy = BeamSearch(n=4, m=2)
    assert strategy.widths([{}, {}], [0.5, 0.4], done=[{}] * 3) == [2, 2]
    assert strategy.widths([{}, {}], [0.5, 0.4], done=[{}] * 4) == [0, 0]


def test_fit_widths_cuts_the_lowest_priority_first():
    assert fit_widths([4, 4, 4], priority=[1, 0, 2], affordable=6) == [2, 4, 0]
    assert fit_widths([2, 2], priority=[0, 1], affordable=10) == [2, 2]
    assert fit_widths([2, 2], priority=[0, 1], affordable=0) == [0, 0]


def test_reduce_scores():
    assert reduce_scores([0.9, 0.5, 0.8]) == 0.8
    assert reduce_scores([0.9, 0.5, 0.8], "min") == 0.5
    assert reduce_scores([0.9, 0.5, 0.8], "prod") == pytest.approx(0.36)
    assert reduce_scores([], "min") == 0.0
    with pytest.raises(TTCConfigError):
        reduce_scores([0.1], "mean")  # type: ignore[arg-type]


def test_strategy_options_are_validated():
    with pytest.raises(TTCConfigError):
        BeamSearch(max_rounds=0)
    with pytest.raises(TTCConfigError):
        BeamSearch(reduce="mean")  # type: ignore[arg-type]
    with pytest.raises(TTCConfigError):
        BeamSearch(segmentation="regex:(")
    with pytest.raises(TTCConfigError):
        Lookahead(k=0)
    with pytest.raises(TTCConfigError):
        Rebase(temperature_b=0)
    assert Lookahead(k=3).rollout_steps == 3 and BeamSearch().rollout_steps == 0
    assert BeamSearch().max_rounds == 40 and BeamSearch().m == 4
