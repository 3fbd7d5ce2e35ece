"""DeepConf's offline and online rules on hand-computed cases and scripted log-prob streams."""

from __future__ import annotations

import numpy as np
import pytest

from langgraph_ttc.aggregators import Aggregate
from langgraph_ttc.aggregators.deepconf import (
    confidence_weighted_vote,
    consensus,
    deepconf_filter,
    deepconf_offline_vote,
    deepconf_online_vote,
    online_threshold,
)
from langgraph_ttc.confidence import (
    OnlineGroupConfidence,
    TraceConfidence,
    lowest_group_confidence,
    online_stop_position,
    token_confidences,
)
from langgraph_ttc.errors import TTCConfigError


def test_confidence_weighted_vote_by_hand():
    result = confidence_weighted_vote(["4", "5", "5", None], [3.0, 1.0, 1.5, 99.0])
    assert isinstance(result, Aggregate)
    assert (result.answer, result.index) == ("4", 0)
    assert result.tally == {"4": 3.0, "5": 2.5}
    assert result.confidence == pytest.approx(3.0 / 5.5)
    assert result.method == "confidence_weighted"


def test_ties_within_float_tolerance_go_to_the_earliest():
    # 0.1 + 0.2 != 0.3 in floats, but it is a tie
    assert confidence_weighted_vote(["b", "a", "b"], [0.1, 0.3, 0.2]).answer == "b"
    assert confidence_weighted_vote(["a", "b", "b"], [0.3, 0.1, 0.2]).answer == "a"


def test_vote_rejects_bad_weights_and_handles_no_votes():
    with pytest.raises(TTCConfigError):
        confidence_weighted_vote(["a"], [-1.0])
    with pytest.raises(TTCConfigError):
        confidence_weighted_vote(["a"], [float("nan")])
    with pytest.raises(TTCConfigError):
        confidence_weighted_vote(["a", "b"], [1.0])
    assert confidence_weighted_vote([None], [float("nan")]).answer is None


@pytest.mark.parametrize(
    ("n", "eta", "kept"),
    [
        # np.percentile linear: position (1 - eta/100) * (n - 1); values >= the cut are kept
        (16, 10, 2),  # 13.5 -> ranks 14, 15
        (10, 10, 1),  # 8.1 -> rank 9
        (512, 10, 52),  # 459.9 -> ranks 460..511
        (16, 90, 14),  # 1.5 -> ranks 2..15
        (5, 100, 5),
    ],
)
def test_filter_keeps_the_authors_count(n, eta, kept):
    confidences = [float(v) for v in np.random.default_rng(n).permutation(n)]
    indices = deepconf_filter(confidences, eta)
    assert len(indices) == kept
    assert sorted(confidences[i] for i in indices) == [float(v) for v in range(n - kept, n)]


def test_filter_validates_eta():
    for bad in (0, -5, 101, True):
        with pytest.raises(TTCConfigError, match="eta"):
            deepconf_filter([1.0], bad)
    assert deepconf_filter([], 10) == ()


def test_offline_filtering_changes_the_winner():
    # Eight confident traces say "7" but two even more confident say "9":
    answers = ["7"] * 8 + ["9"] * 2 + [None]
    confidences = [10.0] * 8 + [12.0, 13.0] + [100.0]
    assert confidence_weighted_vote(answers, confidences).answer == "7"  # 80 vs 25
    low = deepconf_offline_vote(answers, confidences, 10)
    # the unanswered trace does not enter the percentile: of 10, eta=10 keeps the top 1
    assert (low.answer, low.index, low.tally) == ("9", 9, {"9": 13.0})
    assert low.method == "deepconf_offline"
    high = deepconf_offline_vote(answers, confidences, 90)  # 9th pct of 10 -> keeps all 10
    assert high.answer == "7" and high.tally == {"7": 80.0, "9": 25.0}


def test_online_threshold_uses_linear_percentile_of_100_minus_eta():
    warmup = [1.0, 4.0, 2.0, 3.0, 5.0]
    assert online_threshold(warmup, 10) == pytest.approx(4.6)  # 0.9 * 4 = 3.6 -> 4 + 0.6
    assert online_threshold(warmup, 90) == pytest.approx(1.4)  # 0.1 * 4 = 0.4 -> 1 + 0.4
    assert online_threshold(warmup, 10) == np.percentile(warmup, 90)
    with pytest.raises(TTCConfigError):
        online_threshold([], 10)


def test_consensus_by_hand():
    assert consensus(["4", "4", "5"], [2.0, 1.0, 1.0]) == 0.75
    assert consensus([], []) == 0.0


def test_online_vote_keeps_traces_at_or_above_the_threshold():
    result = deepconf_online_vote(["1", "2", "2", None], [5.0, 2.0, 1.0, 9.0], threshold=2.0)
    assert result.tally == {"1": 5.0, "2": 2.0}
    assert result.method == "deepconf_online"


def _trace(level: float, dip_at: int | None, length: int) -> list[list[float]]:
    """A scripted top-2 log-prob stream: token confidence ``level``, ``0.5`` on a dip of 4."""
    rows = []
    for i in range(length):
        c = 0.5 if dip_at is not None and dip_at <= i < dip_at + 4 else level
        rows.append([-(c - 0.5), -(c + 0.5)])  # mean of the negatives is c
    return rows


def test_scripted_online_run_threshold_and_stop_decisions():
    window = 4
    # Warm-up: four traces with lowest group confidences 2, 3, 4, 5 (no dips).
    warmup = [_trace(level, None, 12) for level in (2.0, 3.0, 4.0, 5.0)]
    lowest = [lowest_group_confidence(token_confidences(t), window) for t in warmup]
    assert lowest == [2.0, 3.0, 4.0, 5.0]
    s = online_threshold(lowest, 90)  # DeepConf-high: 10th percentile, 2 + 0.3 * 1
    assert s == pytest.approx(2.3)
    # Later traces: a steady confident one, one with a dip at token 6, one short and weak.
    later = {
        "steady": _trace(4.0, None, 12),
        "dip": _trace(4.0, 6, 12),
        "weak": _trace(1.0, None, 3),
    }
    expected_stop = {"steady": None, "dip": 8, "weak": None}
    for name, rows in later.items():
        tracker = OnlineGroupConfidence(window)
        stopped_at = None
        for n, row in enumerate(rows, start=1):
            tracker.push_top_logprobs(row)
            if tracker.should_stop(s):
                stopped_at = n
                break
        assert stopped_at == expected_stop[name], name
        assert online_stop_position(token_confidences(rows), s, window) == expected_stop[name]
        summary = TraceConfidence.from_logprobs(rows, None, window=window)
        assert summary.stop_position(s) == expected_stop[name]
    # The dip: the window of tokens 5..8 holds confidences 4, 4, 0.5, 0.5 -> 2.25 < 2.3 at token 8
    # (the window ending at token 7 is 3.125).
    # The short weak trace never fills a window so it is never stopped, but its whole-trace mean
    # (1.0) is below s, so the authors' online vote leaves it out.
    weak = TraceConfidence.from_logprobs(later["weak"], None, window=window)
    vote = deepconf_online_vote(["A", "B"], [4.0, weak.lowest_group], s)
    assert vote.tally == {"A": 4.0}
