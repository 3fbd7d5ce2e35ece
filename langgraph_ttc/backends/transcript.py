"""Render chat messages as a few-shot completion transcript for base models.

A base model (like the embedded Gemma 3 270M) has no chat template. We show it a transcript::

    <system text>

    Q: <exemplar question>
    A: <exemplar answer>

    Q: <question>
    A:

and stop at the blank line that separates turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage

from langgraph_ttc.errors import TTCInputError

QUESTION_PREFIX = "Q: "
ANSWER_PREFIX = "A:"
TURN_SEPARATOR = "\n\n"
TRANSCRIPT_STOPS: tuple[str, ...] = ("\n\n", "\nQ:")


def message_text(message: BaseMessage) -> str:
    """The text of a message; rejects non-text content with a clear error."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise TTCInputError(
                f"Message content of type {kind!r} cannot be sent to a text-only model; "
                "pass text content or use a multimodal chat model backend."
            )
    return "".join(parts)


def render_transcript(messages: Sequence[BaseMessage]) -> str:
    """Render messages as a transcript ending with an open ``A:`` for the model to complete.

    Example:
        >>> from langchain_core.messages import HumanMessage, AIMessage
        >>> print(render_transcript([HumanMessage("1+1?"), AIMessage("The answer is 2."),
        ...                          HumanMessage("2+3?")]))
        Q: 1+1?
        A: The answer is 2.
        <BLANKLINE>
        Q: 2+3?
        A:
    """
    chunks: list[str] = []
    for message in messages:
        text = message_text(message).strip()
        if message.type == "system":
            chunks.append(text + TURN_SEPARATOR)
        elif message.type == "human":
            chunks.append(f"{QUESTION_PREFIX}{text}\n{ANSWER_PREFIX}")
        elif message.type == "ai":
            # A trailing AI message is a partial answer to continue (prefix continuation).
            chunks.append(f" {text}" + ("" if message is messages[-1] else TURN_SEPARATOR))
        else:
            chunks.append(f"{QUESTION_PREFIX}[{message.type}] {text}\n{ANSWER_PREFIX}")
    return "".join(chunks)
