"""Revise: one more attempt per chain, seeing the chain's recent attempts and feedback.

Snell et al. 2024 (sec. 6): the most recent 4 attempts stay in context, and since revisions can
break correct answers, the final choice looks across the whole chain (see the aggregate node).
"""

from __future__ import annotations

import asyncio

from langchain_core.runnables import RunnableConfig

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.nodes._context import NodeContext, candidate_from, emit, seed_of
from langgraph_ttc.prompts import RISE_FEEDBACK, revision_messages


def chains_of(candidates: list[dict]) -> dict[int, list[dict]]:
    """Candidates grouped by chain, each chain ordered by step."""
    chains: dict[int, list[dict]] = {}
    for candidate in candidates:
        chains.setdefault(candidate.get("chain", 0), []).append(candidate)
    return {k: sorted(v, key=lambda c: c.get("step", 0)) for k, v in sorted(chains.items())}


def feedback_for(attempt: dict) -> str:
    """Feedback on the latest attempt: verifier score, critique, or RISE's generic retry."""
    if attempt.get("score") is not None:
        note = f"A checker scored this answer {attempt['score']:.2f} out of 1."
        return note if attempt["score"] >= 0.5 else f"{note} {RISE_FEEDBACK}"
    if attempt.get("verdict") is False and attempt.get("critique"):
        return attempt["critique"]
    return RISE_FEEDBACK


class ReviseNode:
    """Adds step ``ttc_round + 1`` to every chain that has not reached the plan's depth."""

    def __init__(self, ctx: NodeContext, context: int = 4) -> None:
        self.ctx = ctx
        self.context = context

    async def ainvoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        ctx = self.ctx
        meter = ctx.meter(state)
        candidates = state.get("ttc_candidates") or []
        depth = state["ttc_plan"].get("depth", 1)
        next_index = len(candidates)
        jobs = []
        for chain, attempts in chains_of(candidates).items():
            if len(attempts) >= depth:
                continue
            jobs.append((chain, attempts, next_index))
            next_index += 1

        async def revise(chain: int, attempts: list[dict], index: int) -> dict | None:
            recent = [a["text"] or "(no answer)" for a in attempts[-self.context :]]
            prompt = revision_messages(state["ttc_question"], recent, feedback_for(attempts[-1]))
            messages = state["ttc_prompt"][:-1] + prompt
            params = ctx.params.with_seed(seed_of(state["ttc_seed"], index))
            draw = await meter.asample(
                ctx.backend_for(config, "revise"), messages, 1, "revise", params
            )
            if not draw.completions:
                return None
            candidate = candidate_from(
                ctx,
                draw.completions[0],
                run_id=state["ttc_run_id"],
                index=index,
                chain=chain,
                step=len(attempts),
                purpose="revise",
            )
            emit("revision", id=candidate["id"], chain=chain, answer=candidate["answer"])
            return candidate

        new = await asyncio.gather(*(revise(*job) for job in jobs))
        return {
            "ttc_candidates": [c for c in new if c is not None],
            "ttc_usage": meter.usage.to_dict(),
            "ttc_round": state.get("ttc_round", 0) + 1,
        }

    def invoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        return run_sync(self.ainvoke(state, config))
