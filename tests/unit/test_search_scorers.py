"""Process scorers: the LLM step judge, Math-Shepherd rollout values, and the vLLM pooling PRM.

The PRM reply in ``data/vllm_pooling_prm_response.json`` follows vLLM's documented pooling
protocol (``PoolingResponse``: ``data[i] = {"index", "object": "pooling", "data": rows}`` with
one ``[p_bad, p_good]`` row per step tag, plus ``usage``); no vLLM server can run here, so it
is written to that shape rather than captured from a live server.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from langgraph_ttc.budget import Budget, Meter
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.search.scorers import (
    LLMStepJudge,
    PoolingPRM,
    RolloutValueScorer,
    VerifierStepScorer,
    as_process_scorer,
)
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier

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
    assert prm.step_scores([0.25, 0.75]) == [0.25, 0.75]  # one number per step
    assert prm.step_scores([[2.0]]) == [pytest.approx(0.8808, abs=1e-4)]  # a raw reward: sigmoid
    assert PoolingPRM("http://x", "m", positive_index=0).step_scores([[0.9, 0.1]]) == [0.9]
    with pytest.raises(ValueError):
        prm.step_scores("AAAA")  # base64 output is not supported


def test_pooling_prm_as_a_verifier_scores_the_last_step():
    prm = PoolingPRM("http://prm.test", "m", transport=prm_transport([]))
    verdict = prm.verify("What is 1 + 1?", "1 + 1 = 2.\n\nThe answer is 2.")
    assert verdict.score == 0.8813


def judge_reply(messages, seed):
    step = str(messages[-1].content).split("[New Step]:")[1].split("\n")[0]
    return "Fine. [[correct]] Score: 0.8" if "= 7" in step else "No. [[wrong]] Score: 0.1"


async def test_llm_step_judge_scores_the_newest_step_and_meters_it():
    judge = LLMStepJudge()
    backend = FakeBackend(reply=judge_reply)
    meter = Meter()
    good = await judge.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=backend, meter=meter)
    bad = await judge.ascore_path(
        "3 + 4?", ["3 + 4 = 7.", "So 7 = 8."], backend=backend, meter=meter
    )
    assert (good.score, bad.score) == (0.8, 0.1)
    assert meter.usage.by_purpose["verify"].calls == 2
    prompt = judge.messages("3 + 4?", ["a.", "b."])[-1].content
    assert "[Previous Steps]:a." in prompt and "[New Step]:b." in prompt
    first = judge.messages("3 + 4?", ["a."])[-1].content
    assert "[Previous Steps]:(none)" in first


async def test_llm_step_judge_falls_back_when_unparseable_or_out_of_budget():
    judge = LLMStepJudge(fallback_score=0.4)
    backend = FakeBackend(reply=lambda m, s: "hmm")
    verdict = await judge.ascore_path("q", ["a."], backend=backend, meter=Meter())
    assert (verdict.score, verdict.parsed) == (0.4, False)
    skipped = await judge.ascore_path(
        "q", ["a."], backend=backend, meter=Meter(Budget(max_calls=0))
    )
    assert not skipped.parsed and "skipped" in skipped.rationale


def test_llm_step_judge_shows_base_models_worked_verdicts():
    class Base(FakeBackend):
        needs_exemplars = True

    messages = LLMStepJudge().messages("q", ["a."], Base())
    assert [m.type for m in messages] == ["human", "ai", "human", "ai", "human"]
    assert "[[correct]]" in messages[1].content
    with pytest.raises(TTCConfigError):
        LLMStepJudge(prompt="{question}")


async def test_rollout_value_is_the_fraction_of_accepted_completions():
    def reply(messages, seed):
        return "The answer is 7." if seed % 2 == 0 else "The answer is 8."

    outcome = ProgrammaticVerifier(lambda q, text: "answer is 7" in text)
    backend = FakeBackend(reply=reply)
    meter = Meter()
    soft = RolloutValueScorer(outcome, k=4)
    verdict = await soft.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=backend, meter=meter)
    assert verdict.score == 0.5 and verdict.rationale == "2/4 rollouts accepted"
    hard = RolloutValueScorer(outcome, k=4, mode="hard")
    assert (await hard.ascore_path("3 + 4?", ["x"], backend=backend, meter=meter)).score == 1.0
    assert meter.usage.by_purpose["verify"].calls == 8
    assert soft.calls_per_step == 4
    assert RolloutValueScorer(LLMJudge(), k=3).calls_per_step == 6


async def test_rollouts_continue_the_partial_solution():
    seen = []

    def reply(messages, seed):
        seen.append(messages[-1])
        return "The answer is 7."

    captured = []
    outcome = ProgrammaticVerifier(lambda q, text: captured.append(text) or True)
    scorer = RolloutValueScorer(outcome, k=1, segmentation="newline")
    await scorer.ascore_path("3 + 4?", ["3 + 4 = 7."], backend=FakeBackend(reply=reply))
    assert seen[0].type == "ai" and seen[0].content == "3 + 4 = 7.\n"
    assert captured == ["3 + 4 = 7.\nThe answer is 7."]


def test_outcome_verifiers_are_wrapped_and_none_means_the_step_judge():
    verifier = ProgrammaticVerifier(lambda q, t: 1.0)
    wrapped = as_process_scorer(verifier)
    assert isinstance(wrapped, VerifierStepScorer) and wrapped.calls_per_step == 0
    assert as_process_scorer(wrapped) is wrapped
    assert isinstance(as_process_scorer(None), LLMStepJudge)
    assert as_process_scorer(LLMJudge()).calls_per_step == 1
