"""Aggregate: choose the final answer with the plan's aggregator; write ``ttc_result`` and
one AIMessage."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage

from langgraph_ttc.aggregators import Aggregate, Ballots, get_aggregator
from langgraph_ttc.errors import SampleFailed
from langgraph_ttc.nodes.base import StateNode
from langgraph_ttc.nodes.context import TTCContext
from langgraph_ttc.nodes.hooks import generation_hook

__all__ = ["AggregateNode", "check_failures", "final_message", "run_result"]

RESULT_CANDIDATE_KEYS = (
    "id",
    "chain",
    "step",
    "purpose",
    "answer",
    "text",
    "ok",
    "error",
    "verdict",
    "critique",
    "score",
    "seed",
    "completion_tokens",
    "finish_reason",
    "confidence",
    "lowest_group",
    "thinking_tokens",
    "truncated_in_thinking",
    "thinking",
)


class AggregateNode(StateNode):
    """Builds the result; raises :class:`SampleFailed` under ``on_failure="raise"``.

    Example:
        >>> from langgraph_ttc.nodes import TTCContext
        >>> from langgraph_ttc.testing import FakeBackend
        >>> node = AggregateNode(TTCContext.create(FakeBackend(), "majority"))
        >>> state = {"ttc_plan": {"width": 2}, "ttc_candidates": [
        ...     {"id": "a", "index": 0, "answer": "4", "ok": True, "text": "4"},
        ...     {"id": "b", "index": 1, "answer": "4", "ok": True, "text": "4"}]}
        >>> node(state)["ttc_result"]["answer"]
        '4'
    """

    def __init__(self, ctx: TTCContext) -> None:
        self.ctx = ctx

    def __call__(self, state: dict) -> dict:
        candidates = sorted(state.get("ttc_candidates") or [], key=lambda c: c.get("index", 0))
        failed = [c for c in candidates if not c.get("ok")]
        check_failures(failed, len(candidates), self.ctx.strategy.on_failure, "samples")
        plan = state.get("ttc_plan") or {}
        aggregator = get_aggregator(plan.get("aggregator", "majority"))
        picked = aggregator.vote(
            Ballots.of(generation_hook(plan).voters(plan, candidates), aggregator.columns)
        )
        chosen = candidates[picked.index] if picked.index is not None else None
        keys = (*RESULT_CANDIDATE_KEYS, *aggregator.columns)
        result = run_result(
            state,
            picked,
            chosen,
            strategy=self.ctx.strategy.name,
            model=self.ctx.backend.model_id,
            # With the columns a method's vote read (GenSelect's selections).
            candidates=[{k: c.get(k) for k in keys} for c in candidates],
            failed=failed,
        )
        if picked.answer is None:
            result["no_answer"] = why_no_answer(candidates, protocol_of(self.ctx.backend))
        return {"ttc_result": result, "messages": [final_message(state, chosen, result)]}


def protocol_of(backend) -> str | None:
    """How the backend talks to the model, for advice: an OpenAI-compatible endpoint's
    ``mode`` ("chat" or "completion"), ``"langchain"`` for a LangChain chat model (which has
    no completion mode of its own), else ``None``."""
    if hasattr(backend, "mode"):
        return backend.mode
    from langgraph_ttc.backends.langchain import ChatModelBackend

    if isinstance(backend, ChatModelBackend):
        return "langchain"
    return None


def why_no_answer(candidates: list[dict], mode: str | None = None) -> str:
    """Why no candidate gave an answer, and what to try (``mode``: see :func:`protocol_of`).

    Example:
        >>> why_no_answer([{"ok": True, "text": ""}] * 3, mode="chat")  # doctest: +ELLIPSIS
        'all 3 samples came back empty: a base model ... mode="completion" (--mode completion).'
    """
    total = len(candidates)
    failed = [c for c in candidates if not c.get("ok")]
    if failed and len(failed) == total:
        return f"all {total} samples failed (first: {failed[0].get('error')})."
    cut = [c for c in candidates if c.get("truncated_in_thinking")]
    if cut:
        return (
            f"{len(cut)} of {total} samples were cut off inside their thinking (max_tokens or a "
            "stop ended the thought before an answer): raise max_tokens or thinking_budget, or "
            "pass reasoning=True to the backend so it leaves room to think."
        )
    if all(not (c.get("text") or "").strip() for c in candidates if c.get("ok")):
        hints = {
            "chat": "a base model without a chat template answers nothing on a chat endpoint: "
            'try mode="completion" (--mode completion).',
            "langchain": "a base model without a chat template answers nothing through a chat "
            "model: serve it with a chat template, or pass OpenAICompatibleBackend(base_url, "
            'model, mode="completion") as the model (CLI: --base-url URL --model NAME --mode '
            "completion), which prompts it with worked examples.",
        }
        hint = hints.get(mode, "raise max_tokens, or check the stops.")
        return f"all {total} samples came back empty: {hint}"
    return (
        f"none of the {total} samples stated a final answer (read from 'The answer is X', a "
        "boxed answer or the last number); a task (--task) gives the model worked examples."
    )


def check_failures(failed: list[dict], total: int, on_failure: str, unit: str) -> None:
    """Raise :class:`SampleFailed` naming the failures when ``on_failure="raise"``.

    Example:
        >>> check_failures([{"id": "s1", "error": "timeout"}], 4, "partial", "samples")
    """
    if failed and on_failure == "raise":
        detail = "; ".join(f"{c['id']}: {c.get('error')}" for c in failed[:5])
        raise SampleFailed(
            f"{len(failed)} of {total} {unit} failed ({detail}). "
            f"Pass on_failure='partial' to answer from the {unit} that succeeded."
        )


def run_result(
    state: Mapping[str, Any],
    picked: Aggregate,
    chosen: dict | None,
    *,
    strategy,
    model,
    candidates,
    failed,
) -> dict:
    """The ``ttc_result`` fields every strategy reports (search adds its tree)."""
    usage = dict(state.get("ttc_usage") or {})
    usage["wall_seconds"] = round(time.time() - state.get("ttc_started_at", time.time()), 3)
    # Samples a reasoning model spent entirely thinking: no answer, for want of room to answer.
    truncated = sum(1 for c in candidates if c.get("truncated_in_thinking"))
    return {
        "answer": picked.answer,
        "text": chosen["text"] if chosen else None,
        "confidence": round(picked.confidence, 4),
        "method": picked.method,
        "tally": picked.tally,
        "strategy": strategy,
        "plan": state.get("ttc_plan") or {},
        "difficulty": state.get("ttc_difficulty") or {},
        "usage": usage,
        "model": model,
        "candidates": candidates,
        "failed": [c["id"] for c in failed],
        "truncated_in_thinking": truncated,
    }


def final_message(state: Mapping[str, Any], chosen: dict | None, result: dict) -> AIMessage:
    """The AIMessage appended to ``messages``; its id makes re-delivery idempotent."""
    if chosen is None:
        total = len(result["candidates"])
        content = result.get("no_answer") or f"none of the {total} samples gave a usable answer."
        content = f"No answer: {content}"
        tool_calls = []
    else:
        content = chosen["text"]
        tool_calls = [
            {"name": t["name"], "args": t.get("args", {}), "id": t.get("id") or f"call_{i}"}
            for i, t in enumerate(chosen.get("tool_calls") or [])
        ]
    return AIMessage(
        content=content,
        tool_calls=tool_calls,
        id=f"ttc-{state.get('ttc_run_id', 'run')}",
        response_metadata={
            "ttc": {k: result[k] for k in ("answer", "confidence", "strategy", "method")}
        },
    )
