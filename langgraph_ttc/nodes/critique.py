"""Critique: the filter of Filter-Vote (Chen et al. 2024): one judging call per candidate."""

from __future__ import annotations

import asyncio

from langchain_core.runnables import RunnableConfig

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.nodes._context import NodeContext, emit, seed_of
from langgraph_ttc.prompts import critique_messages
from langgraph_ttc.verifiers import parse_verdict

CRITIQUE_SEED_OFFSET = 1_000_003  # keeps critique seeds apart from sample seeds


class CritiqueNode:
    """Judges every answered, not-yet-judged candidate; ``verdict`` True keeps it.

    A verdict that cannot be parsed, or a critique the budget did not allow, leaves
    ``verdict=None`` (not kept); Filter-Vote's fallback then votes over all answers.
    """

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def ainvoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        ctx = self.ctx
        meter = ctx.meter(state)
        pending = [
            c
            for c in state.get("ttc_candidates") or []
            if c.get("ok") and c.get("answer") is not None and c.get("verdict") is None
        ]

        async def judge(candidate: dict) -> dict:
            params = ctx.params.with_seed(
                seed_of(state["ttc_seed"], CRITIQUE_SEED_OFFSET + candidate["index"])
            )
            messages = critique_messages(ctx.backend, state["ttc_question"], candidate["text"])
            draw = await meter.asample(
                ctx.backend_for(config, "critique"), messages, 1, "critique", params
            )
            completion = draw.completions[0] if draw.completions else None
            if completion is None:
                rationale = "not judged: budget exhausted"
                verdict = None
            elif not completion.ok:
                rationale, verdict = f"critique failed: {completion.error}", None
            else:
                rationale = completion.text.strip()
                score = parse_verdict(rationale)
                verdict = None if score is None else score >= 0.5
            emit("critique", id=candidate["id"], verdict=verdict)
            return {"id": candidate["id"], "verdict": verdict, "critique": rationale}

        updates = await asyncio.gather(*(judge(c) for c in pending))
        return {"ttc_candidates": list(updates), "ttc_usage": meter.usage.to_dict()}

    def invoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        return run_sync(self.ainvoke(state, config))
