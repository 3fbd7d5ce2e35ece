"""Token and trace confidence measures against hand-computed values and brute force."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from langgraph_ttc.confidence import (
    LOGPROB_FLOOR,
    OnlineGroupConfidence,
    TraceConfidence,
    bottom_percent_group_confidence,
    group_confidences,
    group_record_lows,
    lowest_group_confidence,
    mean_confidence,
    mean_logprob,
    online_stop_position,
    self_certainty,
    tail_confidence,
    token_confidence,
    token_confidences,
    token_entropy,
)
from langgraph_ttc.errors import TTCConfigError

# A 3-token trace with the top-2 log-probabilities at each position, worked by hand:
#   C_1 = -(-1.0 - 3.0) / 2 = 2.0,  C_2 = -(-0.5 - 1.5) / 2 = 1.0,  C_3 = -(-2.0 - 4.0) / 2 = 3.0
TOP2 = [[-1.0, -3.0], [-0.5, -1.5], [-2.0, -4.0]]
SAMPLED = [-1.0, -1.5, -2.0]  # the sampled token was not always the top one


def test_token_confidences_by_hand():
    assert token_confidences(TOP2).tolist() == [2.0, 1.0, 3.0]
    assert token_confidences(TOP2, k=1).tolist() == [1.0, 0.5, 2.0]
    assert token_confidences(TOP2, k=20).tolist() == [2.0, 1.0, 3.0]  # fewer than k: all given
    assert token_confidences(np.array(TOP2)).tolist() == [2.0, 1.0, 3.0]
    assert [token_confidence(row) for row in TOP2] == [2.0, 1.0, 3.0]


def test_ragged_rows_average_what_they_have_and_empty_rows_score_zero():
    # authors' vLLM patch: -sum(alternatives) / len(alternatives); 0.0 with none
    rows = [[-1.0, -3.0, -5.0], [-2.0], []]
    assert token_confidences(rows).tolist() == [3.0, 2.0, 0.0]
    assert token_confidences(rows, k=2).tolist() == [2.0, 2.0, 0.0]
    assert [token_confidence(r, k=2) for r in rows] == [2.0, 2.0, 0.0]


def test_k_takes_the_largest_even_from_an_unsorted_row():
    assert token_confidences([[-3.0, -1.0, -2.0]], k=2).tolist() == [1.5]
    assert token_confidence([-3.0, -1.0, -2.0], k=2) == 1.5


def test_minus_infinity_is_raised_to_the_floor():
    conf = token_confidences([[0.0, -math.inf]])
    assert conf.tolist() == [-LOGPROB_FLOOR / 2]
    assert token_confidence([0.0, -math.inf]) == -LOGPROB_FLOOR / 2


def test_token_entropy_is_a_truncated_lower_bound():
    half = math.log(0.5)
    quarter = math.log(0.25)
    # full distribution {0.5, 0.25, 0.25}: H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2
    assert token_entropy([[half, quarter, quarter]])[0] == pytest.approx(1.5 * math.log(2))
    # top-2 of it: 0.5 ln 2 + 0.25 ln 4 = ln 2, below the full entropy
    assert token_entropy([[half, quarter, quarter]], k=2)[0] == pytest.approx(math.log(2))
    assert token_entropy([[0.0, -math.inf]])[0] == 0.0


def test_group_confidences_by_hand():
    conf = token_confidences(TOP2)  # [2, 1, 3]
    assert group_confidences(conf, window=2).tolist() == [1.5, 2.0]
    assert group_confidences(conf, window=3).tolist() == [2.0]
    assert group_confidences(conf, window=5).tolist() == [2.0]  # shorter: the whole trace
    assert group_confidences([], window=5).tolist() == [0.0]  # authors' [0]
    with pytest.raises(TTCConfigError):
        group_confidences(conf, window=0)


def test_group_confidences_match_brute_force_full_windows():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0, 20, size=300)
    for window in (1, 7, 64, 300):
        brute = [np.mean(conf[i : i + window]) for i in range(len(conf) - window + 1)]
        np.testing.assert_allclose(group_confidences(conf, window), brute, rtol=1e-12)


def test_trace_statistics_by_hand():
    conf = [2.0, 1.0, 3.0]
    assert mean_confidence(conf) == 2.0
    assert lowest_group_confidence(conf, window=2) == 1.5
    assert lowest_group_confidence(conf, window=1) == 1.0
    assert bottom_percent_group_confidence(conf, window=2) == 1.5  # max(1, floor(0.2)) window
    assert tail_confidence(conf, tail=2) == 2.0
    assert tail_confidence(conf, tail=10) == 2.0  # fewer tokens than the tail: all
    assert mean_confidence([]) == tail_confidence([]) == lowest_group_confidence([]) == 0.0


def test_bottom_percent_counts_windows_as_the_authors():
    # 25 windows of 1 token: floor(25 * 10 / 100) = 2 lowest windows, mean of 0 and 1
    conf = [float(v) for v in range(24, -1, -1)]
    assert bottom_percent_group_confidence(conf, window=1, percent=10) == 0.5
    # 9 windows: floor(0.9) = 0 -> at least 1, the minimum
    assert bottom_percent_group_confidence(conf[:9], window=1, percent=10) == 16.0
    rng = np.random.default_rng(5)
    conf = rng.uniform(0, 20, size=500)
    groups = np.sort(group_confidences(conf, 50))
    count = int(len(groups) * 10 / 100)
    assert bottom_percent_group_confidence(conf, 50, 10) == pytest.approx(groups[:count].mean())


def test_mean_logprob_by_hand():
    assert mean_logprob(SAMPLED) == -1.5
    assert math.isnan(mean_logprob([]))


def _full_distributions(rng, tokens, vocab):
    logits = rng.normal(0, 3, size=(tokens, vocab))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.sort(-logp, axis=1)  # descending rows


def test_self_certainty_equals_kl_from_uniform_on_full_distributions():
    rng = np.random.default_rng(11)
    vocab = 50
    logp = _full_distributions(rng, 40, vocab)
    # KL(U || P_i) = sum_j (1/V) log((1/V) / P_i(j)), averaged over tokens (Kang et al. 2025)
    direct = np.mean([np.sum((1 / vocab) * (-math.log(vocab) - row)) for row in logp])
    assert self_certainty(logp) == pytest.approx(direct, rel=1e-12)
    assert self_certainty(logp, vocab_size=vocab) == pytest.approx(direct, rel=1e-12)
    assert self_certainty(logp.tolist()) == pytest.approx(direct, rel=1e-12)


def test_self_certainty_top_k_approximations():
    rng = np.random.default_rng(12)
    vocab = 50
    logp = _full_distributions(rng, 40, vocab)
    true = self_certainty(logp)
    top = logp[:, :10]
    # uniform unseen tail: a lower bound on the true KL given the top-k (Jensen)
    assert self_certainty(top, vocab_size=vocab) <= true + 1e-12
    # renormalised top-k, by hand for one position: probabilities {0.5, 0.25} -> {2/3, 1/3}
    row = [[math.log(0.5), math.log(0.25)]]
    by_hand = -math.log(2) - (math.log(2 / 3) + math.log(1 / 3)) / 2
    assert self_certainty(row) == pytest.approx(by_hand)
    with pytest.raises(TTCConfigError):
        self_certainty(logp, vocab_size=10)


def test_self_certainty_with_vocab_survives_a_top_k_mass_of_one():
    # top-1 mass rounds to 1: unseen mass is taken as float64 eps, finite result
    value = self_certainty([[0.0, -40.0]], vocab_size=1000)
    assert math.isfinite(value) and value > 0


def test_record_lows_replay_the_online_stop_for_any_threshold():
    rng = np.random.default_rng(7)
    conf = rng.uniform(0, 10, size=200)
    window = 16
    groups = group_confidences(conf, window)
    lows = group_record_lows(conf, window)
    assert lows[0] == (window, groups[0])
    for threshold in np.linspace(groups.min() - 1, groups.max() + 1, 41):
        below = np.flatnonzero(groups < threshold)
        expected = int(below[0]) + window if below.size else None
        assert online_stop_position(conf, threshold, window) == expected
    assert group_record_lows(conf[:10], window) == ()  # never a full window: never stopped


def test_trace_confidence_summary_by_hand():
    tc = TraceConfidence.from_logprobs(TOP2, SAMPLED, window=2, tail=2)
    assert (tc.tokens, tc.mean, tc.lowest_group, tc.bottom_group, tc.tail) == (
        3,
        2.0,
        1.5,
        1.5,
        2.0,
    )
    assert tc.mean_logprob == -1.5
    assert tc.record_lows == ((2, 1.5),)
    assert tc.stop_position(1.6) == 2 and tc.stop_position(1.5) is None
    renormalised = self_certainty(TOP2)
    assert tc.self_certainty == pytest.approx(renormalised)
    only_top1 = TraceConfidence.from_logprobs(TOP2, SAMPLED, window=2, k=1)
    assert only_top1.self_certainty is None


def test_trace_confidence_round_trips_through_json():
    tc = TraceConfidence.from_logprobs(TOP2, SAMPLED, window=2, tail=2)
    restored = TraceConfidence.from_dict(json.loads(json.dumps(tc.to_dict())))
    assert restored == tc
    no_sampled = TraceConfidence.from_logprobs(TOP2, None, window=2)
    assert TraceConfidence.from_dict(no_sampled.to_dict()).mean_logprob is None


def test_trace_confidence_edge_cases():
    empty = TraceConfidence.from_logprobs([], [])
    assert (empty.tokens, empty.mean, empty.lowest_group, empty.record_lows) == (0, 0.0, 0.0, ())
    with pytest.raises(TTCConfigError, match="top_logprobs"):
        TraceConfidence.from_logprobs([], [-1.0])


def test_online_tracker_equals_offline_at_every_prefix():
    rng = np.random.default_rng(9)
    conf = rng.uniform(0, 20, size=120)
    window = 7
    tracker = OnlineGroupConfidence(window)
    for n, c in enumerate(conf, start=1):
        current = tracker.push(c)
        prefix = conf[:n]
        assert current == pytest.approx(np.mean(prefix[-window:]), rel=1e-12)
        assert tracker.lowest == pytest.approx(lowest_group_confidence(prefix, window), rel=1e-12)
        assert tracker.full == (n >= window)


def test_online_tracker_stops_only_on_a_full_window():
    tracker = OnlineGroupConfidence(window=3)
    for c in [0.5, 0.25]:
        tracker.push(c)
    assert not tracker.should_stop(5.0)  # window not yet full, as the authors' processor
    tracker.push(0.75)
    # Binary fractions: the window's mean is exactly 0.5, so a mean equal to the threshold
    # really is tested (with 0.1s it would be 0.10000000000000002 and pass under <= too).
    assert tracker.current == 0.5
    assert tracker.should_stop(0.5 + 2**-10) and not tracker.should_stop(0.5)  # strict <


def test_online_tracker_from_top_logprobs_and_long_runs():
    tracker = OnlineGroupConfidence(window=2)
    assert [tracker.push_top_logprobs(row) for row in TOP2] == [2.0, 1.5, 2.0]
    # drift control: many tokens, still equal to the offline value
    rng = np.random.default_rng(10)
    conf = rng.uniform(0, 20, size=5000)
    tracker = OnlineGroupConfidence(window=64)
    for c in conf:
        tracker.push(c)
    assert tracker.current == pytest.approx(conf[-64:].mean(), rel=1e-12)
    assert tracker.lowest == pytest.approx(lowest_group_confidence(conf, 64), rel=1e-12)
