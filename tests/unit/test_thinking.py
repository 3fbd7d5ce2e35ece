"""Thinking kept apart from the answer, counted apart, and the thinking-budget knob's mapping:
the pure functions (issue 16, phase 1)."""

from __future__ import annotations

import logging

import pytest

from langgraph_ttc.backends.base import Completion, Draw, SamplingParams
from langgraph_ttc.backends.reasoning import (
    detect_control,
    effort_for,
    thinking_fields,
    warn_once,
    within_tokens,
)
from langgraph_ttc.backends.thinking import (
    ThinkingSplit,
    estimate_thinking_tokens,
    split_draw,
    split_reply,
    split_thinking,
    with_thinking,
)
from langgraph_ttc.budget import Budget, Counters, Meter, Usage
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.testing import FakeBackend

# -- raw <think> text ----------------------------------------------------------------------


def test_tags_split_thinking_from_answer():
    found = split_thinking("<think>\nMaybe 12. No: 7 + 5 = 12.\n</think>\n\nThe answer is 12.")
    assert found == ThinkingSplit("Maybe 12. No: 7 + 5 = 12.", "The answer is 12.", False)


def test_a_template_opened_block_has_only_the_closing_tag():
    # DeepSeek-R1 / Qwen3 chat templates put "<think>\n" in the prompt: the reply starts inside.
    found = split_thinking("7 + 5 = 12\n</think>\n\nThe answer is 12.")
    assert (found.thinking, found.answer, found.truncated) == (
        "7 + 5 = 12",
        "The answer is 12.",
        False,
    )


def test_an_unterminated_block_is_cut_off_inside_its_thinking():
    found = split_thinking("<think> 7 + 5 is, let me see, maybe 13")
    assert found == ThinkingSplit("7 + 5 is, let me see, maybe 13", "", True)


def test_the_answer_follows_the_last_closer_and_stray_tags_leave_the_thinking():
    # After a forced end of thinking a model may echo the closer before it answers.
    found = split_thinking("<think> a b </think>\n\n</think> The answer is 3.")
    assert (found.thinking, found.answer) == ("a b", "The answer is 3.")


def test_text_without_tags_is_all_answer():
    assert split_thinking("The answer is 3.") == ThinkingSplit(None, "The answer is 3.", False)


# -- replies with a thinking field or hidden thinking --------------------------------------


def test_a_parser_field_is_the_thinking_and_empty_content_means_cut_off():
    assert split_reply(None, "so 3 + 4", finish_reason="length") == ThinkingSplit(
        "so 3 + 4", "", True
    )
    assert split_reply("The answer is 7.", "so 3 + 4") == ThinkingSplit(
        "so 3 + 4", "The answer is 7.", False
    )


def test_hidden_thinking_that_used_up_max_tokens_is_cut_off():
    # OpenAI: content "" with finish_reason "length" after reasoning tokens.
    assert split_reply("", reasoning_tokens=64, finish_reason="length").truncated
    assert not split_reply("", reasoning_tokens=64, finish_reason="stop").truncated
    assert not split_reply("", finish_reason="length").truncated  # no thinking: not "in" it


def test_a_tool_call_is_an_answer_even_without_text():
    tool = ({"name": "add", "args": {}},)
    assert not split_reply(None, "I should call add", tool_calls=tool).truncated
    assert not split_reply("<think> call add", tool_calls=tool).truncated


def test_thinking_tokens_are_estimated_by_characters_when_not_counted():
    assert estimate_thinking_tokens(100, "x" * 300, "y" * 100) == 75  # 100 * 300 / 400
    assert estimate_thinking_tokens(9, "x" * 10, "") == 9  # no answer: all thinking
    assert estimate_thinking_tokens(9, None, "answer") == 0


def test_with_thinking_splits_raw_text_once():
    raw = Completion(text="<think> 2 and 2 </think> The answer is 4.", completion_tokens=23)
    split = with_thinking(raw)
    # 23 tokens shared by characters: thinking "2 and 2" (7), answer (16): round(23 * 7/23) = 7
    assert (split.text, split.thinking, split.thinking_tokens) == ("The answer is 4.", "2 and 2", 7)
    assert with_thinking(split) is split
    failed = Completion(text="<think> x", error="boom")
    assert with_thinking(failed) is failed


def test_split_draw_keeps_a_draw_without_tags():
    draw = Draw(completions=(Completion(text="The answer is 4."),), requests=1)
    assert split_draw(draw) is draw


# -- the knob ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(0, "low"), (1448, "low"), (1449, "medium"), (4096, "medium"), (4097, "high")],
)
def test_a_budget_picks_the_nearest_effort_on_a_log_scale(budget, effort):
    # Anchors 1024/2048/8192 (vLLM PR #20859's first design); edges sqrt(1024*2048) = 1448.2
    # and sqrt(2048*8192) = 4096.
    assert effort_for(budget) == effort


def test_each_server_gets_its_own_field():
    params = SamplingParams(thinking_budget=3000)
    assert thinking_fields("vllm", params) == {"thinking_token_budget": 3000}
    assert thinking_fields("llama.cpp", params) == {"thinking_budget_tokens": 3000}
    assert thinking_fields("openai", params) == {"reasoning_effort": "medium"}
    assert thinking_fields(None, params) == {}
    assert thinking_fields("vllm", SamplingParams()) == {}


def test_the_control_is_detected_or_named():
    assert detect_control("https://api.openai.com/v1", None) == "openai"
    assert detect_control("http://h:8000/v1", None, vllm_extras=True) == "vllm"
    assert detect_control("http://h:8000/v1", "llama.cpp") == "llama.cpp"
    assert detect_control("http://h:8000/v1", None) is None
    with pytest.raises(TTCConfigError, match="BudgetForcingBackend"):
        detect_control("http://h:8000/v1", "sglang")


def test_a_request_shrunk_to_fit_gives_up_thinking_first():
    p = SamplingParams(max_tokens=256, thinking_budget=4000)
    assert within_tokens(p, 4256, 4000) is p  # fits
    assert within_tokens(p, 1000, 4000).thinking_budget == 744  # 1000 - 256 for the answer
    tight = within_tokens(p, 100, 4000)
    assert (tight.max_tokens, tight.thinking_budget) == (100, 0)


def test_warn_once_says_it_once(caplog):
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            warn_once("test-thinking-warn-once", "cannot honour %s", "the knob")
    assert [r.getMessage() for r in caplog.records] == ["cannot honour the knob"]


# -- counted and budgeted --------------------------------------------------------------------


def test_counters_split_thinking_and_answer_tokens_and_round_trip():
    usage = Usage()
    usage.record("generate", Counters(calls=2, completion_tokens=100, thinking_tokens=70))
    usage.record("critique", Counters(calls=1, completion_tokens=10, thinking_tokens=4))
    data = usage.to_dict()
    assert (data["thinking_tokens"], data["answer_tokens"]) == (74, 36)
    assert data["by_purpose"]["generate"]["answer_tokens"] == 30
    assert Usage.from_dict(data).to_dict() == data
    old = {"by_purpose": {"generate": {"calls": 1, "completion_tokens": 5}}}  # before thinking
    assert Usage.from_dict(old).total().thinking_tokens == 0


def reasoner(thinking_words: int):
    """A fake reasoning model: ``<think>`` + n words + ``</think>`` + an answer."""
    words = " ".join(["hmm"] * thinking_words)
    backend = FakeBackend(reply=lambda m, s: f"<think> {words} </think> The answer is 4.")
    backend.reasoning = True
    return backend


def test_the_meter_splits_raw_thinking_and_counts_it_by_purpose():
    meter = Meter()
    draw = meter.sample(reasoner(20), [("human", "2+2?")], n=2, purpose="generate")
    # 26 words per sample: "<think>", 20 x "hmm" (79 chars), "</think>", 4 answer words (16
    # chars): round(26 * 79 / 95) = 22 thinking tokens each.
    assert [c.text for c in draw.completions] == ["The answer is 4."] * 2
    assert [c.thinking_tokens for c in draw.completions] == [22, 22]
    generate = meter.usage.by_purpose["generate"]
    assert (generate.completion_tokens, generate.thinking_tokens) == (52, 44)


class Spy(FakeBackend):
    """A reasoning fake that records the parameters each request gets."""

    reasoning = True

    def __init__(self) -> None:
        super().__init__(reply=lambda m, s: "<think> hmm </think> The answer is 4.")
        self.params: list[SamplingParams] = []

    def sample(self, messages, n, params, *, timeout=None):
        self.params.append(params)
        return super().sample(messages, n, params, timeout=timeout)


def test_token_caps_include_the_thinking_room():
    # A reasoning sample may generate max_tokens + thinking_budget = 500 tokens; 3 of them and
    # a 2-token prompt each do not fit 1000, so each gets 1000 // 3 - 2 = 331: the answer keeps
    # its 100, the thinking gives way to 231.
    spy = Spy()
    meter = Meter(Budget(max_tokens=1000))
    params = SamplingParams(max_tokens=100, thinking_budget=400)
    meter.sample(spy, [("human", "2+2?")], n=3, params=params)
    assert (spy.params[0].max_tokens, spy.params[0].thinking_budget) == (100, 231)
    # The same request to a model that does not think asks for 100 tokens: nothing to shrink.
    plain = FakeBackend()
    assert plain.new_tokens(params) == 500  # a set budget counts for any backend
    assert plain.new_tokens(SamplingParams(max_tokens=100)) == 100


def test_the_default_thinking_room_gives_way_to_a_token_budget():
    spy = Spy()
    meter = Meter(Budget(max_tokens=600))
    meter.sample(spy, [("human", "2+2?")], n=1, params=SamplingParams(max_tokens=256))
    # Default room 16384 + 256 does not fit: 600 - 2 prompt tokens = 598 for the sample, the
    # answer keeps 256 and the thinking gets 342.
    assert (spy.params[0].max_tokens, spy.params[0].thinking_budget) == (256, 342)
    total = meter.usage.total()
    assert total.prompt_tokens + total.completion_tokens <= 600


def test_a_backend_that_cannot_take_the_budget_is_named_once(caplog):
    class PlainTextModel(FakeBackend):  # like the embedded model: no thinking control
        pass

    meter = Meter()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            meter.sample(
                PlainTextModel(), [("human", "2+2?")], 1, params=SamplingParams(thinking_budget=8)
            )
    warned = [r.getMessage() for r in caplog.records if "PlainTextModel" in r.getMessage()]
    assert len(warned) == 1 and "BudgetForcingBackend(PlainTextModel(...))" in warned[0]
