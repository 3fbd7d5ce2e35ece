"""What a step does when its samples disagree: draw more, ask a fallback model, or ask a person.

Each escalation is a small frozen object with one method, ``apply(step)``, a generator of the
draws it needs; the middleware applies them in the order given until the samples agree::

    TTCMiddleware(n=3, min_agreement=0.75, escalate=[SampleMore(up_to=7), AskHuman()])

:class:`AskHuman` pauses the agent with LangGraph's ``interrupt()`` after the model step (so a
resume does not draw the samples again). The interrupt's value has the shape of LangChain's
HumanInTheLoop request (``action_requests``, ``review_configs``) plus a ``ttc`` entry with the
tally and the distinct candidate calls; the resume value has the shape of its response
(``{"decisions": [...]}``, one decision per action request; a single decision alone is accepted
when there is one action).

Example:
    >>> from langchain_core.messages import AIMessage
    >>> message = AIMessage("", id="m1", tool_calls=[{"name": "pay", "args": {"amount": 10},
    ...                                                "id": "c1"}])
    >>> edited, replies = apply_decisions(message, {"type": "edit", "edited_action":
    ...     {"name": "pay", "args": {"amount": 5}}}, ("approve", "edit", "reject"))
    >>> edited.tool_calls[0]["args"], replies
    ({'amount': 5}, [])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, ToolMessage

from langgraph_ttc.errors import TTCConfigError, TTCInputError

__all__ = [
    "DECISION_TYPES",
    "AskHuman",
    "Escalation",
    "Fallback",
    "SampleMore",
    "apply_decisions",
    "decisions_of",
    "review_request",
]

DECISION_TYPES = ("approve", "edit", "reject", "respond")


class Escalation:
    """One thing to do when a step's samples agree less than the middleware's ``min_agreement``."""

    kind: ClassVar[str] = ""

    def apply(self, step: Any) -> Iterator[Any]:
        """Drive ``step`` (``yield from step.draw(k)`` for more samples)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SampleMore(Escalation):
    """Draw ``batch`` more samples at a time until the leader holds ``min_agreement`` of them or
    ``up_to`` samples are drawn (Adaptive-Consistency, Aggarwal et al. 2023, arXiv 2305.11860:
    sample in small batches and stop on the vote's agreement; authors' code:
    Pranjal2041/AdaptiveConsistency). With ``n=2`` the step spends two calls when they agree and
    more only when they do not.

    Example:
        >>> SampleMore(up_to=8, batch=2).kind
        'sample_more'
    """

    kind: ClassVar[str] = "sample_more"
    up_to: int = 8
    batch: int = 2

    def __post_init__(self) -> None:
        if self.up_to < 1 or self.batch < 1:
            raise TTCConfigError(
                f"SampleMore needs up_to >= 1 and batch >= 1; got up_to={self.up_to}, "
                f"batch={self.batch}."
            )

    def apply(self, step: Any) -> Iterator[Any]:
        if len(step.voters()) >= self.up_to:
            return
        step.escalated(self.kind)
        while not step.agrees() and len(step.voters()) < self.up_to:
            wanted = min(self.batch, self.up_to - len(step.voters()))
            if (yield from step.draw(wanted, step.pool, step.pool_model)) == 0:
                return  # the budget is spent


@dataclass(frozen=True)
class Fallback(Escalation):
    """Ask ``model`` (a stronger or different chat model) instead: its ``n`` samples, voted
    when ``n > 1``, decide the step; the first samples' tally stays in the record.

    Example:
        >>> from langgraph_ttc.testing import FakeToolCallingModel
        >>> Fallback(FakeToolCallingModel(), n=1).kind
        'fallback'
    """

    kind: ClassVar[str] = "fallback"
    model: Any = None
    n: int = 1

    def __post_init__(self) -> None:
        if self.model is None or not hasattr(self.model, "bind_tools"):
            raise TTCConfigError(
                "Fallback needs model=<a LangChain chat model> (one that has bind_tools), e.g. "
                "Fallback(ChatOpenAI(model='gpt-4.1'))."
            )
        if self.n < 1:
            raise TTCConfigError(f"Fallback n must be >= 1; got {self.n}.")

    def apply(self, step: Any) -> Iterator[Any]:
        step.escalated(self.kind)
        if (yield from step.draw(self.n, "fallback", self.model)) > 0:
            step.pool, step.pool_model = "fallback", self.model


@dataclass(frozen=True)
class AskHuman(Escalation):
    """Pause the agent before the voted tool calls run and let a person approve, edit, reject
    or answer for each (resume with ``Command(resume={"decisions": [...]})``). Steps that end
    with a text answer are not paused. Needs a checkpointer, as every LangGraph interrupt does.

    Example:
        >>> AskHuman(allowed_decisions=("approve", "reject")).allowed_decisions
        ('approve', 'reject')
    """

    kind: ClassVar[str] = "ask_human"
    allowed_decisions: tuple[str, ...] = ("approve", "edit", "reject")
    description: str = "The samples disagree on this call; please review it."

    def __post_init__(self) -> None:
        unknown = [d for d in self.allowed_decisions if d not in DECISION_TYPES]
        if unknown or not self.allowed_decisions:
            raise TTCConfigError(
                f"AskHuman allowed_decisions must be a non-empty subset of {DECISION_TYPES}; "
                f"got {self.allowed_decisions!r}."
            )

    def apply(self, step: Any) -> Iterator[Any]:
        message = step.winner().message
        if message is not None and message.tool_calls:
            step.escalated(self.kind)
            step.review = self
        yield from ()


def _calls(message: AIMessage | None) -> list[dict]:
    if message is None:
        return []
    return [{"name": c["name"], "args": dict(c.get("args") or {})} for c in message.tool_calls]


def review_request(
    message: AIMessage, candidates: Sequence[Any], summary: Mapping, ask: AskHuman
) -> dict:
    """The interrupt's value: the voted calls as HumanInTheLoop action requests, plus the tally
    and one representative of each distinct candidate under ``ttc``.

    Example:
        >>> from types import SimpleNamespace
        >>> m = AIMessage("", id="m1", tool_calls=[{"name": "pay", "args": {"a": 1}, "id": "c"}])
        >>> c = SimpleNamespace(key="k", message=m)
        >>> r = review_request(m, [c, c], {"tally": {"k": 2}, "samples": 3}, AskHuman())
        >>> r["action_requests"][0]["name"], r["ttc"]["candidates"][0]["votes"]
        ('pay', 2)
    """
    tally = dict(summary.get("tally") or {})
    distinct: dict[str, Any] = {}
    for candidate in candidates:
        if candidate.key is not None and candidate.key not in distinct:
            distinct[candidate.key] = candidate
    votes = f"{tally.get(next(iter(distinct), ''), 0)} of {summary.get('samples', 0)} samples"
    return {
        "action_requests": [
            {
                "name": call["name"],
                "args": dict(call.get("args") or {}),
                "description": f"{ask.description} ({votes} chose the voted calls.)",
            }
            for call in message.tool_calls
        ],
        "review_configs": [
            {"action_name": call["name"], "allowed_decisions": list(ask.allowed_decisions)}
            for call in message.tool_calls
        ],
        "ttc": {
            **summary,
            "message_id": message.id,
            "candidates": [
                {
                    "key": key,
                    "votes": tally.get(key, 0),
                    "tool_calls": _calls(c.message),
                    "text": c.message.text if c.message is not None else "",
                }
                for key, c in distinct.items()
            ],
        },
    }


def decisions_of(answer: Any, count: int) -> list[dict]:
    """The decisions in a resume value: ``{"decisions": [...]}`` with one per action, or one
    decision alone when there is one action.

    Example:
        >>> decisions_of({"type": "approve"}, 1)
        [{'type': 'approve'}]
    """
    if isinstance(answer, Mapping) and "decisions" in answer:
        decisions = list(answer["decisions"])
    elif isinstance(answer, Mapping) and "type" in answer and count == 1:
        decisions = [dict(answer)]
    else:
        raise TTCInputError(
            'Resume the review with Command(resume={"decisions": [...]}) holding one decision '
            'per action request, e.g. {"type": "approve"}, {"type": "edit", "edited_action": '
            '{"name": ..., "args": {...}}} or {"type": "reject", "message": "why"}; '
            f"got {answer!r}."
        )
    if len(decisions) != count:
        raise TTCInputError(
            f"The review has {count} action request(s) but the resume value has "
            f"{len(decisions)} decision(s): send one per action request, in order."
        )
    return decisions


def _reply(call: Mapping, decision: Mapping) -> ToolMessage:
    """What the model reads in place of the tool's result when a person rejected the call or
    answered for it."""
    if decision["type"] == "respond":
        content, status = str(decision.get("message", "")), "success"
    else:
        reason = decision.get("message")
        content = f"A reviewer rejected the call to `{call['name']}`; it was not executed." + (
            f" Reason: {reason}" if reason else " Do not call it again unless asked to."
        )
        status = "error"
    return ToolMessage(content=content, name=call["name"], tool_call_id=call["id"], status=status)


def apply_decisions(
    message: AIMessage, answer: Any, allowed: Sequence[str]
) -> tuple[AIMessage, list[ToolMessage]]:
    """The voted message after a person's decisions (same id, so it replaces the original in
    ``messages``) and the tool replies standing in for rejected or answered calls. Approved and
    edited calls run when the agent's tool node runs, once each.

    Example:
        >>> m = AIMessage("", id="m1", tool_calls=[{"name": "pay", "args": {}, "id": "c1"}])
        >>> kept, replies = apply_decisions(m, {"decisions": [{"type": "reject"}]}, ["reject"])
        >>> kept.tool_calls[0]["id"], replies[0].status
        ('c1', 'error')
    """
    decisions = decisions_of(answer, len(message.tool_calls))
    calls, replies = [], []
    for call, decision in zip(message.tool_calls, decisions, strict=True):
        kind = decision.get("type") if isinstance(decision, Mapping) else None
        if kind not in allowed:
            raise TTCInputError(
                f"Decision {decision!r} for `{call['name']}` is not allowed here; "
                f"use one of {list(allowed)}."
            )
        if kind == "edit":
            edited = decision.get("edited_action") or {}
            if "name" not in edited or not isinstance(edited.get("args"), Mapping):
                raise TTCInputError(
                    'An edit needs {"type": "edit", "edited_action": {"name": ..., "args": '
                    f"{{...}}}}}}; got {decision!r}."
                )
            call = {**call, "name": edited["name"], "args": dict(edited["args"])}
        elif kind in ("reject", "respond"):
            replies.append(_reply(call, decision))
        calls.append(call)
    return message.model_copy(update={"tool_calls": calls}), replies
