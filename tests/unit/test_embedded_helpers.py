"""The embedded backend's pure helpers: step log-probabilities, prompt-cache reuse, stops, threads.

No model is loaded here (the integration tests run the real one).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from langgraph_ttc.backends._token_logprobs import step_logprobs
from langgraph_ttc.backends.embedded import _first_stop, _reusable_prefix, default_threads
from langgraph_ttc.errors import TTCConfigError


def test_step_logprobs_match_a_hand_computed_softmax():
    # probabilities 0.5, 0.25, 0.125, 0.125; adding 3 to every logit leaves the softmax unchanged
    logits = np.log(np.array([0.5, 0.25, 0.125, 0.125], dtype=np.float32)) + 3.0
    sampled, top = step_logprobs(logits, token=2, k=3)
    assert sampled == pytest.approx(math.log(0.125), abs=1e-6)
    assert top == pytest.approx((math.log(0.5), math.log(0.25), math.log(0.125)), abs=1e-6)


def test_step_logprobs_are_stable_for_huge_logits_and_cap_k_at_the_vocabulary():
    logits = np.array([1000.0, 1000.0], dtype=np.float32)  # exp would overflow unshifted
    sampled, top = step_logprobs(logits, token=0, k=5)
    assert sampled == pytest.approx(math.log(0.5), abs=1e-6)
    assert top == pytest.approx((math.log(0.5), math.log(0.5)), abs=1e-6)


def test_step_logprobs_without_top_k():
    sampled, top = step_logprobs(np.zeros(4, dtype=np.float32), token=1, k=0)
    assert sampled == pytest.approx(math.log(0.25), abs=1e-6)
    assert top == ()


def test_step_logprobs_on_a_gemma_sized_vocabulary_are_consistent():
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(262_144) * 4).astype(np.float32)
    sampled, top = step_logprobs(logits, token=int(np.argmax(logits)), k=20)
    assert len(top) == 20
    assert list(top) == sorted(top, reverse=True)
    assert sampled == pytest.approx(top[0], abs=1e-9)  # the argmax is the top-1
    exact = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum())
    assert top == pytest.approx(tuple(np.sort(exact)[::-1][:20]), abs=1e-4)


@pytest.mark.parametrize(
    ("cached", "prompt", "chunk", "expected"),
    [
        ((), (1, 2, 3), 2, 0),  # empty cache
        ((1, 2, 3), (1, 2, 3), 2, 3),  # the same prompt: everything, partial chunk included
        ((1, 2, 3, 4, 5), (1, 2, 3, 4, 9), 2, 4),  # two whole chunks shared
        ((1, 2, 3), (1, 2, 3, 4), 2, 2),  # cached chunk [2, 3) was partial: evaluate it again
        ((1, 2, 3, 4), (1, 2, 3, 4, 5), 2, 4),  # cached ends on a chunk boundary
        ((1, 2, 3, 4, 5), (1, 2, 3), 2, 2),  # a shorter prompt keeps its whole chunks
        ((7, 2, 3), (1, 2, 3), 2, 0),  # differs at the first token
        ((1, 2, 3, 4, 5, 6, 7), (1, 2, 3, 4, 5, 6, 0), 64, 0),  # less than one chunk shared
    ],
)
def test_reusable_prefix_keeps_only_whole_shared_chunks(cached, prompt, chunk, expected):
    assert _reusable_prefix(cached, prompt, chunk) == expected


def test_first_stop_finds_the_earliest_stop_sequence():
    assert _first_stop(b" 3 + 4 = 7.\nQ: next\n\n", [b"\n\n", b"\nQ:"]) == 11
    assert _first_stop(b"no stop here", [b"\n\n"]) is None
    assert _first_stop(b"", []) is None


def test_default_threads_honours_ttc_threads(monkeypatch):
    monkeypatch.setenv("TTC_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("TTC_THREADS", "0")
    assert default_threads() == 1
    monkeypatch.setenv("TTC_THREADS", "many")
    with pytest.raises(TTCConfigError, match="TTC_THREADS"):
        default_threads()


def test_default_threads_is_half_the_usable_cores(monkeypatch):
    import langgraph_ttc.backends.embedded as embedded

    monkeypatch.delenv("TTC_THREADS", raising=False)
    for cores, expected in ((1, 1), (2, 1), (3, 1), (4, 2), (16, 8)):
        monkeypatch.setattr(embedded, "_usable_cores", lambda cores=cores: cores)
        assert default_threads() == expected
