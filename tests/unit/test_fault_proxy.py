"""FaultProxy in front of InstantServer: each fault as a client sees it, and graph runs under
random fault schedules and budgets (hypothesis).

Invariants under any schedule: calls never exceed ``budget.max_calls``; every candidate is ok or
carries an error; ``ttc_result["failed"]`` lists exactly the failed ones; ``usage["requests"]``
equals the attempts the proxy saw; the only exceptions are the documented ones
(``TTCConfigError`` for a budget or ``n`` below the strategy's minimum, at construction;
``BackendUnavailable`` for a 401 before the first success).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import BackendUnavailable, TTCConfigError
from langgraph_ttc.testing.fault_proxy import PROXY_FAULTS, Fault, FaultProxy
from langgraph_ttc.testing.instant_server import InstantServer

TIMEOUT_S = 0.2  # one attempt; "hang" holds a request longer than this
PATIENT_S = 30.0  # a request expected to be answered: generous, so load never fails it
HANG_S = 0.4
MIN_CALLS = {"majority": 1, "filter_vote": 2}  # one generate (+ one critique)
# How a client sees each fault: an HTTP status, a broken connection, or a 200 it cannot use.
EXPECTED = {
    "429": 429,
    "500": 500,
    "503": 503,
    "400": 400,
    "401": 401,
    "echo_auth": 400,
    "hang": "timeout",
    "drop": "broken",
    "truncate": "broken",
    "malformed": "not json",
    "empty": "no choices",
}


def _backend(url: str, **kwargs) -> OpenAICompatibleBackend:
    backend = OpenAICompatibleBackend(url, "instant", mode="completion", **kwargs)
    backend.backoff_s = 0.01  # keep retries fast
    return backend


def _post(url: str, timeout: float = PATIENT_S) -> object:
    body = json.dumps({"model": "instant", "prompt": "2+2?", "seed": 3}).encode()
    request = urllib.request.Request(url + "/completions", body)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as err:
        return err.code
    except TimeoutError:
        return "timeout"
    except http.client.HTTPException:  # truncated body
        return "broken"
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return "timeout" if isinstance(reason, TimeoutError) else "broken"
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError:
        return "not json"
    return "ok" if answer["choices"] else "no choices"


@pytest.mark.parametrize("kind", PROXY_FAULTS)
def test_each_fault_as_the_client_sees_it(kind):
    assert set(EXPECTED) == set(PROXY_FAULTS)
    fault = Fault(kind, retry_after=0.05, hang_s=30)  # stop() releases the hang
    with InstantServer() as upstream, FaultProxy(upstream.base_url, [fault]) as proxy:
        # Only the hang is meant to time out; every other answer may take as long as it takes.
        seen = _post(proxy.base_url, TIMEOUT_S if kind == "hang" else PATIENT_S)
        after = _post(proxy.base_url)  # the schedule is spent: requests pass through

    assert (seen, after) == (EXPECTED[kind], "ok")
    assert proxy.stats.requests == 2 and proxy.stats.faults == [kind, ""]
    forwarded_first = kind in ("empty", "truncate")  # the others never reach upstream
    assert upstream.stats.requests == 1 + forwarded_first


def test_retry_after_headers_reach_the_client():
    with InstantServer() as upstream:
        proxy = FaultProxy(upstream.base_url, schedule=lambda i, body: Fault("429", retry_after=2))
        with proxy:
            request = urllib.request.Request(proxy.base_url + "/completions", b"{}")
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(request, timeout=2)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "2"


def test_upstream_down_is_a_502_and_get_is_forwarded():
    with InstantServer() as upstream:
        url = upstream.base_url
        with FaultProxy(url) as proxy, urllib.request.urlopen(proxy.base_url + "/models") as reply:
            assert json.load(reply)["data"][0]["id"] == "instant"
    with FaultProxy(url, upstream_timeout_s=1) as proxy:
        assert _post(proxy.base_url) == 502
    assert proxy.stats.upstream_errors == 1


def test_stop_releases_hanging_requests_at_once():
    with InstantServer() as upstream:
        proxy = FaultProxy(upstream.base_url, [Fault("hang", hang_s=30)]).start()
        waiter = threading.Thread(target=_post, args=(proxy.base_url,), daemon=True)
        waiter.start()
        while proxy.stats.in_flight == 0:
            time.sleep(0.01)
        started = time.monotonic()
        proxy.stop()
        assert time.monotonic() - started < 2
    assert upstream.stats.requests == 0


def test_backend_retries_every_transient_fault_and_counts_attempts():
    transient = ["429", "500", "503", "hang", "drop", "truncate", "malformed", "empty"]
    schedule = [Fault(k, retry_after=0.01, hang_s=HANG_S) for k in transient]
    with InstantServer(honour_n=False) as upstream, FaultProxy(upstream.base_url) as proxy:
        backend = _backend(proxy.base_url, timeout_s=TIMEOUT_S, max_retries=len(schedule))
        for fault in schedule:
            proxy.inject(fault)
        draw = backend.sample([("human", "2+2?")], 1, SamplingParams(seed=1, max_tokens=8))
    assert [c.ok for c in draw.completions] == [True]
    assert draw.requests == proxy.stats.requests == len(schedule) + 1


# -- property: graph runs under random fault schedules and budgets ----------------------------

faults = st.one_of(st.none(), st.sampled_from(PROXY_FAULTS))
schedules = st.lists(faults, max_size=14)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    schedule=schedules,
    strategy=st.sampled_from(["majority", "filter_vote"]),
    n=st.integers(1, 6),
    max_calls=st.one_of(st.none(), st.integers(0, 10)),
    max_retries=st.integers(0, 3),
    honour_n=st.booleans(),
)
def test_graph_under_random_faults_keeps_its_invariants(
    schedule, strategy, n, max_calls, max_retries, honour_n
):
    budget = Budget(max_calls=max_calls)
    specs = [Fault(k, retry_after=0.01, hang_s=HANG_S) if k else None for k in schedule]
    with (
        InstantServer(honour_n=honour_n) as upstream,
        FaultProxy(upstream.base_url, specs) as proxy,
    ):
        backend = _backend(proxy.base_url, timeout_s=TIMEOUT_S, max_retries=max_retries)
        try:
            graph = create_ttc_graph(backend, strategy, n=n, budget=budget)
        except TTCConfigError as exc:
            too_small = max_calls is not None and max_calls < MIN_CALLS[strategy]
            assert too_small or n < MIN_CALLS[strategy], exc  # filter_vote: n is its budget
            return
        try:
            out = graph.invoke({"question": "What is 2 + 3?"})
        except BackendUnavailable:
            assert "401" in proxy.stats.faults  # wrong key on first contact: documented
            return
        requests_seen = proxy.stats.requests
        applied = [f for f in proxy.stats.faults if f]

    result = out["ttc_result"]
    usage = result["usage"]
    if max_calls is not None:
        assert usage["calls"] <= max_calls
    assert usage["requests"] == requests_seen  # every attempt counted, none invented
    candidates = result["candidates"]
    assert len(candidates) == usage["by_purpose"]["generate"]["calls"]  # nothing lost
    for candidate in candidates:
        assert candidate["ok"] or candidate["error"], candidate
    failed = [c["id"] for c in candidates if not c["ok"]]
    assert result["failed"] == failed
    assert len({c["id"] for c in candidates}) == len(candidates)
    if not applied:
        assert failed == [] and usage["failed"] == 0
    if result["answer"] is not None:
        assert any(c["ok"] and c["answer"] == result["answer"] for c in candidates)
