"""s1 budget forcing for real on the embedded Gemma 3 270M (a base model), prompted with a
thinking transcript (``THINKING_EXEMPLARS``: "<think> ... </think> The answer is N.").

Invariants, not accuracy: a cap stops the thinking at the budget and the model then answers;
"Wait" makes a model that stopped early think longer than it did without. Samples of the three
settings share seeds, so each forced run starts from the same first thought. Run with ``-s`` to
see the numbers (thinking tokens and answers with and without the cap).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_ttc.backends import BudgetForcingBackend, SamplingParams
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.parsing import extract_answer
from langgraph_ttc.prompts import THINKING_EXEMPLARS

pytestmark = pytest.mark.integration

SAMPLES = 4
FREE_BUDGET = 48  # room the model mostly does not use up: it ends its thinking on its own
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
    """Paired by seed: a sample that ended its thinking early on its own thinks longer when
    "Wait" is appended; one that ran into the budget runs into it the same way."""
    free, wait = runs["free"], runs["wait"]
    pairs = list(
        zip(
            free.completions,
            free.extra["budget_forcing"],
            wait.completions,
            wait.extra["budget_forcing"],
            strict=True,
        )
    )
    early = [p for p in pairs if not p[1]["capped"] and p[0].thinking_tokens < MIN_THINKING]
    assert early, "no sample ended its thinking early on its own: nothing for Wait to extend"
    for free_c, _, wait_c, how in early:
        assert how["waits"] >= 1 and "Wait" in wait_c.thinking
        assert wait_c.thinking_tokens > free_c.thinking_tokens
        # Kept thinking until the minimum, unless the waits or the budget ran out first.
        assert wait_c.thinking_tokens >= MIN_THINKING or how["waits"] == 4 or how["capped"]
    for free_c, free_how, wait_c, how in pairs:
        if free_how["capped"]:  # the same seed reaches the budget before any end of thinking
            assert how["capped"] and wait_c.thinking_tokens == free_c.thinking_tokens
