"""Votes over one agent step's candidate replies (pure): tool calls compared by tool name and
normalised arguments, final text answers by a key.

Self-consistency for actions: draw several replies to the same request and keep the most
frequent one (Vote(x, K) of Chen et al. 2024, "Are More LM Calls All You Need?"; Wang et al.
2023 for free-text answers). Two replies cast the same vote when they call the same tools with
the same arguments once the arguments are normalised: JSON-canonical (keys sorted, JSON-string
arguments parsed, integral floats as integers, strings stripped), in any order, and without the
arguments the caller names as noise (``ignore_args``: request ids, timestamps, free-text fields
such as an e-mail body). A reply without tool calls votes with its text's key.

Example:
    >>> calls = [{"name": "pay", "args": {"to": "bob", "amount": 10.0, "memo": "hi"}}]
    >>> tool_calls_key(calls, ignore_args={"pay": ["memo"]})
    'tool:pay({"amount":10,"to":"bob"})'
    >>> vote(["tool:a()", "tool:b()", "tool:a()"]).tally
    {'tool:a()': 2, 'tool:b()': 1}
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.aggregators import Aggregator, Ballots, get_aggregator
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.context import tool_call_key
from langgraph_ttc.stopping import Votes

__all__ = [
    "IgnoreArgs",
    "StepVote",
    "ignored_args",
    "normalize_args",
    "reply_key",
    "text_key",
    "tool_calls_key",
    "vote",
]

IgnoreArgs = Collection[str] | Mapping[str, Collection[str]]
"""Argument names left out of the comparison: for every tool (a list), or per tool name (a dict;
the key ``"*"`` applies to all tools). A dotted name (``"meta.request_id"``) reaches into a
nested object."""


def ignored_args(tool: str, ignore_args: IgnoreArgs = ()) -> frozenset[str]:
    """The argument names ``ignore_args`` leaves out for ``tool``.

    Example:
        >>> sorted(ignored_args("mail", {"mail": ["body"], "*": ["request_id"]}))
        ['body', 'request_id']
        >>> sorted(ignored_args("mail", ["request_id"]))
        ['request_id']
    """
    if isinstance(ignore_args, str):
        raise TTCConfigError(
            f"ignore_args must be a list of argument names or a dict per tool; got the string "
            f"{ignore_args!r}: write ignore_args=[{ignore_args!r}]."
        )
    if isinstance(ignore_args, Mapping):
        return frozenset(ignore_args.get(tool, ())) | frozenset(ignore_args.get("*", ()))
    return frozenset(ignore_args)


def _canonical(value: Any) -> Any:
    """Values that mean the same compare equal: 2.0 is 2, surrounding spaces do not count."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _drop(args: dict, path: Sequence[str]) -> dict:
    head, *rest = path
    if head not in args:
        return args
    if not rest:
        return {k: v for k, v in args.items() if k != head}
    inner = args[head]
    if not isinstance(inner, dict):
        return args
    return {**args, head: _drop(inner, rest)}


def normalize_args(args: Any, ignore: Collection[str] = ()) -> Any:
    """JSON-canonical arguments without the ``ignore`` names (dotted names reach inside).

    Example:
        >>> normalize_args('{"b": 2.0, "a": " x ", "meta": {"id": 7, "k": 1}}', ["meta.id"])
        {'b': 2, 'a': 'x', 'meta': {'k': 1}}
    """
    if isinstance(args, str):
        with contextlib.suppress(ValueError):
            args = json.loads(args)
    args = _canonical(args)
    if isinstance(args, dict):
        for name in ignore:
            args = _drop(args, name.split("."))
    return args


def tool_calls_key(calls: Sequence[Mapping], ignore_args: IgnoreArgs = ()) -> str:
    """One vote for a set of tool calls: names plus normalised arguments, order-free.

    Example:
        >>> a = [{"name": "f", "args": {"x": 1}}, {"name": "g", "args": {}}]
        >>> tool_calls_key(a) == tool_calls_key(a[::-1]) == 'tool:f({"x":1});g({})'
        True
    """
    return tool_call_key(
        [
            {
                "name": call.get("name"),
                "args": normalize_args(
                    call.get("args", {}), ignored_args(str(call.get("name")), ignore_args)
                ),
            }
            for call in calls
        ]
    )


_SPACE = re.compile(r"\s+")


def text_key(text: str) -> str | None:
    """The default key of a final text answer: case-folded, spaces collapsed, trailing
    punctuation dropped; ``None`` for an empty reply (it does not vote).

    Example:
        >>> text_key("  The answer is 4. ") == text_key("the answer is  4")
        True
    """
    key = _SPACE.sub(" ", text).strip().rstrip(".!").strip().casefold()
    return key or None


def reply_key(
    message: Any,
    ignore_args: IgnoreArgs = (),
    answer_key: Callable[[str], Hashable | None] | None = None,
) -> str | None:
    """The vote of one candidate reply (an ``AIMessage``): its tool calls' key when it calls
    tools, else ``"text:"`` plus ``answer_key(text)`` (default :func:`text_key`).

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> reply_key(AIMessage("It is 4."), answer_key=lambda t: t.split()[-1].strip("."))
        'text:4'
    """
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return tool_calls_key(calls, ignore_args)
    text = getattr(message, "text", "")
    key = (answer_key or text_key)(text) if text and text.strip() else None
    return None if key is None else f"text:{key}"


@dataclass(frozen=True)
class StepVote:
    """The vote of one agent step.

    Attributes:
        keys: each candidate's vote in draw order (``None``: failed or empty, no vote).
        winner: index of the chosen candidate (the earliest carrying the winning key), or
            ``None`` when no candidate voted.
        key: the winning key.
        tally: votes per key, in order of first appearance.
        agreement: the winner's share of all candidates drawn (failed ones included), the
            statistic Adaptive-Consistency stops on (Aggarwal et al. 2023).
    """

    keys: tuple[str | None, ...]
    winner: int | None
    key: str | None
    tally: dict[str, int] = field(default_factory=dict)
    agreement: float = 0.0

    @property
    def samples(self) -> int:
        return len(self.keys)


def answers_only(aggregator: str) -> Aggregator:
    """The registered aggregator ``aggregator``, if it votes on answers alone (an agent step's
    candidates carry no verdicts or scores).

    Example:
        >>> answers_only("majority").name
        'majority'
    """
    chosen = get_aggregator(aggregator)
    if chosen.needs:
        raise TTCConfigError(
            f"The {chosen.name!r} aggregator needs {sorted(chosen.needs)} per candidate, which an "
            "agent step does not have; use aggregator='majority'."
        )
    return chosen


def vote(keys: Sequence[str | None], aggregator: str = "majority") -> StepVote:
    """Vote over the candidates' keys with a registered aggregator that needs only answers
    (majority: ties go to the key seen first).

    Example:
        >>> v = vote(["tool:a()", None, "tool:b()", "tool:b()"])
        >>> v.winner, v.key, v.agreement
        (2, 'tool:b()', 0.5)
    """
    keys = tuple(keys)
    result = answers_only(aggregator).vote(Ballots(answers=keys))
    tally = Votes(keys).counts()
    agreement = Votes(keys).leader_share()
    return StepVote(keys, result.index, result.answer, tally, agreement)


# The former spelling, kept importable; the library spells it one way: normalize_answer,
# normalize_args.
normalise_args = normalize_args
