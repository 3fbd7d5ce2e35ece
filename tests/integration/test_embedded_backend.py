"""The embedded backend on the real Gemma 3 270M: quiet native logs, seeded reproducibility,
per-token log-probabilities and the stop_trace hook.

These check invariants of the machinery, never the weak model's answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.backends.embedded import PROMPT_CHUNK, EmbeddedBackend
from langgraph_ttc.prompts import GENERIC_EXEMPLARS

pytestmark = pytest.mark.integration

NEVER = ("\x00<never>\x00",)  # a stop sequence the model never writes
STORY = [HumanMessage("Write a long story about a lighthouse keeper and the sea.")]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NATIVE_LINE = re.compile(r"^(llama|ggml|gguf|load|print_info|common|graph_|sched_|\.+$)", re.M)


def generic(question: str):
    shots = []
    for q, a in GENERIC_EXEMPLARS:
        shots += [HumanMessage(q), AIMessage(a)]
    return [*shots, HumanMessage(question)]


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend(n_threads=1)


def texts(draw) -> list[str]:
    assert all(c.ok for c in draw.completions), [c.error for c in draw.completions]
    return [c.text for c in draw.completions]


# --- native logging -----------------------------------------------------------------------------

SAMPLE_ONCE = textwrap.dedent(
    """
    import logging, sys
    if sys.argv[1] == "debug":
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("langgraph_ttc.backends.embedded").setLevel(logging.DEBUG)
    from langgraph_ttc.backends.base import SamplingParams
    from langgraph_ttc.backends.embedded import EmbeddedBackend
    draw = EmbeddedBackend(n_threads=1).sample(
        [{"role": "user", "content": "What is 3 + 4?"}], 1, SamplingParams(max_tokens=4, seed=1)
    )
    print(draw.completions[0].ok)
    """
)


def run_sample_once(mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-c", SAMPLE_ONCE, mode],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )


def test_loading_and_sampling_print_no_llama_cpp_lines_on_stderr():
    done = run_sample_once("quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert done.stderr == "", done.stderr  # not even llama_kv_cache_iswa's SWA notice


def test_llama_cpp_lines_go_to_the_module_logger_at_debug():
    done = run_sample_once("debug")
    assert done.returncode == 0, done.stderr
    routed = [line for line in done.stderr.splitlines() if "embedded:llama.cpp: " in line]
    assert routed, done.stderr[-2000:]
    assert not NATIVE_LINE.search(done.stderr)  # every native line came through logging


# --- reproducibility ----------------------------------------------------------------------------


def test_same_seed_gives_the_same_samples_whatever_ran_before(backend):
    params = SamplingParams(temperature=0.9, max_tokens=32, seed=1685183005)
    question = generic("What is 8 - 3?")
    first = texts(backend.sample(question, 4, params))
    # Other prompts in between: one sharing the exemplar prefix (the old KV-cache prefix reuse
    # case), one unrelated, and a long one that fills the cache past several chunks.
    backend.sample(generic("What is 9 + 6?"), 2, params.with_seed(5))
    backend.sample(STORY, 1, replace(params, max_tokens=8 * PROMPT_CHUNK // 4, stop=NEVER))
    backend.sample(generic("What is 8 - 3? Explain."), 1, params.with_seed(6))
    second = texts(backend.sample(question, 4, params))
    fresh = texts(EmbeddedBackend(n_threads=1).sample(question, 4, params))
    assert first == second == fresh
    assert len(set(first)) > 1  # seeded samples still differ from each other


def test_same_seed_across_sync_and_async_and_a_resumed_draw(backend):
    params = SamplingParams(temperature=0.8, max_tokens=24, seed=42)
    question = generic("What is the capital of Italy?")
    whole = texts(backend.sample(question, 3, params))
    backend.sample(generic("What is 4 * 4?"), 1, params)
    # a pool resumed after an interruption draws the last sample alone, with its own seed
    resumed = texts(backend.sample(question, 2, params)) + texts(
        backend.sample(question, 1, params.with_seed(params.seed_for(2)))
    )
    in_async = texts(asyncio.run(backend.asample(question, 3, params)))
    assert whole == resumed == in_async


def test_a_repeated_prompt_reuses_all_but_its_last_token(backend):
    params = SamplingParams(temperature=0.7, max_tokens=8, seed=3)
    question = generic("What is 5 - 2?")
    draw = backend.sample(question, 2, params)
    first, second = draw.completions
    assert first.prompt_tokens == second.prompt_tokens > PROMPT_CHUNK
    assert second.cached_tokens == second.prompt_tokens - 1


# --- log-probabilities ---------------------------------------------------------------------------


def test_logprobs_one_per_generated_token_and_top_k_descending(backend):
    params = SamplingParams(temperature=0.8, max_tokens=24, seed=11, logprobs=True, top_logprobs=5)
    draw = backend.sample(generic("What is 6 + 2?"), 3, params)
    for c in draw.completions:
        assert c.ok and c.completion_tokens > 0
        assert len(c.logprobs) == len(c.top_logprobs) == c.completion_tokens
        assert all(lp <= 0.0 for lp in c.logprobs)
        for lp, top in zip(c.logprobs, c.top_logprobs, strict=True):
            assert len(top) == 5
            assert list(top) == sorted(top, reverse=True)
            assert all(x <= 0.0 for x in top)
            assert lp <= top[0] + 1e-9


def test_logprobs_do_not_change_the_samples_and_repeat_with_the_seed(backend):
    base = SamplingParams(temperature=0.9, max_tokens=20, seed=7)
    question = generic("What is 3 * 3?")
    plain = texts(backend.sample(question, 2, base))
    asked = backend.sample(question, 2, replace(base, logprobs=True, top_logprobs=3))
    again = backend.sample(question, 2, replace(base, logprobs=True, top_logprobs=3))
    assert texts(asked) == plain == texts(again)
    assert [c.logprobs for c in asked.completions] == [c.logprobs for c in again.completions]
    only = backend.sample(question, 1, replace(base, logprobs=True))
    assert only.completions[0].top_logprobs is None
    assert only.completions[0].logprobs == asked.completions[0].logprobs
    assert backend.sample(question, 1, base).completions[0].logprobs is None


def test_greedy_samples_the_top_token_at_every_step(backend):
    params = SamplingParams(temperature=0.0, max_tokens=16, seed=0, top_logprobs=1)
    c = backend.sample(STORY, 1, params).completions[0]
    assert [top[0] for top in c.top_logprobs] == pytest.approx(list(c.logprobs), abs=1e-9)


# --- stop_trace hook ----------------------------------------------------------------------------


def counting_watch(limit, seen):
    """A stop_trace factory: each trace's watch records what it saw and stops at ``limit``."""

    def make():
        count = 0

        def watch(logprob, top):
            nonlocal count
            count += 1
            seen.append((count, logprob, tuple(top)))
            return count >= limit

        return watch

    return make


def test_stop_trace_ends_a_sample_after_the_token_it_saw(backend):
    seen = []
    params = SamplingParams(temperature=0.7, max_tokens=64, stop=NEVER, seed=9, top_logprobs=4)
    draw = backend.sample(STORY, 2, params, stop_trace=counting_watch(5, seen))
    for c in draw.completions:
        assert c.finish_reason == "stopped"
        assert c.completion_tokens == len(c.logprobs) == len(c.top_logprobs) == 5
    assert draw.completion_tokens == 10
    # A fresh watch per trace, called once per generated token with that token's numbers.
    assert [count for count, _, _ in seen] == [1, 2, 3, 4, 5] * 2
    first = draw.completions[0]
    assert [lp for _, lp, _ in seen[:5]] == list(first.logprobs)
    assert [top for _, _, top in seen[:5]] == list(first.top_logprobs)
    # The stopped sample is the prefix of the unstopped one with the same seed.
    full = backend.sample(STORY, 1, replace(params, max_tokens=12)).completions[0]
    assert full.text.startswith(first.text)
    assert full.logprobs[:5] == first.logprobs


def test_stop_trace_in_async_and_without_logprobs_asked(backend):
    params = SamplingParams(temperature=0.7, max_tokens=64, stop=NEVER, seed=9)
    seen = []
    draw = asyncio.run(backend.asample(STORY, 1, params, stop_trace=counting_watch(3, seen)))
    c = draw.completions[0]
    assert [top for _, _, top in seen] == [(), (), ()]
    assert (c.finish_reason, c.completion_tokens, len(c.logprobs)) == ("stopped", 3, 3)
    assert c.top_logprobs is None


def test_until_leaves_the_rest_of_a_draw_undrawn(backend):
    params = SamplingParams(temperature=0.7, max_tokens=8, stop=NEVER, seed=5)
    whole = backend.sample(STORY, 4, params)
    seen = []

    def two_done(finished):
        seen.append(len(finished))
        return len(finished) >= 2

    draw = backend.sample(STORY, 4, params, until=two_done)
    assert seen == [1, 2] and draw.extra["cancelled"] == 2
    assert texts(draw) == texts(whole)[:2]  # the same seeds give the same first two samples
    assert draw.completion_tokens == sum(c.completion_tokens for c in whole.completions[:2])


def test_a_failing_stop_trace_raises_and_the_next_sample_is_unaffected(backend):
    params = SamplingParams(temperature=0.7, max_tokens=16, seed=13)
    question = generic("What is 9 - 7?")
    expected = texts(backend.sample(question, 1, params))

    def broken(logprob, top):
        raise ZeroDivisionError("bug in the hook")

    with pytest.raises(ZeroDivisionError, match="bug in the hook"):
        backend.sample(question, 1, params, stop_trace=lambda: broken)
    assert texts(backend.sample(question, 1, params)) == expected


# --- the vocabulary size: exact self-certainty --------------------------------------------------


def test_vocab_size_is_llama_cpps_and_makes_self_certainty_exact(backend):
    from langgraph_ttc import create_ttc_graph
    from langgraph_ttc.confidence import ConfidenceSpec, self_certainty
    from langgraph_ttc.strategies import ConfidenceVote

    assert backend.vocab_size == backend._llama.n_vocab() > 20  # Gemma 3: 262144 tokens
    params = SamplingParams(max_tokens=12, logprobs=True, top_logprobs=20, seed=5)
    completion = backend.sample(generic("What is 3 + 4?"), 1, params).completions[0]
    top = completion.top_logprobs
    spec = ConfidenceSpec(measure="self_certainty")
    exact = spec.value(spec.summarize(top, completion.logprobs, backend.vocab_size))
    assert exact == pytest.approx(self_certainty(top, vocab_size=backend.vocab_size))
    assert exact != pytest.approx(self_certainty(top))  # the top-k estimate is another number
    # A run on the embedded model reads the exact value (the graph passes the vocabulary size).
    graph = create_ttc_graph(backend, ConfidenceVote(n=2, max_tokens=12, seed=5), confidence=spec)
    result = graph.invoke({"question": "What is 3 + 4?"})["ttc_result"]
    assert all(c["confidence"] is not None for c in result["candidates"] if c["ok"])
