"""A reasoning model's thinking kept apart from its answer, as pure functions.

Reasoning models think before they answer, and servers hand the thinking back in one of three
ways; every backend reads its reply through the functions here, so a
:class:`~langgraph_ttc.backends.base.Completion`'s ``text`` is always the final answer alone and
its ``thinking`` the thought that preceded it:

* a separate field, from a server that runs a reasoning parser: vLLM's ``message.reasoning``
  (vLLM served with ``--reasoning-parser``; the field was ``reasoning_content`` until vLLM PR
  #27752, Nov 2025, and the old name was removed by PR #33402, Jan 2026), llama.cpp's server
  with ``--reasoning-format deepseek`` (``message.reasoning_content``), LangChain's standard
  ``{"type": "reasoning"}`` content blocks;
* raw ``<think>...</think>`` tags in the text, from a server without a parser (or a base model
  prompted with thinking exemplars). Chat templates of DeepSeek-R1 and Qwen3 open the block in
  the prompt, so the reply may hold only the closing tag; an opening tag that never closes means
  the sample was cut off inside its thinking;
* nothing at all: OpenAI's reasoning models hide the thinking and only count it
  (``usage.completion_tokens_details.reasoning_tokens``).

A sample whose thinking never reached an answer (``max_tokens`` or a stop string ended it inside
the thinking) is marked ``truncated_in_thinking``: its missing answer is a truncation, not a
model that had nothing to say. A trace that a watch ended on purpose (DeepConf's confidence
stop, ``finish_reason="stopped"``) is not: it was stopped, wherever it stood, and the result
counts it as stopped; nor is a sample cancelled mid-stream (never returned; its thinking tokens
are still counted, :attr:`Draw.cancelled_thinking_tokens
<langgraph_ttc.backends.base.Draw.cancelled_thinking_tokens>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langgraph_ttc.backends.base import Completion, Draw

__all__ = [
    "THINK_CLOSE",
    "THINK_OPEN",
    "ThinkingSplit",
    "estimate_thinking_tokens",
    "split_draw",
    "split_reply",
    "split_thinking",
    "with_thinking",
]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ThinkingSplit:
    """A reply cut into its thinking and its answer.

    Attributes:
        thinking: the thought (tags removed), or ``None`` when the reply shows none.
        answer: the final answer (what votes, critiques and judges read).
        truncated: the thinking never gave way to an answer (cut off inside it).
    """

    thinking: str | None
    answer: str
    truncated: bool = False


def split_thinking(text: str, *, open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE):
    """Split raw text holding ``<think>...</think>`` into thinking and answer.

    The answer is what follows the LAST closing tag (a model may repeat the closer after a forced
    end of thinking; the answer is what comes after all of it). Text with only a closing tag
    thought from the start (the chat template opened the block); text with an opening tag that
    never closes was cut off inside its thinking. Text without tags is all answer, unchanged.

    Example:
        >>> split_thinking("<think> 3 and 4 make 7 </think> The answer is 7.")
        ThinkingSplit(thinking='3 and 4 make 7', answer='The answer is 7.', truncated=False)
        >>> split_thinking("3 and 4 make 7\\n</think>\\n\\nThe answer is 7.").answer
        'The answer is 7.'
        >>> split_thinking("<think> 3 and 4 make").truncated
        True
        >>> split_thinking("The answer is 7.").thinking is None
        True
    """
    closed = text.rfind(close_tag)
    if closed >= 0:
        before, answer = text[:closed], text[closed + len(close_tag) :]
        opened = before.find(open_tag)
        if opened >= 0:
            before = before[opened + len(open_tag) :]
        return ThinkingSplit(_clean(before, open_tag, close_tag), answer.strip())
    opened = text.find(open_tag)
    if opened >= 0:
        answer = text[:opened].strip()
        return ThinkingSplit(text[opened + len(open_tag) :].strip(), answer, truncated=not answer)
    return ThinkingSplit(None, text)  # untouched: a continuation's leading space matters


def _clean(thinking: str, open_tag: str, close_tag: str) -> str:
    """The thinking without stray repeated tags (a forced closer the model echoed)."""
    return thinking.replace(close_tag, " ").replace(open_tag, " ").strip()


def split_reply(
    content: str | None,
    reasoning: str | None = None,
    *,
    finish_reason: str | None = None,
    reasoning_tokens: int = 0,
    tool_calls: Sequence = (),
) -> ThinkingSplit:
    """Thinking and answer of one reply, whichever way the server returned the thinking.

    Args:
        content: the reply's text (``message.content`` / ``text``).
        reasoning: the separate thinking field, when the server filled one.
        finish_reason: ``"length"`` when ``max_tokens`` ended the reply.
        reasoning_tokens: hidden thinking the server only counted (OpenAI reasoning models).
        tool_calls: the reply's tool calls (a tool call is an answer, even with no text).

    Example:
        >>> split_reply(None, "Let me add 3 and 4", finish_reason="length")
        ThinkingSplit(thinking='Let me add 3 and 4', answer='', truncated=True)
        >>> split_reply("", reasoning_tokens=256, finish_reason="length").truncated
        True
        >>> split_reply("The answer is 7.", "3 + 4 = 7").answer
        'The answer is 7.'
    """
    content = content or ""
    if reasoning:
        answer = content.strip()
        if THINK_CLOSE in answer:  # a parser that left an echoed closer in the content
            answer = split_thinking(answer).answer
        return ThinkingSplit(reasoning.strip(), answer, truncated=not answer and not tool_calls)
    found = split_thinking(content)
    if found.thinking is None:  # all answer: cut short only if hidden reasoning used the length
        truncated = reasoning_tokens > 0 and finish_reason == "length" and not found.answer
    else:
        truncated = found.truncated
    truncated = truncated and not tool_calls
    if truncated == found.truncated:  # the usual reply: the split as it is, no second object
        return found
    return ThinkingSplit(found.thinking, found.answer, truncated)


def estimate_thinking_tokens(completion_tokens: int, thinking: str | None, answer: str) -> int:
    """The thinking's share of a reply's tokens when the server does not count it: in
    proportion to characters (all of them when there is no answer).

    Example:
        >>> estimate_thinking_tokens(100, "x" * 300, "y" * 100)
        75
        >>> estimate_thinking_tokens(40, "x" * 10, "")
        40
    """
    if not thinking or completion_tokens <= 0:
        return 0
    if not answer:
        return completion_tokens
    return round(completion_tokens * len(thinking) / (len(thinking) + len(answer)))


def with_thinking(completion: Completion) -> Completion:
    """A completion whose raw ``<think>`` text is split (idempotent: a completion that already
    carries thinking, or counts hidden thinking, is returned as is).

    For backends that hand back raw text (the embedded model prompted with thinking exemplars,
    user backends); the Meter applies it to every draw.

    Example:
        >>> from langgraph_ttc.backends.base import Completion
        >>> c = with_thinking(Completion(text="<think> 2 and 2 </think> The answer is 4.",
        ...                              completion_tokens=10))
        >>> c.text, c.thinking, c.thinking_tokens
        ('The answer is 4.', '2 and 2', 3)
    """
    if completion.thinking is not None or completion.thinking_tokens or not completion.ok:
        return completion
    if THINK_OPEN not in completion.text and THINK_CLOSE not in completion.text:
        return completion
    found = split_reply(completion.text, tool_calls=completion.tool_calls)
    return replace(
        completion,
        text=found.answer,
        thinking=found.thinking,
        thinking_tokens=estimate_thinking_tokens(
            completion.completion_tokens, found.thinking, found.answer
        ),
        truncated_in_thinking=found.truncated and completion.finish_reason != "stopped",
    )


def split_draw(draw: Draw) -> Draw:
    """:func:`with_thinking` over every completion of a draw (the same draw when none changes)."""
    completions = tuple(with_thinking(c) for c in draw.completions)
    if all(a is b for a, b in zip(completions, draw.completions, strict=True)):
        return draw
    return replace(draw, completions=completions)
