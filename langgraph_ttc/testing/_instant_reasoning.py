"""The instant server's reasoning mode: replies of a model that thinks before it answers, shaped
as the servers that serve such models return them, whole and streamed.

Shapes (cited by the tests that check them):

* ``"vllm"``: vLLM with ``--reasoning-parser`` (docs: "Reasoning Outputs"): the chat message
  carries the thinking in ``reasoning`` and the answer in ``content``; a reply cut off inside
  its thinking has ``content: null``. ``usage`` has no ``completion_tokens_details``.
* ``"vllm-legacy"``: the same with the field's old name ``reasoning_content`` (vLLM before PR
  #27752; llama.cpp's server with ``--reasoning-format deepseek``).
* ``"vllm-raw"``: vLLM without a reasoning parser: the text holds ``<think> ... </think>``.
* ``"openai"``: OpenAI reasoning models (API reference, chat completion object): the thinking is
  hidden, ``content`` is the answer (``""`` when ``max_completion_tokens`` ran out while
  thinking, ``finish_reason: "length"``) and ``usage.completion_tokens_details.reasoning_tokens``
  counts it.

Streamed (``stream=True``, :func:`stream_pieces`): vLLM with a parser sends the thinking as
``choices[].delta.reasoning`` (``reasoning_content`` before PR #27752) and the answer as
``delta.content`` (docs: "Reasoning Outputs", section "Streaming chat completions"); the
``<think>`` and ``</think>`` tokens themselves send no chunk (the parser returns no delta for
them, and vLLM's ``serving_chat.py`` skips a token whose delta message is ``None``), so their
log-probabilities are not streamed either. Without a parser every token is ``delta.content``.
OpenAI reasoning models stream only the answer; the hidden thinking sends nothing and is
counted in the last chunk's ``usage.completion_tokens_details.reasoning_tokens`` (API reference,
"The chat completion chunk object": ``usage`` is present only in the last chunk, with
``stream_options: {"include_usage": true}``).

The text-completion endpoint (``/v1/completions``) runs no reasoning parser in any mode: its
``text`` is the raw trace, and a prompt that ends inside a trace is continued (prefix
continuation), which budget forcing relies on. vLLM's ``thinking_token_budget`` ends the thinking
at that many tokens; OpenAI's ``reasoning_effort`` scales its length (low 1/4, medium 1/2 (the
default), high all). A token is a whitespace-separated word; ``<think>`` and ``</think>`` are
one token each, as special tokens are.
"""

from __future__ import annotations

import hashlib
from typing import Any

REASONING_MODES: tuple[str, ...] = ("vllm", "vllm-legacy", "vllm-raw", "openai")
OPEN, CLOSE = "<think>", "</think>"
CUE = "The answer is"
WAIT_EXTENSION = 6  # more thinking words the model generates for each "Wait" appended to it
_WORDS = ("so", "then", "carry", "the", "digits", "and", "check", "again")
_EFFORT = {"low": 0.25, "medium": 0.5, "high": 1.0}


def _stable(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def thought_length(prompt: str, seed: object, index: int) -> int:
    """How many words the model thinks for this prompt, seed and choice (12 to 31).

    Example:
        >>> 12 <= thought_length("2+2?", 0, 0) <= 31
        True
    """
    return 12 + _stable("think", prompt, seed, index) % 20


def answer_value(prompt: str, seed: object, index: int) -> int:
    """The value the model answers (0-99)."""
    return _stable(prompt, seed, index) % 100


def _thinking(start: int, count: int, decoy: int) -> list[str]:
    # A decoy answer inside the thinking: extraction must read the final answer, not this.
    words = [] if start else ["maybe", "the", "answer", "is", f"{decoy}."]
    words += [_WORDS[(start + i) % len(_WORDS)] for i in range(max(count - len(words), 0))]
    return words


def raw_reply(
    prompt: str,
    seed: object,
    index: int,
    *,
    chat: bool,
    budget: int | None = None,
    effort: str | None = None,
) -> str:
    """The raw trace (``<think> ... </think> The answer is N.``) the model generates; a text
    prompt ending inside a trace is continued from where it stands.

    Example:
        >>> raw_reply("Q: 2+2?\\nA:", 0, 0, chat=False, budget=3)
        '<think> maybe the answer </think> The answer is 59.'
        >>> raw_reply("Q: 2+2?\\nA: <think> a b </think> The answer is", 0, 0, chat=False)
        ' 59.'
    """
    key = prompt if chat else prompt.rsplit("A:", 1)[0]  # a continuation keeps its choices
    length, value = thought_length(key, seed, index), answer_value(key, seed, index)
    if effort is not None:
        length = max(1, round(length * _EFFORT.get(effort, 0.5)))
    tail = "" if chat else prompt.rsplit("A:", 1)[-1]
    if CLOSE in tail:  # the thinking is over: answer (after the cue, if the prompt gave it)
        return f" {value}." if tail.rstrip().endswith(CUE) else f" {CUE} {value}."
    if OPEN in tail:  # continue the thinking, longer for every "Wait" appended to it
        thought = tail.split(OPEN, 1)[1].split()
        waits = thought.count("Wait")
        length += WAIT_EXTENSION * waits
        start, prefix = len(thought) - waits, " "  # "Wait" was appended, not generated
    else:
        start, prefix = 0, f"{OPEN} "
    words = _thinking(start, length - start, (value + 1) % 100)
    if budget is not None:
        words = words[: max(budget, 0)]  # vLLM forces the end of thinking at the budget
    thinking = " ".join(words)
    return f"{prefix}{thinking} {CLOSE} {CUE} {value}.".replace("  ", " ")


def split_raw(raw: str) -> tuple[str | None, str]:
    """``(thinking or None, answer)`` of a raw trace, as a reasoning parser reads it."""
    if CLOSE in raw:
        thinking, answer = raw.rsplit(CLOSE, 1)
        return thinking.replace(OPEN, "").strip(), answer.strip()
    if OPEN in raw:
        return raw.split(OPEN, 1)[1].strip(), ""
    return None, raw.strip()


def stream_pieces(raw: str, mode: str | None) -> list[tuple[str | None, str]]:
    """Each generated word of a streamed chat reply as ``(delta field, text)``; the field is
    ``None`` for a token the server generates but sends no chunk for.

    Example:
        >>> stream_pieces("<think> a </think> 4.", "vllm")
        [(None, '<think>'), ('reasoning', 'a'), (None, ' </think>'), ('content', '4.')]
        >>> [field for field, _ in stream_pieces("<think> a </think> 4.", "openai")]
        [None, None, None, 'content']
    """
    words = raw.split(" ")
    pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
    if mode in (None, "vllm-raw"):
        return [("content", piece) for piece in pieces]
    field = {"vllm": "reasoning", "vllm-legacy": "reasoning_content"}.get(mode)
    out: list[tuple[str | None, str]] = []
    state = "answer"  # a continuation that never opens a thought is all answer
    if OPEN in words:
        state = "before"
    fresh = False  # the first piece of a field: no leading space (as in the whole reply)
    for word, piece in zip(words, pieces, strict=True):
        if word == OPEN and state == "before":
            state, fresh = "thinking", True
            out.append((None, piece))
        elif word == CLOSE and state == "thinking":
            state, fresh = "answer", True
            out.append((None, piece))
        else:
            name = field if state == "thinking" else "content"  # None for OpenAI: hidden
            out.append((name, piece.lstrip(" ") if fresh and name else piece))
            fresh = fresh and not name
    return out


def chat_message(raw: str, mode: str) -> tuple[dict[str, Any], int]:
    """The assistant message of a chat reply in ``mode`` and the thinking tokens it hides.

    Example:
        >>> chat_message("<think> a b", "vllm")
        ({'role': 'assistant', 'content': None, 'reasoning': 'a b'}, 0)
        >>> chat_message("<think> a b </think> The answer is 4.", "openai")
        ({'role': 'assistant', 'content': 'The answer is 4.'}, 4)
    """
    if mode == "vllm-raw":
        return {"role": "assistant", "content": raw}, 0
    thinking, answer = split_raw(raw)
    if mode == "openai":  # every token before the answer was (hidden) thinking
        return {"role": "assistant", "content": answer}, len(raw.split()) - len(answer.split())
    field = "reasoning" if mode == "vllm" else "reasoning_content"
    return {"role": "assistant", "content": answer or None, field: thinking}, 0
