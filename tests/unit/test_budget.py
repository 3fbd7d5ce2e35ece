"""Budget arithmetic and the Meter's enforcement."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.budget import Budget, Counters, Meter, Prices, Usage, merge_usage
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.testing import FakeBackend


@pytest.mark.parametrize(
    "bad", [{"max_calls": -1}, {"max_tokens": -5}, {"max_seconds": -0.1}, {"max_calls": True}]
)
def test_invalid_budgets_are_rejected(bad):
    with pytest.raises(TTCConfigError, match="must be a number"):
        Budget(**bad)


def test_dollar_budget_needs_prices():
    with pytest.raises(TTCConfigError, match="prices"):
        Budget(max_usd=1.0)


def test_usage_round_trips_and_merges():
    usage = Usage()
    usage.record("generate", Counters(calls=3, requests=1, prompt_tokens=10, completion_tokens=30))
    usage.record("critique", Counters(calls=3, requests=3))
    data = usage.to_dict()
    assert data["calls"] == 6 and data["requests"] == 4
    assert merge_usage(data, data)["calls"] == 12
    assert Usage.from_dict(data).to_dict() == data


def test_meter_shrinks_n_to_the_calls_left():
    meter = Meter(Budget(max_calls=5))
    backend = FakeBackend()
    first = meter.sample(backend, [("human", "q")], n=4)
    second = meter.sample(backend, [("human", "q")], n=4)
    third = meter.sample(backend, [("human", "q")], n=4)
    assert [len(d.completions) for d in (first, second, third)] == [4, 1, 0]
    assert third.extra["skipped"] == "budget"
    assert third.extra["reason"] == "all 5 calls of the budget are spent"
    assert meter.usage.total().calls == 5


def test_meter_counts_requests_separately_from_calls():
    meter = Meter()
    meter.sample(FakeBackend(honours_n=False), [("human", "q")], n=3, purpose="critique")
    counters = meter.usage.by_purpose["critique"]
    assert (counters.calls, counters.requests) == (3, 3)


def test_dollar_budget_holds():
    prices = Prices(prompt=1000.0, completion=1000.0)  # $0.001 per token
    meter = Meter(Budget(max_usd=0.05, prices=prices))
    backend = FakeBackend()
    for _ in range(10):
        meter.sample(backend, [("human", "what is two plus two")], n=2)
    assert meter.usage.total().usd <= 0.05 + 1e-12
    assert meter.usage.total().calls > 0


def test_seconds_budget_stops_new_requests():
    meter = Meter(Budget(max_seconds=0.0001))
    import time

    time.sleep(0.01)
    assert meter.sample(FakeBackend(), [("human", "q")], n=2).completions == ()


def test_spent_usage_counts_against_the_budget():
    spent = Usage({"generate": Counters(calls=7)})
    meter = Meter(Budget(max_calls=8), spent=spent)
    assert len(meter.sample(FakeBackend(), [("human", "q")], n=4).completions) == 1


@settings(max_examples=60, deadline=None)
@given(
    max_calls=st.integers(0, 20),
    max_tokens=st.one_of(st.none(), st.integers(0, 400)),
    requests=st.lists(st.integers(1, 8), min_size=1, max_size=8),
    max_new=st.integers(1, 64),
)
def test_concurrent_requests_never_exceed_the_budget(max_calls, max_tokens, requests, max_new):
    meter = Meter(Budget(max_calls=max_calls, max_tokens=max_tokens))
    backend = FakeBackend(honours_n=False)
    params = SamplingParams(max_tokens=max_new)

    async def go():
        await asyncio.gather(
            *(meter.asample(backend, [("human", "a b c")], n, "generate", params) for n in requests)
        )

    asyncio.run(go())
    total = meter.usage.total()
    assert total.calls <= max_calls
    if max_tokens is not None:
        assert total.prompt_tokens + total.completion_tokens <= max_tokens
