"""The vLLM pooling PRM: requests, budget, failures, and the reward mapping per output kind.

The PRM reply in ``data/vllm_pooling_prm_response.json`` follows vLLM's documented pooling
protocol (``PoolingResponse``: ``data[i] = {"index", "object": "pooling", "data": rows}`` with
one ``[p_bad, p_good]`` row per step tag, plus ``usage``); no vLLM server can run here, so it
is written to that shape rather than captured from a live server.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

import langgraph_ttc
import langgraph_ttc.search
from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.search.prm import PoolingPRM, step_reward

RECORDED = json.loads(
    (Path(__file__).parent / "data" / "vllm_pooling_prm_response.json").read_text()
)


def prm_transport(seen: list, reply: dict | None = None, status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content), request.headers))
        return httpx.Response(status, json=reply if reply is not None else RECORDED)

    return httpx.MockTransport(handler)


async def test_pooling_prm_sends_one_request_per_batch_and_reads_the_good_column():
    seen: list = []
    prm = PoolingPRM(
        "http://prm.test/v1",
        "Qwen/Qwen2.5-Math-PRM-7B",
        api_key="sk-x",
        transport=prm_transport(seen),
    )
    meter = Meter(Budget(max_calls=10))
    paths = [["1 + 1 = 2.", "The answer is 2."], ["1 + 1 = 2.", "The answer is 3."]]
    verdicts = await prm.ascore_paths("What is 1 + 1?", paths, meter=meter)
    [(path, body, headers)] = seen
    assert path == "/pooling"  # vLLM serves pooling at the root, not under /v1
    assert body == {
        "model": "Qwen/Qwen2.5-Math-PRM-7B",
        "input": [
            "What is 1 + 1?\n\n1 + 1 = 2.<extra_0>The answer is 2.<extra_0>",
            "What is 1 + 1?\n\n1 + 1 = 2.<extra_0>The answer is 3.<extra_0>",
        ],
    }
    assert headers["authorization"] == "Bearer sk-x"
    assert [v.score for v in verdicts] == [0.8813, 0.0698]  # last step's "good" probability
    assert verdicts[1].step_scores == (0.9589, 0.0698)
    assert all(v.parsed for v in verdicts)
    usage = meter.usage.by_purpose["verify"]
    assert (usage.calls, usage.requests, usage.prompt_tokens) == (2, 1, 118)


async def test_pooling_prm_respects_the_call_budget():
    seen: list = []
    prm = PoolingPRM("http://prm.test", "m", transport=prm_transport(seen))
    meter = Meter(Budget(max_calls=1))
    verdicts = await prm.ascore_paths("q", [["a"], ["b"]], meter=meter)
    assert len(seen[0][1]["input"]) == 1
    assert verdicts[0].parsed and not verdicts[1].parsed and verdicts[1].score == 0.5
    assert meter.usage.total().calls == 1
    assert await prm.ascore_paths("q", [["c"]], meter=meter) == [prm._fallback("budget exhausted")]
    assert len(seen) == 1  # nothing sent once the budget is spent


async def test_pooling_prm_failure_falls_back_and_is_counted():
    prm = PoolingPRM("http://prm.test", "m", transport=prm_transport([], {"error": "x"}, 500))
    meter = Meter()
    [verdict] = await prm.ascore_paths("q", [["a"]], meter=meter)
    assert not verdict.parsed and verdict.score == 0.5 and "HTTPStatusError" in verdict.rationale
    counters = meter.usage.by_purpose["verify"]
    assert (counters.calls, counters.failed, counters.requests) == (1, 1, 1)


def test_pooling_prm_rows_and_rewards():
    prm = PoolingPRM("http://x", "m")
    assert prm.step_scores([[0.2, 0.8], [0.6, 0.4]]) == [0.8, 0.4]
    # One number per step is a logit by default (vLLM returns reward heads unactivated):
    # sigmoid(0.25) = 0.5622, sigmoid(0.75) = 0.6792. It used to be kept as is because it lay
    # in [0, 1]; say output="probability" for that.
    assert prm.step_scores([0.25, 0.75]) == [
        pytest.approx(0.5622, abs=1e-4),
        pytest.approx(0.6792, abs=1e-4),
    ]
    assert PoolingPRM("http://x", "m", output="probability").step_scores([0.25, 0.75]) == [
        0.25,
        0.75,
    ]
    assert prm.step_scores([[2.0]]) == [pytest.approx(0.8808, abs=1e-4)]  # a raw reward: sigmoid
    assert PoolingPRM("http://x", "m", positive_index=0).step_scores([[0.9, 0.1]]) == [0.9]
    with pytest.raises(ValueError):
        prm.step_scores("AAAA")  # base64 output is not supported


def test_step_reward_one_transform_per_output_kind():
    # Two-class logits: softmax of both; [-1, 0.5] -> e^0.5 / (e^-1 + e^0.5) = sigmoid(1.5)
    assert step_reward([-1.0, 0.5], "logits") == pytest.approx(0.8176, abs=1e-4)
    assert step_reward([0.5, -1.0], "logits", positive_index=0) == pytest.approx(0.8176, abs=1e-4)
    # Three classes: e^2 / (e^0 + e^1 + e^2) = 7.389 / 11.107 = 0.6652
    assert step_reward([0.0, 1.0, 2.0], "logits", positive_index=2) == pytest.approx(
        0.6652, abs=1e-4
    )
    # A probability pair as given; a single probability as is; a single logit by sigmoid.
    assert step_reward([0.3, 0.7], "probabilities") == 0.7
    assert step_reward([0.3, 0.7]) == 0.7  # auto: a row of two is vLLM's STEP softmax output
    assert step_reward(0.7, "probability") == 0.7
    assert step_reward(0.0, "logit") == 0.5
    assert step_reward(-800.0) == pytest.approx(0.0) and step_reward(800.0) == 1.0  # no overflow


def test_step_reward_is_monotone_in_the_raw_value():
    # Issue 13: raw 1.0 -> 1.0 but raw 1.01 -> 0.733 flipped rankings. By shape, both are logits.
    assert step_reward(1.0) == pytest.approx(1 / (1 + math.exp(-1.0)))  # 0.7311
    assert step_reward(1.01) == pytest.approx(1 / (1 + math.exp(-1.01)))  # 0.7330
    raws = [-3.0, -0.5, 0.0, 0.2, 0.99, 1.0, 1.01, 1.5, 4.0]
    for output in ("auto", "logit"):
        mapped = [step_reward(r, output) for r in raws]
        assert mapped == sorted(mapped) and len(set(mapped)) == len(mapped)
    # The same for the good logit of a two-class row, the other logit fixed.
    mapped = [step_reward([0.0, r], "logits") for r in raws]
    assert mapped == sorted(mapped) and len(set(mapped)) == len(mapped)


def test_step_reward_rejects_what_the_kind_cannot_hold():
    with pytest.raises(ValueError, match="logit"):
        step_reward(1.01, "probability")  # not a probability: never silently squashed
    with pytest.raises(ValueError, match="logits"):
        step_reward([-1.0, 0.5], "probabilities")
    with pytest.raises(ValueError):
        step_reward([0.2, 0.8], "logit")  # a row, but one number was promised
    with pytest.raises(ValueError):
        step_reward(0.2, "logits")
    with pytest.raises(ValueError):
        step_reward([0.2, 0.8], positive_index=2)
    with pytest.raises(TTCConfigError):
        step_reward(0.2, "odds")
    with pytest.raises(TTCConfigError):
        PoolingPRM("http://x", "m", output="odds")


async def test_an_unreadable_row_falls_back_for_that_path_only():
    reply = {
        "data": [
            {"index": 0, "object": "pooling", "data": [[0.2, 0.8]]},
            {"index": 1, "object": "pooling", "data": [[-1.0, 0.5]]},  # logits, not probabilities
        ],
        "usage": {"prompt_tokens": 7},
    }
    prm = PoolingPRM("http://prm.test", "m", transport=prm_transport([], reply))
    good, bad = await prm.ascore_paths("q", [["a"], ["b"]], meter=Meter())
    assert good.parsed and good.score == 0.8
    assert not bad.parsed and bad.score == 0.5 and "not a probability" in bad.rationale
    logits = PoolingPRM("http://prm.test", "m", output="logits", transport=prm_transport([], reply))
    first, second = await logits.ascore_paths("q", [["a"], ["b"]], meter=Meter())
    assert first.score == pytest.approx(0.6457, abs=1e-4)  # sigmoid(0.8 - 0.2)
    assert second.score == pytest.approx(0.8176, abs=1e-4)


def test_pooling_prm_lives_in_its_own_module_and_is_still_exported():
    assert langgraph_ttc.search.PoolingPRM is PoolingPRM
    assert langgraph_ttc.PoolingPRM is PoolingPRM
    assert PoolingPRM.__module__ == "langgraph_ttc.search.prm"


def test_pooling_prm_as_a_verifier_scores_the_last_step():
    prm = PoolingPRM("http://prm.test", "m", transport=prm_transport([]))
    verdict = prm.verify("What is 1 + 1?", "1 + 1 = 2.\n\nThe answer is 2.")
    assert verdict.score == 0.8813
