"""Votes, critiques and judges read a reasoning model's final answer; ``judges_see_thinking``
shows critiques and model judges the thinking before it (programmatic checks never)."""

from __future__ import annotations

import pytest

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier

THOUGHT = "secret-thought: 2 and 2 make 4"


class Thinker(FakeBackend):
    """Answers with a thought first; judges (prompts with a verdict instruction) say correct.
    Records every judging prompt."""

    reasoning = True

    def __init__(self) -> None:
        super().__init__(reply=self._reply)
        self.judged: list[str] = []

    def _reply(self, messages, seed) -> str:
        prompt = str(messages[-1].content)
        if "[[correct]]" in prompt:
            self.judged.append(prompt)
            return "Looks right. [[correct]] Score: 0.9"
        return f"<think> {THOUGHT} </think> The answer is 4."


@pytest.mark.parametrize("see", [False, True])
def test_critiques_see_the_thinking_only_when_asked(see):
    backend = Thinker()
    graph = create_ttc_graph(backend, "filter_vote", n=4, judges_see_thinking=see)
    result = graph.invoke({"question": "2+2?"})["ttc_result"]
    assert result["answer"] == "4" and len(backend.judged) == 2
    assert all((THOUGHT in p) is see for p in backend.judged)
    assert all("[Answer]:" in p and "The answer is 4." in p for p in backend.judged)
    # Seeing the thinking keeps it in the result too.
    assert all((c["thinking"] == THOUGHT) is see for c in result["candidates"])


@pytest.mark.parametrize("see", [False, True])
def test_model_judges_see_the_thinking_and_programmatic_checks_never(see):
    backend = Thinker()
    judged = create_ttc_graph(
        backend, "best_of_n", n=4, verifier=LLMJudge(), judges_see_thinking=see
    ).invoke({"question": "2+2?"})["ttc_result"]
    assert judged["answer"] == "4" and backend.judged
    assert all((f"<think>\n{THOUGHT}\n</think>" in p) is see for p in backend.judged)
    texts = []
    checked = create_ttc_graph(
        Thinker(),
        "best_of_n",
        n=2,
        verifier=ProgrammaticVerifier(lambda q, text: texts.append(text) or "4" in text),
        judges_see_thinking=see,
    ).invoke({"question": "2+2?"})["ttc_result"]
    assert checked["answer"] == "4" and texts == ["The answer is 4."] * 2
