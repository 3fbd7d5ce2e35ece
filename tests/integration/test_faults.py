"""Graph runs through a fault-injecting proxy in front of a REAL llama.cpp server.

Under every fault the proxy can inject, and under mixes of them, a ``majority`` or
``filter_vote`` run (n=4, 16 tokens) either completes after bounded retries or ends with the
defined partial result (``ttc_result["failed"]`` names the failed samples, each with its error);
``usage["requests"]`` equals the attempts the proxy saw; calls never exceed the budget. A 401
before any success raises the documented ``BackendUnavailable``.

No verdict depends on the machine's speed: requests that reach the real server get a generous
timeout (a busy 2-core machine can take seconds per answer), and the timeout path is exercised
with the proxy's ``hang`` fault on every attempt and a short timeout of its own, so it fires
whatever the real server's speed (the server never sees those requests).
"""

from __future__ import annotations

import random
import threading

import pytest

from langgraph_ttc import create_ttc_graph, get_strategy
from langgraph_ttc.backends import OpenAICompatibleBackend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import BackendUnavailable
from langgraph_ttc.testing.fault_proxy import PROXY_FAULTS, Fault, FaultProxy

pytestmark = pytest.mark.integration

TIMEOUT_S = 60.0  # one attempt against the real server: generous, so load never decides a test
UPSTREAM_TIMEOUT_S = 120.0  # the proxy's wait for the real server, longer than the client's
RETRIES = 2
RUNS = [("majority", 3), ("filter_vote", 4)]  # (strategy, budget.max_calls), both with n=4
# "hang" runs: every attempt hangs (HANG_S, released when the proxy stops) and the client gives
# up after HANG_TIMEOUT_S; no attempt reaches the real server, so its speed does not matter.
HANG_TIMEOUT_S = 1.0
HANG_S = 60.0
# "hang" is tested on its own below: a hung attempt followed by a real answer within a short
# timeout would make the verdict depend on how fast the real server answers.
TRANSIENT = ("429", "500", "drop", "503", "truncate", "malformed", "empty")
# Each transient fault with one strategy (alternating), to stay fast.
TRANSIENT_RUNS = [(kind, *RUNS[i % 2]) for i, kind in enumerate(TRANSIENT)]
FATAL = ("400", "echo_auth")  # other 4xx: the request fails at once, its samples fail
QUESTION = {"question": "What is 2 + 3?"}
SECRET = "sk-test-not-a-real-key-4242"  # llama.cpp ignores it; it must never show up


def _fault(kind: str) -> Fault:
    return Fault(kind, retry_after=0.05, hang_s=HANG_S)


def _run(
    llama_server,
    schedule,
    strategy: str,
    max_calls: int,
    *,
    max_retries: int = RETRIES,
    timeout_s: float = TIMEOUT_S,
):
    """One graph run through a proxy; returns (ttc_result, proxy stats)."""
    with FaultProxy(
        llama_server.base_url, schedule, upstream_timeout_s=UPSTREAM_TIMEOUT_S
    ) as proxy:
        backend = OpenAICompatibleBackend(
            proxy.base_url,
            llama_server.model,
            api_key=SECRET,
            mode="completion",
            max_retries=max_retries,
            timeout_s=timeout_s,
        )
        backend.backoff_s = 0.05
        config = get_strategy(strategy, n=4, max_tokens=16, seed=7)
        graph = create_ttc_graph(backend, config, budget=Budget(max_calls=max_calls))
        out = graph.invoke(QUESTION)
    return out["ttc_result"], proxy.stats


def _check_invariants(result: dict, stats, max_calls: int) -> None:
    usage = result["usage"]
    assert usage["calls"] <= max_calls
    assert usage["requests"] == stats.requests  # every attempt counted, none invented
    candidates = result["candidates"]
    assert candidates and len(candidates) == usage["by_purpose"]["generate"]["calls"]
    for candidate in candidates:
        assert candidate["ok"] or candidate["error"], candidate
    assert result["failed"] == [c["id"] for c in candidates if not c["ok"]]
    assert usage["by_purpose"]["generate"]["failed"] == len(result["failed"])


@pytest.mark.parametrize(("kind", "strategy", "max_calls"), TRANSIENT_RUNS)
def test_transient_fault_is_retried_and_the_run_completes(llama_server, kind, strategy, max_calls):
    # The first request (all samples, n=4) fails twice; its third attempt gets through.
    schedule = [_fault(kind)] * RETRIES
    result, stats = _run(llama_server, schedule, strategy, max_calls)

    _check_invariants(result, stats, max_calls)
    assert stats.faults[:RETRIES] == [kind] * RETRIES
    assert result["failed"] == [] and all(c["text"] for c in result["candidates"])
    # llama.cpp answers one sample a request; more attempts only if a slow answer timed out.
    assert stats.requests >= RETRIES + result["usage"]["calls"]


@pytest.mark.parametrize(("strategy", "max_calls"), RUNS, ids=[s for s, _ in RUNS])
def test_hung_attempts_time_out_are_retried_and_end_with_the_partial_result(
    llama_server, strategy, max_calls
):
    # Every POST hangs for HANG_S; each attempt times out after HANG_TIMEOUT_S whatever the real
    # server's speed, is retried RETRIES times, and the samples fail with a timeout error.
    result, stats = _run(
        llama_server,
        lambda index, body: _fault("hang"),
        strategy,
        max_calls,
        timeout_s=HANG_TIMEOUT_S,
    )

    _check_invariants(result, stats, max_calls)
    candidates = result["candidates"]
    assert result["failed"] == [c["id"] for c in candidates]  # nothing came back
    assert all(f"timed out after {HANG_TIMEOUT_S:g}s" in c["error"] for c in candidates)
    assert stats.faults and set(stats.faults) == {"hang"}
    # Bounded: every request was tried 1 + RETRIES times, no more.
    assert stats.requests % (1 + RETRIES) == 0 and stats.requests >= 1 + RETRIES


@pytest.mark.parametrize(("strategy", "max_calls"), RUNS, ids=[s for s, _ in RUNS])
@pytest.mark.parametrize("kind", FATAL)
def test_non_retryable_fault_ends_with_the_partial_result(llama_server, kind, strategy, max_calls):
    result, stats = _run(llama_server, [_fault(kind)], strategy, max_calls)

    _check_invariants(result, stats, max_calls)
    failed = [c for c in result["candidates"] if not c["ok"]]
    assert failed and all(c["error"].startswith("HTTP 400") for c in failed)
    assert stats.requests == result["usage"]["requests"]
    assert stats.faults.count(kind) == 1  # not retried
    assert SECRET not in str(result)  # echo_auth sends the key back; it is redacted


def test_401_on_first_contact_raises_backend_unavailable(llama_server):
    with pytest.raises(BackendUnavailable, match="refused the first request"):
        _run(llama_server, [_fault("401")], "majority", 3)


@pytest.mark.parametrize(("strategy", "max_calls"), RUNS, ids=[s for s, _ in RUNS])
def test_a_sample_that_always_fails_is_named_in_the_partial_result(
    llama_server, strategy, max_calls
):
    # Every attempt of the first single-sample request (a top-up: llama.cpp ignores n) fails,
    # with a different transient fault each time; the other samples pass.
    lock, doomed, kinds = threading.Lock(), [], iter(("503", "drop", "truncate"))

    def schedule(index: int, body: dict) -> Fault | None:
        with lock:
            if "n" not in body and not doomed:
                doomed.append(body.get("seed"))
            if doomed and body.get("seed") == doomed[0] and "n" not in body:
                return _fault(next(kinds))
        return None

    result, stats = _run(llama_server, schedule, strategy, max_calls)

    _check_invariants(result, stats, max_calls)
    assert len(result["failed"]) == 1
    (lost,) = [c for c in result["candidates"] if not c["ok"]]
    assert lost["seed"] == doomed[0] and lost["text"] == ""
    assert sum(1 for f in stats.faults if f) == RETRIES + 1  # bounded: 1 + max_retries attempts


@pytest.mark.parametrize(("strategy", "max_calls"), RUNS, ids=[s for s, _ in RUNS])
def test_mixed_faults(llama_server, strategy, max_calls):
    # Every fault but "401" and "hang" (each tested above), shuffled, with pass-throughs between
    # them: retries see different faults one after another.
    rng = random.Random(f"mix-{strategy}")
    kinds = [k for k in PROXY_FAULTS if k not in ("401", "hang")]
    schedule: list[Fault | None] = []
    for kind in rng.sample(kinds, len(kinds)):
        schedule += [_fault(kind)] + [None] * rng.randint(0, 1)

    result, stats = _run(llama_server, schedule, strategy, max_calls, max_retries=4)

    _check_invariants(result, stats, max_calls)
    assert stats.faults[0] and len([f for f in stats.faults if f]) >= 2
