"""The performance suite's instant-server parts at small sizes: counts and structure, not speed.

Timings are printed (``-s``) but only asserted where the gap is an order of magnitude.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from langgraph_ttc.testing.instant_server import InstantServer, ServerStats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import protocol_layers  # noqa: E402
from perf import overhead, report, sections  # noqa: E402
from perf.servers import InstantProcess  # noqa: E402


def spec_for(server, questions: int, n: int) -> dict:
    return {
        "base_url": server.base_url,
        "model": server.model,
        "questions": overhead.questions(questions),
        "n": n,
        "max_tokens": 16,
        "temperature": 0.7,
        "top_p": 0.95,
        "seed": 0,
        "concurrency": n,
    }


def test_graph_and_floor_send_the_same_requests_and_seeds():
    with InstantProcess() as server:
        results = overhead.measure(
            server, ["floor", "graph"], spec_for(server, 3, 4), rounds=1, log=print
        )
    overhead.with_ratios(results, 3 * 4)
    print(report.overhead_table(results))
    floor, graph = results["floor"], results["graph"]
    # The warm-up question is excluded: the server counted exactly the timed requests.
    assert floor["server_requests"] == graph["server_requests"] == 12
    assert floor["calls"] == graph["calls"] == 12
    assert floor["server_prompt_tokens"] == graph["server_prompt_tokens"] > 0
    assert floor["completion_tokens"] == graph["completion_tokens"] > 0
    # Same prompts and seeds on a server whose reply is a function of them: same answers.
    assert floor["answers"] == graph["answers"]
    assert graph["wall_ratio"] > 0 and graph["peak_rss_mb"] > 0


def test_coalescing_sends_one_request_and_one_prefill():
    rows = sections.coalescing(widths=(4, 8), log=print)["rows"]
    print(report.table(rows, [(k, k) for k in rows[0]]))
    by = {(r["samples"], r["coalescing"]): r for r in rows}
    for n in (4, 8):
        one, many = by[(n, True)], by[(n, False)]
        assert one["calls"] == many["calls"] == n
        assert one["requests"] == 1 and many["requests"] == n
        assert many["prompt_tokens_sent"] == n * one["prompt_tokens_sent"] > 0


def test_branches_run_in_parallel_not_one_after_another():
    # The server holds each request until 8 are in flight at once: branches sent in parallel
    # reach 8, branches sent one after another would each wait out the gate's timeout and
    # reach 1. No wall-clock comparison, so a slow or busy machine cannot change the verdict.
    result = sections.concurrency(widths=(1, 8), delay_s=0.0, log=print, gated=True)
    rows = {(r["path"], r["branches"]): r for r in result["rows"]}
    for path in ("ainvoke", "invoke", "invoke max_concurrency=N"):
        wide = rows[(path, 8)]
        assert wide["requests"] == wide["calls"] == 8
        assert wide["max_in_flight"] == 8


def test_the_gate_holds_requests_sent_one_after_another():
    """The gate the test above relies on: one request at a time never opens it."""
    body = json.dumps({"model": "m", "prompt": "Q: 1+1?\nA:"}).encode()
    with InstantServer(gate=2, gate_timeout_s=0.3) as server:
        url = server.base_url + "/completions"
        began = time.monotonic()
        for _ in range(2):
            urllib.request.urlopen(urllib.request.Request(url, body), timeout=10).read()
        alone = time.monotonic() - began
        assert server.stats.max_in_flight == 1 and alone >= 2 * 0.3  # each waited the gate out
        server.stats = ServerStats()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda _: urllib.request.urlopen(url, body, 10).read(), [0, 1]))
        assert len(replies) == 2 and server.stats.max_in_flight == 2


def test_a_reset_while_a_request_is_answered_leaves_the_new_stats_at_zero_in_flight():
    """The gate above counts in-flight requests from a reset: a request answered across the
    reset (the warm-up's, whose reply the client has before the server's bookkeeping ends)
    must not be subtracted from the new stats, or 8 branches would show as 7."""
    body = json.dumps({"model": "m", "prompt": "Q: 1+1?\nA:"}).encode()
    with InstantServer(delay_s=0.5) as server:
        url = server.base_url + "/completions"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            reply = pool.submit(lambda: urllib.request.urlopen(url, body, 10).read())
            while server.stats.in_flight == 0:
                time.sleep(0.01)
            server.stats = ServerStats()
            assert json.loads(reply.result())["choices"]
        assert server.stats.in_flight == 0 and server.stats.requests == 0


def test_protocol_layers_measure_every_layer():
    table = protocol_layers.main(["--rounds", "1", "--questions", "2", "--n", "2"])
    assert {
        "sdk create (pydantic)",
        "sdk post, httpx",
        "httpx bare",
        "aiohttp bare",
    } <= table.keys()
    assert {"ttc, async (backend loop)", "ttc, blocking (backend loop)"} <= table.keys()
    assert all(row["cpu_ms_per_request"] > 0 for row in table.values())


def test_scale_rows_grow_linearly_in_requests():
    result = sections.scale_samples([2, 8], log=print)
    rows = result["rows"]
    assert [r["requests"] for r in rows] == [2, 8]
    assert all(r["graph_peak_rss_mb"] > 0 for r in rows)
    # Memory does not grow with N at this size (same process footprint give or take).
    assert rows[1]["graph_peak_rss_mb"] < 2 * rows[0]["graph_peak_rss_mb"]


def test_pool_grows_step_by_step_without_failures():
    result = sections.scale_pool([2, 4], problems=5, concurrency=4, log=print)
    assert result["error"] is None
    rows = result["rows"]
    assert [r["pool_samples"] for r in rows] == [10, 20]
    assert [r["drawn"] for r in rows] == [10, 10]  # the second build only adds what is missing
    assert all(r["failed"] == 0 for r in rows)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [([{"samples": 16, "t": 1.0}, {"samples": 64, "t": 1.0}], 1.0)],
)
def test_growth_exponent_is_one_for_linear_cost(rows, expected):
    assert sections.growth_exponent(rows, "t") == pytest.approx(expected)


def test_table_prints_missing_values_as_dashes():
    text = report.table([{"a": 1, "b": None}], [("A", "a"), ("B", "b"), ("C", "c")])
    assert text.splitlines()[-1].split() == ["1", "-", "-"]
