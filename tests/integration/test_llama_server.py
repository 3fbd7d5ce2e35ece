"""OpenAICompatibleBackend against a REAL llama.cpp server (Gemma 3 270M, ignores ``n``).

Invariants only (the model is weak): n samples come back, seeded samples differ, usage and
budgets are counted, both endpoints work.
"""

from __future__ import annotations

import asyncio

import pytest

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams, resolve_backend
from langgraph_ttc.budget import Budget, Meter

pytestmark = pytest.mark.integration

STORY = [("human", "Tell me a short story about a cat.")]
VARIED = SamplingParams(temperature=1.0, max_tokens=16, seed=123)


async def test_n_samples_are_topped_up_seeded_and_metered(llama_server):
    backend = OpenAICompatibleBackend(llama_server.base_url, llama_server.model, mode="completion")
    meter = Meter()
    draw = await meter.asample(backend, STORY, 8, params=VARIED)

    assert len(draw.completions) == 8 and all(c.ok for c in draw.completions)
    assert backend.honours_n is False  # llama.cpp returned one choice for n=8
    assert [c.seed for c in draw.completions] == list(range(123, 131))
    assert len({c.text for c in draw.completions}) >= 2  # distinct seeds, distinct samples
    assert all("\n\n" not in c.text for c in draw.completions)  # stopped at the turn separator
    total = meter.usage.total()
    assert total.calls == 8 and total.requests >= 8 and total.failed == 0
    assert total.prompt_tokens > 0 and total.completion_tokens > 0
    assert all(c.completion_tokens <= VARIED.max_tokens for c in draw.completions)


async def test_budget_caps_calls(llama_server):
    backend = OpenAICompatibleBackend(llama_server.base_url, llama_server.model, mode="completion")
    meter = Meter(Budget(max_calls=5))
    draw = await meter.asample(backend, STORY, 8, params=VARIED)
    assert len(draw.completions) == 5 and meter.usage.total().calls == 5
    assert meter.usage.total().requests >= 5


async def test_chat_mode_and_concurrent_draws(llama_server):
    backend = OpenAICompatibleBackend(
        llama_server.base_url, llama_server.model, mode="chat", max_concurrency=2
    )
    messages = [("system", "You are a storyteller."), ("human", "Once upon a time")]
    first, second = await asyncio.gather(
        backend.asample(messages, 3, VARIED), backend.asample(messages, 2, VARIED.with_seed(7))
    )
    assert len(first.completions) == 3 and len(second.completions) == 2
    assert all(c.ok for c in first.completions + second.completions)
    assert first.completion_tokens > 0 and first.prompt_tokens > 0


def test_resolve_with_base_url_only_discovers_the_model(llama_server):
    backend = resolve_backend(base_url=llama_server.base_url, mode="completion")
    draw = backend.sample(STORY, 2, SamplingParams(max_tokens=8, seed=1))
    assert backend.model_id == llama_server.model
    assert len(draw.completions) == 2 and all(c.ok for c in draw.completions)
