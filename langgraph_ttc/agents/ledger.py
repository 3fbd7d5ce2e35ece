"""The per-thread ledger an agent keeps in its state (pure): the budget's caps and what every
sample of every step cost, so a checkpointed thread resumes with its spending intact.

The ledger is plain data (a dict of numbers and the :meth:`Usage.to_dict` record), so it
checkpoints with the rest of the agent's state. The cap covers every model call the middleware
makes in the thread; when what is left cannot pay for two samples, a step makes the one call the
agent needs (sampling stops, the agent does not).

A wrapped model call cannot be shrunk (``max_tokens`` belongs to the user's model), so token and
dollar caps are checked before each draw against an estimate of one sample: the prompt's
characters times the most tokens per prompt character seen in the thread (prompts grow along an
agent run; a ratio follows them where a fixed per-sample cost would fall behind), plus the
longest reply seen. The thread's first step draws one sample alone to learn both.

Example:
    >>> ledger = new_ledger(Budget(max_calls=4))
    >>> ledger = record(ledger, "generate", [Counters(calls=1, requests=1, prompt_tokens=9)] * 3)
    >>> left(ledger).max_calls, room(ledger, 3)
    (1, 1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from langchain_core.messages import BaseMessage

from langgraph_ttc.backends.langchain import reasoning_text
from langgraph_ttc.backends.thinking import estimate_thinking_tokens, split_reply
from langgraph_ttc.budget import Budget, Counters, Prices, Usage

__all__ = [
    "Ledger",
    "estimate",
    "left",
    "needs_estimate",
    "new_ledger",
    "record",
    "room",
    "sample_counters",
]


class Ledger(TypedDict):
    """What a thread has spent on test-time compute.

    Attributes:
        budget: the caps (:meth:`Budget.to_dict`).
        usage: every sample's cost by purpose (:meth:`Usage.to_dict`: ``generate`` for the
            voted samples, ``fallback`` for the fallback model's).
        steps: model steps the middleware has answered in this thread.
        single_calls: steps the spent budget left with one call.
        escalations: escalations applied, by kind (``sample_more``, ``fallback``, ``ask_human``).
        decisions: human decisions received, by type (``approve``, ``edit``, ``reject``, ...).
        tokens_per_char: the most prompt tokens per prompt character seen (for the estimate).
        longest_reply: the most completion tokens one sample has used (for the estimate).
    """

    budget: dict
    usage: dict
    steps: int
    single_calls: int
    escalations: dict
    decisions: dict
    tokens_per_char: float
    longest_reply: int


def new_ledger(budget: Budget | None = None) -> Ledger:
    """An empty ledger for a thread under ``budget``.

    Example:
        >>> new_ledger(Budget(max_calls=8))["budget"]["max_calls"]
        8
    """
    return Ledger(
        budget=(budget or Budget()).to_dict(),
        usage=Usage().to_dict(),
        steps=0,
        single_calls=0,
        escalations={},
        decisions={},
        tokens_per_char=0.0,
        longest_reply=0,
    )


def left(ledger: Mapping) -> Budget:
    """What is left of the ledger's budget.

    Example:
        >>> left(new_ledger(Budget(max_tokens=100))).max_tokens
        100
    """
    return Budget.from_dict(ledger["budget"]).minus(Usage.from_dict(ledger["usage"]))


def _fits(left_amount: float | None, each: float, k: int) -> int:
    """How many of ``k`` samples costing ``each`` fit in ``left_amount``."""
    if left_amount is None:
        return k
    if each <= 0:
        return k if left_amount > 0 else 0
    return min(k, int(left_amount // each))


def estimate(ledger: Mapping, prompt_chars: int) -> tuple[int, float]:
    """The tokens and dollars one sample of a ``prompt_chars``-character prompt should cost.

    Example:
        >>> ledger = {**new_ledger(), "tokens_per_char": 0.25, "longest_reply": 20}
        >>> estimate(ledger, 400)
        (120, 0.0)
    """
    prompt = math.ceil(prompt_chars * ledger["tokens_per_char"])
    prices = Budget.from_dict(ledger["budget"]).prices
    usd = 0.0 if prices is None else prices.cost(prompt, ledger["longest_reply"])
    return prompt + ledger["longest_reply"], usd


def room(ledger: Mapping, k: int, prompt_chars: int = 0) -> int:
    """How many of ``k`` more samples the budget allows (0 when it allows none), each costed
    by :func:`estimate`.

    Example:
        >>> ledger = {**new_ledger(Budget(max_tokens=100)), "tokens_per_char": 0.5}
        >>> room(ledger, 5), room(ledger, 5, prompt_chars=60), room(ledger, 5, 202)
        (5, 3, 0)
    """
    rest = left(ledger)
    k = k if rest.max_calls is None else min(k, rest.max_calls)
    tokens, usd = estimate(ledger, prompt_chars)
    return max(0, min(_fits(rest.max_tokens, tokens, k), _fits(rest.max_usd, usd, k)))


def needs_estimate(ledger: Mapping) -> bool:
    """Whether a token or dollar cap is set and no sample has yet shown what one costs.

    Example:
        >>> needs_estimate(new_ledger(Budget(max_tokens=10))), needs_estimate(new_ledger())
        (True, False)
    """
    budget = Budget.from_dict(ledger["budget"])
    capped = budget.max_tokens is not None or budget.max_usd is not None
    return capped and Usage.from_dict(ledger["usage"]).total().calls == 0


def sample_counters(message: Any, seconds: float, prices: Prices | None = None) -> Counters:
    """One sample's cost from its reply's ``usage_metadata`` (zero tokens when the model
    reports none). Its thinking tokens are the ones the reply counts
    (``output_token_details["reasoning"]``), else the thinking's share of the text, as
    :class:`~langgraph_ttc.backends.ChatModelBackend` counts them.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> reply = AIMessage("4", usage_metadata={"input_tokens": 10, "output_tokens": 2,
        ...                                        "total_tokens": 12})
        >>> sample_counters(reply, 0.5, Prices(prompt=1.0, completion=2.0)).usd
        1.4e-05
        >>> thought = AIMessage("<think>2 and 2 make 4</think>4", usage_metadata={
        ...     "input_tokens": 10, "output_tokens": 8, "total_tokens": 18})
        >>> sample_counters(thought, 0.5).thinking_tokens
        7
    """
    usage = getattr(message, "usage_metadata", None) or {}
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    cached = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
    counted = int((usage.get("output_token_details") or {}).get("reasoning") or 0)
    if counted:
        thinking = min(counted, completion)
    elif isinstance(message, BaseMessage):
        found = split_reply(message.text, reasoning_text(message))
        thinking = estimate_thinking_tokens(completion, found.thinking, found.answer)
    else:
        thinking = 0
    usd = 0.0 if prices is None else prices.cost(prompt, completion, cached)
    return Counters(
        calls=1,
        requests=1,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        usd=usd,
        seconds=round(seconds, 4),
        thinking_tokens=thinking,
    )


def record(
    ledger: Mapping,
    purpose: str,
    samples: Iterable[Counters],
    prompt_chars: int = 0,
    **counts: Mapping[str, int] | int,
) -> Ledger:
    """A new ledger with ``samples`` (of a ``prompt_chars``-character prompt) added under
    ``purpose``; ``counts`` adds to the integer fields (``steps=1``) or to the per-kind dicts
    (``escalations={"fallback": 1}``).

    Example:
        >>> ledger = record(new_ledger(), "generate", [Counters(calls=1)], steps=1,
        ...                 escalations={"sample_more": 1})
        >>> ledger["usage"]["calls"], ledger["steps"], ledger["escalations"]
        (1, 1, {'sample_more': 1})
    """
    usage = Usage.from_dict(ledger["usage"])
    out: dict = {**ledger}
    for counters in samples:
        usage.record(purpose, counters)
        if prompt_chars > 0:
            ratio = counters.prompt_tokens / prompt_chars
            out["tokens_per_char"] = max(out["tokens_per_char"], ratio)
        out["longest_reply"] = max(out["longest_reply"], counters.completion_tokens)
    out["usage"] = usage.to_dict()
    for name, value in counts.items():
        if isinstance(value, Mapping):
            merged = dict(out[name])
            for kind, k in value.items():
                merged[kind] = merged.get(kind, 0) + k
            out[name] = merged
        else:
            out[name] = out[name] + value
    return Ledger(**out)
