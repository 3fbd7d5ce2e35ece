"""Method naming, the precedence of the three ways in, and request checking: pure functions."""

from __future__ import annotations

import pytest

from langgraph_ttc.serve.errors import APIError
from langgraph_ttc.serve.limits import Limits
from langgraph_ttc.serve.methods import resolve_method, split_model_name
from langgraph_ttc.serve.requests import parse_chat, parse_json
from langgraph_ttc.strategies import STRATEGIES


@pytest.mark.parametrize(
    ("name", "fields", "model"),
    [
        ("majority@8/qwen3-8b", {"strategy": "majority", "n": 8}, "qwen3-8b"),
        ("adaptive/qwen3-8b", {"strategy": "adaptive"}, "qwen3-8b"),
        ("deepconf_online@32/org/model", {"strategy": "deepconf_online", "n": 32}, "org/model"),
        ("majority@8", {"strategy": "majority", "n": 8}, None),
        ("qwen3-8b", {}, "qwen3-8b"),
        ("Qwen/Qwen3-8B", {}, "Qwen/Qwen3-8B"),
        ("none/qwen3-8b", {"strategy": "none"}, "qwen3-8b"),
    ],
)
def test_model_names(name, fields, model):
    assert split_model_name(name) == (fields, model)


def test_every_registered_strategy_is_a_method_name():
    for name in STRATEGIES:
        assert split_model_name(f"{name}@4/m") == ({"strategy": name, "n": 4}, "m")


@pytest.mark.parametrize("name", ["majorty@8/m", "majority@x/m", "majority@0/m", "none@3/m"])
def test_bad_method_names_are_400(name):
    with pytest.raises(APIError) as err:
        split_model_name(name)
    assert err.value.status == 400 and err.value.param == "model"


def test_precedence_field_by_field():
    default = {"strategy": "filter_vote", "n": 4, "budget": {"tokens": 5000}}
    method = resolve_method(
        "majority@8/m",
        {"x-ttc-n": "6", "x-ttc-budget-calls": "5"},
        {"n": 3, "budget": {"seconds": 9}},
        default,
    )
    assert (method.strategy, method.n, method.model) == ("majority", 3, "m")
    assert (method.budget_calls, method.budget_tokens, method.budget_seconds) == (5, 5000, 9.0)


def test_header_strategy_beats_the_name_and_body_beats_headers():
    assert resolve_method("majority/m", {"x-ttc-strategy": "adaptive"}, None).strategy == "adaptive"
    method = resolve_method("m", {"x-ttc-strategy": "adaptive"}, {"strategy": "none"})
    assert method.passthrough


def test_options_without_a_method_run_majority_and_none_stays_plain():
    assert resolve_method("m", {}, {"n": 4}).strategy == "majority"
    assert resolve_method("m", {"x-ttc-budget-calls": "3"}, None).strategy == "majority"
    assert resolve_method("none/m", {}, None, {"strategy": "majority", "n": 8}).passthrough
    assert resolve_method("m", {}, None).passthrough


def test_progress_from_header_or_body():
    assert resolve_method("majority/m", {"x-ttc-progress": "true"}, None).progress
    assert not resolve_method("majority/m", {"x-ttc-progress": "1"}, {"progress": False}).progress


@pytest.mark.parametrize(
    ("headers", "ttc", "param"),
    [
        ({"x-ttc-n": "many"}, None, "X-TTC-N"),
        ({"x-ttc-budget-seconds": "-1"}, None, "X-TTC-Budget-Seconds"),
        ({}, {"budget": "lots"}, "ttc.budget"),
        ({}, {"budget": {"dollars": 1}}, "ttc.budget"),
        ({}, {"policy": "/etc/passwd"}, "ttc.policy"),
        ({}, "majority", "ttc"),
    ],
)
def test_bad_options_are_400(headers, ttc, param):
    with pytest.raises(APIError) as err:
        resolve_method("majority/m", headers, ttc)
    assert err.value.status == 400 and err.value.param == param


def test_parse_chat_reads_openai_messages():
    request = parse_chat(
        {
            "model": "majority@4/m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is 2 + 2?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "4"},
            ],
            "n": 2,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_completion_tokens": 64,
        }
    )
    types = [m.type for m in request.messages]
    assert types == ["system", "human", "ai", "tool"]
    assert request.messages[2].tool_calls[0]["args"] == {"a": 2, "b": 2}
    assert (request.choices, request.stream, request.include_usage, request.max_tokens) == (
        2,
        True,
        True,
        64,
    )


def test_parse_json_refuses_what_is_no_object():
    for raw in (b"{nope", b"[1, 2]", b"\xff"):
        with pytest.raises(APIError) as err:
            parse_json(raw)
        assert err.value.code == "invalid_json"


def test_limits_share_the_cap_between_choices():
    limits = Limits(max_calls=16, max_tokens=1000)
    assert limits.calls_per_choice(3) == 5 and limits.tokens_per_choice(4) == 250


def test_batch_options_by_header_and_body_and_alone_they_run_majority():
    headers = {"x-ttc-batch-budget": "2.5", "x-ttc-batch-cap": "6"}
    method = resolve_method("m", headers, {"batch_budget": 4})
    assert (method.strategy, method.batch_budget, method.batch_cap) == ("majority", 4.0, 6)
    assert resolve_method("adaptive/m", {}, {"batch_cap": 8}).batch_budget is None
    for bad in (0.5, "x", True, float("inf")):
        with pytest.raises(APIError, match="number >= 1") as err:
            resolve_method("m", {}, {"batch_budget": bad})
        assert err.value.param == "ttc.batch_budget"
