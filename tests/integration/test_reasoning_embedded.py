"""s1 budget forcing for real on the embedded Gemma 3 270M (a base model), prompted with a
thinking transcript (``THINKING_EXEMPLARS``: "<think> ... </think> The answer is N.").

Invariants, not accuracy: a cap stops the thinking at the budget and the model then answers;
"Wait" makes a model that stopped early think longer than it did without. Samples of the three
settings share seeds, so each forced run starts from the same first thought. Run with ``-s`` to
see the numbers (thinking tokens and answers with and without the cap).
"""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends import BudgetForcingBackend, SamplingParams
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.parsing import extract_answer
from langgraph_ttc.prompts import THINKING_EXEMPLARS

pytestmark = pytest.mark.integration

SAMPLES = 2
FREE_BUDGET = 48  # room the model does not use up: it ends its thinking on its own
CAP = 4
MIN_THINKING = 32  # above the free thought on this question, so "Wait" has work to do
ANSWER_TOKENS = 8


@pytest.fixture(scope="module")
def messages():
    shots = []
    for question, answer in THINKING_EXEMPLARS:
        shots += [HumanMessage(question), AIMessage(answer)]
    return [*shots, HumanMessage("What is 7 + 5?")]


@pytest.fixture(scope="module")
def runs(messages):
    inner = EmbeddedBackend.default()
    params = SamplingParams(seed=1, temperature=0.7, max_tokens=ANSWER_TOKENS)
    settings = {
        "free": (BudgetForcingBackend(inner), FREE_BUDGET),
        "cap": (BudgetForcingBackend(inner), CAP),
        "wait": (BudgetForcingBackend(inner, min_thinking=MIN_THINKING, max_waits=4), FREE_BUDGET),
    }
    out = {}
    for name, (backend, budget) in settings.items():
        draw = backend.sample(messages, SAMPLES, replace(params, thinking_budget=budget))
        out[name] = draw
        for c, how in zip(draw.completions, draw.extra["budget_forcing"], strict=True):
            print(
                f"{name:>4}: thinking {c.thinking_tokens:>3} tokens, {how}, "
                f"answer {extract_answer(c.text)!r} from {c.text!r}; thought {c.thinking!r}"
            )
    return out


def test_every_forced_sample_is_whole(runs):
    for draw in runs.values():
        assert len(draw.completions) == SAMPLES and all(c.ok for c in draw.completions)
        assert draw.thinking_tokens == sum(c.thinking_tokens for c in draw.completions)
        assert draw.completion_tokens >= draw.thinking_tokens


def test_a_cap_stops_the_thinking_and_yields_an_answer(runs):
    free, cap = runs["free"], runs["cap"]
    assert all(f["capped"] for f in cap.extra["budget_forcing"])
    assert [c.thinking_tokens for c in cap.completions] == [CAP] * SAMPLES
    assert sum(c.thinking_tokens for c in free.completions) > CAP * SAMPLES
    # After the forced "</think> The answer is" the model writes the answer itself.
    assert all(c.text.startswith("The answer is") and c.answer_tokens >= 1 for c in cap.completions)
    assert any(extract_answer(c.text) is not None for c in cap.completions)


def test_wait_extends_the_thinking(runs):
    free, wait = runs["free"], runs["wait"]
    assert not any(f["capped"] for f in free.extra["budget_forcing"])  # it ended on its own
    assert all(c.thinking_tokens < MIN_THINKING for c in free.completions)
    assert all(f["waits"] >= 1 for f in wait.extra["budget_forcing"])
    assert all("Wait" in c.thinking for c in wait.completions)
    longer = [c.thinking_tokens for c in wait.completions]
    assert statistics.mean(longer) > statistics.mean(c.thinking_tokens for c in free.completions)
    for c, how in zip(wait.completions, wait.extra["budget_forcing"], strict=True):
        # Kept thinking until the minimum, unless the waits or the budget ran out first.
        assert c.thinking_tokens >= MIN_THINKING or how["waits"] == 4 or how["capped"]
