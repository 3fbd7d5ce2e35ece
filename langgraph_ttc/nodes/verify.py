"""Verify: score candidates in [0, 1] with a programmatic check, unit tests or an LLM judge."""

from __future__ import annotations

import asyncio

from langchain_core.runnables import RunnableConfig

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.nodes._context import NodeContext, emit


async def score_candidates(
    ctx: NodeContext, question: str, candidates: list[dict], meter, config
) -> list[dict]:
    """``{"id", "score"}`` updates for ``candidates``; failed or answerless ones score 0."""

    async def score(candidate: dict) -> dict:
        if not candidate.get("ok") or candidate.get("answer") is None:
            return {"id": candidate["id"], "score": 0.0}
        verdict = await ctx.verifier.averify(
            question, candidate["text"], backend=ctx.backend_for(config, "verify"), meter=meter
        )
        emit("verify", id=candidate["id"], score=verdict.score)
        return {"id": candidate["id"], "score": float(verdict.score)}

    return list(await asyncio.gather(*(score(c) for c in candidates)))


class VerifyNode:
    """Scores every candidate that has no score yet. Failed or answerless candidates score 0."""

    def __init__(self, ctx: NodeContext) -> None:
        if ctx.verifier is None:
            from langgraph_ttc.errors import TTCConfigError

            raise TTCConfigError(
                f"Strategy {ctx.strategy.name!r} needs a verifier: pass verifier=LLMJudge() or "
                "ProgrammaticVerifier(fn) (see langgraph_ttc.verifiers)."
            )
        self.ctx = ctx

    async def ainvoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        ctx = self.ctx
        meter = ctx.meter(state)
        pending = [c for c in state.get("ttc_candidates") or [] if c.get("score") is None]
        updates = await score_candidates(ctx, state["ttc_question"], pending, meter, config)
        return {"ttc_candidates": updates, "ttc_usage": meter.usage.to_dict()}

    def invoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        return run_sync(self.ainvoke(state, config))
