"""Graph state: TypedDicts of plain data plus the reducers that merge parallel updates.

``TTCState`` can be mixed into a user's own state schema. Keys the library owns start with
``ttc_``; the user-facing keys are ``messages`` and ``ttc_result``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from langgraph_ttc.budget import merge_usage


def merge_candidates(
    left: Sequence[dict] | None, right: Sequence[dict] | dict | None
) -> list[dict]:
    """Reducer: merge candidates by ``id``; a later version of a candidate replaces the earlier.

    Example:
        >>> merge_candidates([{"id": "a", "answer": "1"}], [{"id": "a", "answer": "2"}, {"id": "b"}])
        [{'id': 'a', 'answer': '2'}, {'id': 'b'}]
    """
    if right is None:
        return list(left or [])
    if isinstance(right, dict):
        right = [right]
    merged = {c["id"]: c for c in (left or [])}
    for candidate in right:
        merged[candidate["id"]] = {**merged.get(candidate["id"], {}), **candidate}
    return list(merged.values())


class Candidate(TypedDict, total=False):
    """One sampled answer. ``chain``/``step`` place it in a revision chain (step 0 = first draft).

    ``text`` is the final answer alone; a reasoning model's thinking is kept apart (its size
    always, its text when asked)."""

    id: str
    index: int
    chain: int
    step: int
    purpose: str
    text: str
    answer: str | None
    ok: bool
    error: str | None
    seed: int | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    tool_calls: list[dict]
    verdict: bool | None  # self-critique (filter) verdict
    critique: str | None  # the critique's rationale
    score: float | None  # verifier score in [0, 1]
    finish_reason: str | None  # "stopped": ended mid-trace by a confidence watch
    confidence: float | None  # the run's confidence measure of this sample (ConfidenceSpec)
    lowest_group: float | None  # DeepConf's lowest group confidence (the online threshold's)
    thinking_tokens: int  # of completion_tokens, the ones a reasoning model spent thinking
    thinking_chars: int  # length of the thinking text (kept even when the text is not)
    thinking: str | None  # the thinking text, when the context keeps it (keep_thinking)
    truncated_in_thinking: bool  # cut off inside its thinking: no answer for that reason


class TTCInput(TypedDict, total=False):
    """Input: a conversation (the last human message is the question) or a bare ``question``."""

    messages: Annotated[list[AnyMessage], add_messages]
    question: str


class TTCOutput(TypedDict, total=False):
    """Output: one AIMessage appended to ``messages`` and the structured ``ttc_result``."""

    messages: Annotated[list[AnyMessage], add_messages]
    ttc_result: dict[str, Any]


class TTCState(TTCInput, TTCOutput, total=False):
    """The full state. Mix into your own schema to use the nodes in your graph."""

    ttc_question: str
    ttc_run_id: str
    ttc_seed: int
    ttc_started_at: float
    ttc_candidates: Annotated[list[Candidate], merge_candidates]
    ttc_usage: Annotated[dict, merge_usage]
    ttc_plan: dict[str, Any]  # a Plan's state form (langgraph_ttc.plan.Plan.to_state)
    ttc_difficulty: dict[str, Any]
    ttc_round: int
