"""ChatModelBackend with langchain_core fake chat models (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.outputs import ChatGeneration, ChatResult

from langgraph_ttc.backends import ChatModelBackend, SamplingParams
from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.testing import stable_uniform

QUESTION = [("human", "What is 2+3?")]


class SeededChat(BaseChatModel):
    """Reply = pure function of (last message, seed); records the kwargs of every call."""

    temperature: float = 0.7
    seed: int | None = None
    max_tokens: int | None = None
    delay_s: float = 0.0
    fail_odd_seeds: bool = False
    calls: list = []
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def _llm_type(self) -> str:
        return "seeded-chat"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        raise NotImplementedError("async only")

    async def _agenerate(
        self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append({"stop": stop, **kwargs})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        seed = kwargs.get("seed")
        if self.fail_odd_seeds and seed is not None and seed % 2:
            raise RuntimeError(f"provider error for seed {seed}")
        value = int(stable_uniform(messages[-1].content, seed) * 10)
        tool_calls = []
        if kwargs.get("tools"):
            tool_calls = [{"name": "add", "args": {"a": 2, "b": 3}, "id": f"call_{seed}"}]
        message = AIMessage(
            content=f"The answer is {value}.",
            tool_calls=tool_calls,
            usage_metadata={
                "input_tokens": 7,
                "output_tokens": 4,
                "total_tokens": 11,
                "input_token_details": {"cache_read": 3},
            },
            response_metadata={"finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools, **kwargs):
        return self.bind(tools=list(tools), **kwargs)


async def test_n_concurrent_calls_bounded_by_semaphore():
    model = SeededChat(delay_s=0.05, calls=[])
    draw = await ChatModelBackend(model, max_concurrency=3).asample(
        QUESTION, 9, SamplingParams(seed=0)
    )
    assert len(draw.completions) == 9 and all(c.ok for c in draw.completions)
    assert draw.requests == 9 and len(model.calls) == 9
    assert model.max_in_flight == 3


async def test_params_are_bound_only_for_declared_fields():
    model = SeededChat(calls=[])
    params = SamplingParams(seed=10, temperature=1.0, max_tokens=32, stop=("\n\n",))
    draw = await ChatModelBackend(model).asample(QUESTION, 3, params)
    seeds = sorted(call["seed"] for call in model.calls)
    assert seeds == [10, 11, 12] == [c.seed for c in draw.completions]
    for call in model.calls:
        assert call["temperature"] == 1.0 and call["max_tokens"] == 32
        assert call["stop"] == ["\n\n"]
        assert "top_p" not in call  # SeededChat declares no top_p field
    assert len({c.text for c in draw.completions}) >= 1


async def test_usage_comes_from_usage_metadata():
    meter = Meter()
    draw = await meter.asample(
        ChatModelBackend(SeededChat(calls=[])), QUESTION, 4, params=SamplingParams(seed=1)
    )
    assert (draw.prompt_tokens, draw.completion_tokens, draw.cached_tokens) == (28, 16, 12)
    assert draw.completions[0].finish_reason == "stop" and "estimated_usage" not in draw.extra
    total = meter.usage.total()
    assert (total.calls, total.requests, total.prompt_tokens, total.cached_tokens) == (4, 4, 28, 12)


async def test_errors_are_per_sample():
    model = SeededChat(fail_odd_seeds=True, calls=[])
    draw = await ChatModelBackend(model).asample(QUESTION, 4, SamplingParams(seed=0))
    assert len(draw.completions) == 4
    assert [c.ok for c in draw.completions] == [True, False, True, False]
    assert "provider error for seed 1" in draw.completions[1].error
    assert draw.completions[1].seed == 1


async def test_budget_caps_calls():
    model = SeededChat(calls=[])
    meter = Meter(Budget(max_calls=2))
    draw = await meter.asample(ChatModelBackend(model), QUESTION, 5)
    assert len(draw.completions) == 2 == len(model.calls) == meter.usage.total().calls


async def test_missing_usage_is_estimated_as_an_upper_bound():
    model = GenericFakeChatModel(messages=iter(["The answer is 5."] * 2))
    backend = ChatModelBackend(model)
    draw = await backend.asample(QUESTION, 2, SamplingParams())
    assert [c.text for c in draw.completions] == ["The answer is 5."] * 2
    assert draw.extra["estimated_usage"] == 2
    assert draw.completion_tokens == 2 * len(b"The answer is 5.")
    assert draw.prompt_tokens == 2 * backend.count_prompt_tokens(convert_to_messages(QUESTION))


async def test_tool_calls_and_with_tools_copy():
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    model = SeededChat(calls=[])
    backend = ChatModelBackend(model)
    tooled = backend.with_tools([add])
    draw = await tooled.asample(QUESTION, 2, SamplingParams(seed=5))
    assert draw.completions[0].tool_calls == (
        {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_5"},
    )
    assert all("tools" in call for call in model.calls)
    plain = await backend.asample(QUESTION, 1, SamplingParams(seed=5))
    assert plain.completions[0].tool_calls == ()


async def test_with_config_passes_tags_and_callbacks():
    seen: list = []

    class Recorder(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs):
            seen.append(tags)

    backend = ChatModelBackend(SeededChat(calls=[])).with_config(
        {"tags": ["ttc:generate"], "callbacks": [Recorder()]}
    )
    await backend.asample(QUESTION, 2, SamplingParams())
    assert len(seen) == 2 and all("ttc:generate" in tags for tags in seen)


async def test_timeout_fails_slow_samples():
    backend = ChatModelBackend(SeededChat(delay_s=2.0, calls=[]))
    draw = await backend.asample(QUESTION, 2, SamplingParams(), timeout=0.1)
    assert len(draw.completions) == 2
    assert all(not c.ok and "timed out" in c.error for c in draw.completions)


def test_sync_sample_and_model_id():
    backend = ChatModelBackend(SeededChat(calls=[]), model_id="seeded")
    draw = backend.sample(QUESTION, 2, SamplingParams(seed=3))
    assert len(draw.completions) == 2 and backend.model_id == "seeded"
    assert ChatModelBackend(SeededChat(calls=[])).model_id == "SeededChat"


def test_rejects_bad_concurrency():
    from langgraph_ttc.errors import TTCConfigError

    with pytest.raises(TTCConfigError):
        ChatModelBackend(SeededChat(calls=[]), max_concurrency=0)
