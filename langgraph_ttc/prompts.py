"""Prompt texts of the methods, kept verbatim where a paper gives them."""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

# Chen et al. 2024 ("Are More LM Calls All You Need?"), filter prompt of Filter-Vote.
FILTER_PROMPT = (
    "[User Question]:{query}\n"
    "[Answer]:{answer}\n"
    "Instruction: Review your previous answer and find problems with your answer. Finally, "
    "conclude with either '[[correct]]' if the above answer is correct or '[[wrong]]' if it is "
    "incorrect. Think step by step.\n"
    "Verdict:"
)

# Qu et al. 2024 (RISE): feedback given before a revision when no critique is available.
RISE_FEEDBACK = "The answer is incorrect. Please try again."

REVISION_INSTRUCTION = (
    "Here are previous attempts at this question, most recent last.\n\n{attempts}\n\n"
    "Feedback: {feedback}\n"
    "Write a corrected solution to: {query}"
)


def filter_messages(query: str, answer: str) -> list[BaseMessage]:
    """The one-message prompt for a filter (self-critique) call.

    Example:
        >>> print(filter_messages("1+1?", "2")[0].content.splitlines()[0])
        [User Question]:1+1?
    """
    return [HumanMessage(FILTER_PROMPT.format(query=query, answer=answer))]


def revision_messages(query: str, attempts: list[str], feedback: str) -> list[BaseMessage]:
    """The prompt for one revision: the most recent attempts, the feedback, the question.

    Snell et al. 2024 (sec. 6) keep the last 4 attempts in context; callers pass at most 4.
    """
    listed = "\n\n".join(f"Attempt {i + 1}: {a.strip()}" for i, a in enumerate(attempts))
    return [
        HumanMessage(REVISION_INSTRUCTION.format(attempts=listed, feedback=feedback, query=query))
    ]


# Few-shot examples for base models when no task supplies its own (they have no chat template
# and only learn the answer format from examples). Chosen by measurement on the embedded Gemma 3
# 270M (benchmarks/embedded_prompting.py, 60 held-out simple questions, 8 seeded samples each):
# twelve worked exemplars of the kinds a first question takes (sums, differences, products, a
# capital, a count) beat the former three (single-sample accuracy 0.41 vs 0.21, majority@8 0.57
# vs 0.35); answers without the worked step, an instruction line, a newline stop, or sixteen
# exemplars did no better. None of them is a question the README asks.
GENERIC_EXEMPLARS: tuple[tuple[str, str], ...] = (
    ("What is 12 + 9?", "12 + 9 = 21. The answer is 21."),
    ("What is 8 - 5?", "8 - 5 = 3. The answer is 3."),
    ("What is 6 * 4?", "6 * 4 = 24. The answer is 24."),
    ("What is 3 + 6?", "3 + 6 = 9. The answer is 9."),
    ("What is 64 - 31?", "64 - 31 = 33. The answer is 33."),
    ("What is the capital of France?", "The capital of France is Paris. The answer is Paris."),
    ("What is 5 * 6?", "5 * 6 = 30. The answer is 30."),
    ("How many wheels does a bicycle have?", "A bicycle has two wheels. The answer is 2."),
    ("What is 7 - 2?", "7 - 2 = 5. The answer is 5."),
    ("What is the capital of Kenya?", "The capital of Kenya is Nairobi. The answer is Nairobi."),
    ("What is 5 + 9?", "5 + 9 = 14. The answer is 14."),
    ("How many legs does a cow have?", "A cow has four legs. The answer is 4."),
)

# The same examples with the thinking a reasoning transcript shows before each answer: a base
# model prompted with them thinks inside <think> ... </think> and then answers, the format s1's
# budget forcing steers (Muennighoff et al. 2025, sec. 3.1).
THINKING_EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "What is 12 + 9?",
        "<think> 12 + 9: 12 plus 8 is 20, and one more is 21. </think> The answer is 21.",
    ),
    (
        "What is 6 * 4?",
        "<think> 6 * 4 is four sixes: 6, 12, 18, 24. </think> The answer is 24.",
    ),
    (
        "What is 15 - 7?",
        "<think> 15 - 7: 15 minus 5 is 10, minus 2 more is 8. </think> The answer is 8.",
    ),
)

# Worked filter verdicts shown to base models before a critique, so they learn the verdict format.
CRITIQUE_EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        FILTER_PROMPT.format(query="What is 2 + 5?", answer="2 + 5 = 7. The answer is 7."),
        "2 + 5 is 7, which matches. [[correct]]",
    ),
    (
        FILTER_PROMPT.format(query="What is 3 * 3?", answer="3 * 3 = 6. The answer is 6."),
        "3 * 3 is 9, not 6. [[wrong]]",
    ),
)


def shown_with_thinking(text: str, thinking: str | None) -> str:
    """An answer as a judge sees it when it is shown the thinking: the thought in the
    ``<think>`` tags reasoning models use, then the answer (the answer alone without thinking).

    Example:
        >>> shown_with_thinking("The answer is 4.", "2 and 2 make 4")
        '<think>\\n2 and 2 make 4\\n</think>\\nThe answer is 4.'
    """
    if not thinking:
        return text
    return f"<think>\n{thinking.strip()}\n</think>\n{text}"


def critique_messages(backend, question: str, text: str) -> list[BaseMessage]:
    """The Filter-Vote filter prompt (Chen et al. 2024), after worked verdicts for base models.

    Used by the critique node and by sample pools, so pooled verdicts match live Filter-Vote.
    ``text`` is the final answer (or :func:`shown_with_thinking` of it, when judges see the
    thinking).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> critique_messages(FakeBackend(), "1+1?", "The answer is 2.")[-1].content[:20]
        '[User Question]:1+1?'
    """
    shots: list[BaseMessage] = []
    if getattr(backend, "needs_exemplars", False):
        for prompt, verdict in CRITIQUE_EXEMPLARS:
            shots += [HumanMessage(prompt), AIMessage(verdict)]
    return [*shots, *filter_messages(question, text)]
