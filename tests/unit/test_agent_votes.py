"""The pure parts of the agent middleware: tool-call keys, the step vote, the ledger, the
review request and a person's decisions."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from langgraph_ttc.agents import (
    AskHuman,
    SampleMore,
    apply_decisions,
    new_ledger,
    normalize_args,
    reply_key,
    text_key,
    tool_calls_key,
    vote,
)
from langgraph_ttc.agents.escalation import decisions_of
from langgraph_ttc.agents.ledger import (
    estimate,
    left,
    needs_estimate,
    record,
    room,
    sample_counters,
)
from langgraph_ttc.budget import Budget, Counters, Prices
from langgraph_ttc.errors import TTCConfigError, TTCInputError


def call(name, **args):
    return {"name": name, "args": args, "id": f"id-{name}"}


def test_equal_calls_share_a_key_whatever_the_order_format_and_noise():
    a = [call("pay", to="bob", amount=10, request_id="r1"), call("log", text="x")]
    b = [
        {"name": "log", "args": '{"text": " x "}'},  # JSON-string args, stray spaces
        call("pay", amount=10.0, to="bob", request_id="r2"),  # 10.0 is 10, another id
    ]
    assert tool_calls_key(a) != tool_calls_key(b)  # the request ids differ
    assert tool_calls_key(a, ["request_id"]) == tool_calls_key(b, ["request_id"])
    assert (
        tool_calls_key(a, ["request_id"]) == 'tool:log({"text":"x"});pay({"amount":10,"to":"bob"})'
    )


def test_ignore_args_per_tool_and_nested():
    ignore = {"mail": ["body", "meta.trace"], "*": ["request_id"]}
    one = call("mail", to="a", body="Hi!", meta={"trace": 1, "prio": 2}, request_id="x")
    two = call("mail", to="a", body="Hello", meta={"trace": 9, "prio": 2}, request_id="y")
    assert tool_calls_key([one], ignore) == tool_calls_key([two], ignore)
    assert tool_calls_key([one], ignore) == 'tool:mail({"meta":{"prio":2},"to":"a"})'
    # "body" is ignored for mail only: another tool's body still counts.
    assert tool_calls_key([call("note", body="a")], ignore) != tool_calls_key(
        [call("note", body="b")], ignore
    )
    assert normalize_args({"a": True, "b": 1.5}) == {"a": True, "b": 1.5}  # bools stay bools
    with pytest.raises(TTCConfigError, match="ignore_args=\\['body'\\]"):
        tool_calls_key([one], "body")


def test_reply_keys_for_calls_text_and_nothing():
    assert reply_key(AIMessage("", tool_calls=[call("f", x=1)])) == 'tool:f({"x":1})'
    assert reply_key(AIMessage("  The answer is 4. ")) == "text:the answer is 4"
    assert reply_key(AIMessage("   ")) is None
    assert text_key("A  b.") == text_key("a b") == "a b"


def test_step_vote_counts_failed_samples_in_the_agreement():
    v = vote(["tool:a", None, "tool:b", "tool:a", "tool:b"])
    # a and b tie 2-2: the key seen first wins; agreement is 2 of 5 drawn.
    assert (v.winner, v.key, v.tally, v.agreement, v.samples) == (
        0,
        "tool:a",
        {"tool:a": 2, "tool:b": 2},
        0.4,
        5,
    )
    assert vote([None, None]).winner is None
    with pytest.raises(TTCConfigError, match="aggregator='majority'"):
        vote(["a"], "filter_vote")


def test_ledger_room_counts_every_cap():
    ledger = new_ledger(Budget(max_calls=10, max_tokens=100))
    assert needs_estimate(ledger) and room(ledger, 4) == 4  # nothing known yet: calls only
    sample = Counters(calls=1, requests=1, prompt_tokens=20, completion_tokens=5)
    ledger = record(ledger, "generate", [sample] * 2, prompt_chars=80)
    # 2 calls and 50 tokens spent; 20 tokens per 80 characters, replies of 5 tokens.
    assert left(ledger).max_calls == 8 and left(ledger).max_tokens == 50
    assert not needs_estimate(ledger)
    assert estimate(ledger, 80) == (25, 0.0) and room(ledger, 4, prompt_chars=80) == 2
    assert estimate(ledger, 160) == (45, 0.0) and room(ledger, 4, prompt_chars=160) == 1
    prices = Prices(prompt=1000.0, completion=1000.0)
    priced = new_ledger(Budget(max_usd=0.01, prices=prices))
    reply = AIMessage(
        "x", usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}
    )
    cost = sample_counters(reply, 0.1, prices)
    assert cost.usd == pytest.approx(0.004)  # 4 tokens at $1000 per million
    priced = record(priced, "generate", [cost], prompt_chars=12)
    # $0.006 left; a 12-character prompt is 3 tokens, plus a 1-token reply: $0.004 each.
    assert estimate(priced, 12)[1] == pytest.approx(0.004) and room(priced, 5, 12) == 1


def test_ledger_record_adds_counts_and_learns_the_estimate():
    ledger = record(
        new_ledger(),
        "fallback",
        [Counters(calls=1, prompt_tokens=7, completion_tokens=3)],
        prompt_chars=28,
        steps=1,
        escalations={"fallback": 1},
    )
    ledger = record(ledger, "generate", [], steps=1, escalations={"fallback": 1})
    assert ledger["steps"] == 2 and ledger["escalations"] == {"fallback": 2}
    assert ledger["usage"]["by_purpose"]["fallback"]["calls"] == 1
    assert (ledger["tokens_per_char"], ledger["longest_reply"]) == (0.25, 3)


def test_review_request_has_the_human_in_the_loop_shape():
    from types import SimpleNamespace

    from langgraph_ttc.agents import review_request

    voted = AIMessage("", id="m", tool_calls=[call("buy", quantity=3)])
    other = AIMessage("", id="o", tool_calls=[call("buy", quantity=4)])
    candidates = [
        SimpleNamespace(key="k3", message=voted),
        SimpleNamespace(key="k4", message=other),
        SimpleNamespace(key="k3", message=voted),
    ]
    summary = {"step": 2, "samples": 3, "tally": {"k3": 2, "k4": 1}, "agreement": 0.6667}
    request = review_request(voted, candidates, summary, AskHuman(("approve", "reject")))
    assert request["action_requests"][0]["name"] == "buy"
    assert request["action_requests"][0]["args"] == {"quantity": 3}
    assert "2 of 3 samples" in request["action_requests"][0]["description"]
    assert request["review_configs"] == [
        {"action_name": "buy", "allowed_decisions": ["approve", "reject"]}
    ]
    assert [(c["key"], c["votes"]) for c in request["ttc"]["candidates"]] == [("k3", 2), ("k4", 1)]
    assert request["ttc"]["candidates"][1]["tool_calls"] == [
        {"name": "buy", "args": {"quantity": 4}}
    ]
    assert request["ttc"]["message_id"] == "m"


def test_decisions_approve_edit_reject_respond():
    message = AIMessage(
        "", id="m", tool_calls=[call("a", x=1), call("b", x=2), call("c", x=3), call("d", x=4)]
    )
    decisions = [
        {"type": "approve"},
        {"type": "edit", "edited_action": {"name": "b", "args": {"x": 20}}},
        {"type": "reject", "message": "no"},
        {"type": "respond", "message": "42"},
    ]
    revised, replies = apply_decisions(
        message, {"decisions": decisions}, ("approve", "edit", "reject", "respond")
    )
    assert revised.id == "m"
    assert [c["args"]["x"] for c in revised.tool_calls] == [1, 20, 3, 4]
    assert [(r.tool_call_id, r.status) for r in replies] == [("id-c", "error"), ("id-d", "success")]
    assert "Reason: no" in replies[0].content and replies[1].content == "42"


def test_bad_decisions_say_what_to_send():
    message = AIMessage("", id="m", tool_calls=[call("a"), call("b")])
    with pytest.raises(TTCInputError, match="one per action request"):
        apply_decisions(message, {"decisions": [{"type": "approve"}]}, ["approve"])
    with pytest.raises(TTCInputError, match=r"Command\(resume="):
        decisions_of("yes", 1)
    with pytest.raises(TTCInputError, match="not allowed here"):
        apply_decisions(message, {"decisions": [{"type": "edit"}] * 2}, ["approve"])
    with pytest.raises(TTCInputError, match="edited_action"):
        apply_decisions(message, {"decisions": [{"type": "edit"}] * 2}, ["edit"])


def test_escalation_configs_fail_early():
    from langgraph_ttc.agents import Fallback

    with pytest.raises(TTCConfigError, match="up_to"):
        SampleMore(up_to=0)
    with pytest.raises(TTCConfigError, match="chat model"):
        Fallback("gpt-4.1")
    with pytest.raises(TTCConfigError, match="subset"):
        AskHuman(allowed_decisions=("ok",))


def test_the_ledger_splits_a_reasoning_models_thinking_tokens():
    counted = AIMessage(
        "4",
        usage_metadata={
            "input_tokens": 9,
            "output_tokens": 40,
            "total_tokens": 49,
            "output_token_details": {"reasoning": 36},
        },
    )
    blocks = AIMessage(
        [{"type": "reasoning", "reasoning": "x" * 90}, {"type": "text", "text": "y" * 10}],
        usage_metadata={"input_tokens": 9, "output_tokens": 20, "total_tokens": 29},
    )
    plain = AIMessage(
        "4", usage_metadata={"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
    )
    samples = [sample_counters(m, 0.1) for m in (counted, blocks, plain)]
    assert [s.thinking_tokens for s in samples] == [36, 18, 0]
    ledger = record(new_ledger(), "generate", samples)
    usage = ledger["usage"]
    assert usage["thinking_tokens"] == 54 and usage["answer_tokens"] == 62 - 54
