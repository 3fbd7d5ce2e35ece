"""Step segmentation: splitting, joining, prefixes to continue, and cutting one step."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends.transcript import TRANSCRIPT_STOPS, render_transcript
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.search import partial_answer, reformat_exemplars
from langgraph_ttc.search.segmentation import Segmentation, StepCut, split_sentences
from langgraph_ttc.testing import FakeBackend


class TranscriptBackend(FakeBackend):
    needs_exemplars = True


def test_blank_line_split_join_and_prefix():
    seg = Segmentation.parse("blank_line")
    assert seg.split("a = 1.\n\nb = 2.\n \n\nThe answer is 2.") == [
        "a = 1.",
        "b = 2.",
        "The answer is 2.",
    ]
    assert seg.join(["a = 1.", " b = 2. "]) == "a = 1.\n\nb = 2."
    assert seg.prefix(["a = 1."]) == "a = 1.\n\n"
    assert seg.prefix([]) == ""
    assert seg.split("one line\nstill one step") == ["one line\nstill one step"]


@pytest.mark.parametrize(
    "continuation,expected",
    [
        ("b = 2.\n\nThe answer is 2.", StepCut("b = 2.", True)),
        ("\n\nb = 2.\n\n", StepCut("b = 2.", False)),  # the prefix's separator was stripped
        ("  b = 2.", StepCut("b = 2.", False)),
        ("", StepCut("", False)),
        ("\n\n", StepCut("", False)),
    ],
)
def test_blank_line_cut(continuation, expected):
    assert Segmentation.blank_line().cut(continuation) == expected


def test_newline_and_regex():
    seg = Segmentation.parse("newline")
    assert seg.split("x = 1.\n  y = 2.\nThe answer is 2.") == [
        "x = 1.",
        "y = 2.",
        "The answer is 2.",
    ]
    assert seg.cut("\ny = 2.\nThe answer") == StepCut("y = 2.", True)
    regex = Segmentation.parse(r"regex:;\s*")
    assert regex.split("a; b;c") == ["a", "b", "c"]
    assert regex.join(["a", "b"]) == "a\nb"
    assert regex.cut("; b; c") == StepCut("b", True)


def test_step_label_keeps_labels_in_the_prefix_and_stops_at_the_next_one():
    seg = Segmentation.parse("step_label")
    assert seg.join(["a.", "b."]) == "Step 1: a.\nStep 2: b."
    assert seg.split("Step 1: a.\nStep 2: b.") == ["a.", "b."]
    assert seg.prefix(["a."]) == "Step 1: a.\nStep 2:"
    assert seg.cut(" b.\nStep 3: c.") == StepCut("b.", True)
    assert seg.cut("Step 2: b.") == StepCut("b.", False)  # a repeated label is dropped
    assert seg.stops(FakeBackend()) == ("\nStep",)
    assert seg.stops(TranscriptBackend()) == (*TRANSCRIPT_STOPS, "\nStep")
    assert seg.uses_step_stops(FakeBackend())
    custom = Segmentation.parse("step_label:## {k}.")
    assert custom.split("## 1. a\n## 2. b") == ["a", "b"]


def test_whitespace_separators_are_cut_client_side_unless_asked():
    assert Segmentation.blank_line().stops(FakeBackend()) == ()
    assert Segmentation.newline().stops(TranscriptBackend()) == ()  # backend's own stops apply
    eager = Segmentation("blank_line", "\n\n", r"\n[ \t]*\n\s*", stop_at_delimiter=True)
    assert eager.stops(FakeBackend()) == ("\n\n",)
    assert eager.uses_step_stops(FakeBackend())
    assert not Segmentation.blank_line().uses_step_stops(FakeBackend())


def test_auto_resolves_per_backend():
    auto = Segmentation.parse("auto")
    assert auto.resolve(TranscriptBackend()).kind == "newline"  # a blank line ends the turn
    assert auto.resolve(FakeBackend()).kind == "blank_line"
    assert Segmentation.newline().resolve(FakeBackend()).kind == "newline"
    with pytest.raises(TTCConfigError, match="resolve"):
        auto.split("x")


@pytest.mark.parametrize("bad", ["lines", "regex:", "regex:(", "step_label:Step:", 3])
def test_bad_segmentations_are_rejected_with_the_valid_names(bad):
    with pytest.raises(TTCConfigError):
        Segmentation.parse(bad)


def test_final_answer_detection():
    seg = Segmentation.newline()
    assert seg.is_final("So the answer is 7.")
    assert seg.is_final(r"We get \boxed{7}")
    assert not seg.is_final("3 + 4 = 7.")


def test_exemplars_are_rewritten_one_sentence_per_step():
    seg = Segmentation.newline()
    assert split_sentences("1.5 + 2 = 3.5. The answer is 3.5.") == [
        "1.5 + 2 = 3.5.",
        "The answer is 3.5.",
    ]
    assert seg.format_solution("4 / 4 + 8 * -7 = -55. The answer is -55.") == (
        "4 / 4 + 8 * -7 = -55.\nThe answer is -55."
    )
    assert seg.format_solution("already\nstepped") == "already\nstepped"
    assert seg.format_solution("The answer is 3.") == "The answer is 3."
    messages = [
        HumanMessage("What is 2 + 5?"),
        AIMessage("2 + 5 = 7. The answer is 7."),
        HumanMessage("What is 3 + 4?"),
    ]
    out = reformat_exemplars(messages, seg)
    assert out[1].content == "2 + 5 = 7.\nThe answer is 7."
    assert out[0] is messages[0] and out[2] is messages[2]


def test_partial_answer_is_continued_by_the_transcript():
    seg = Segmentation.newline()
    messages = partial_answer([HumanMessage("What is 3 + 4?")], seg, ["3 + 4 = 7."])
    assert messages[-1].type == "ai"
    assert render_transcript(messages) == "Q: What is 3 + 4?\nA: 3 + 4 = 7."
    assert partial_answer([HumanMessage("q")], seg, []) == [HumanMessage("q")]
