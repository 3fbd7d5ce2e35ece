"""Revise: one more attempt per chain, seeing the chain's recent attempts and feedback.

Snell et al. 2024 (sec. 6): the most recent 4 attempts stay in context, and since revisions can
break correct answers, the final choice looks across the whole chain (the plan's aggregator runs
over every attempt of every chain).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.nodes.base import TTCNode, emit
from langgraph_ttc.nodes.context import TTCContext, candidate_from, seed_of
from langgraph_ttc.prompts import RISE_FEEDBACK, revision_messages

__all__ = ["ReviseNode", "chains_of", "feedback_for"]


def chains_of(candidates: list[dict]) -> dict[int, list[dict]]:
    """Candidates grouped by chain, each chain ordered by step.

    Example:
        >>> chains_of([{"chain": 1, "step": 1}, {"chain": 1, "step": 0}, {"chain": 0}])
        {0: [{'chain': 0}], 1: [{'chain': 1, 'step': 0}, {'chain': 1, 'step': 1}]}
    """
    chains: dict[int, list[dict]] = {}
    for candidate in candidates:
        chains.setdefault(candidate.get("chain", 0), []).append(candidate)
    return {k: sorted(v, key=lambda c: c.get("step", 0)) for k, v in sorted(chains.items())}


def feedback_for(attempt: dict) -> str:
    """Feedback on the latest attempt: verifier score, critique, or RISE's generic retry.

    Example:
        >>> feedback_for({"score": None, "verdict": None})
        'The answer is incorrect. Please try again.'
    """
    if attempt.get("score") is not None:
        note = f"A checker scored this answer {attempt['score']:.2f} out of 1."
        return note if attempt["score"] >= 0.5 else f"{note} {RISE_FEEDBACK}"
    if attempt.get("verdict") is False and attempt.get("critique"):
        return attempt["critique"]
    return RISE_FEEDBACK


class ReviseNode(TTCNode):
    """Adds step ``ttc_round + 1`` to every chain that has not reached the plan's depth.

    Args:
        ctx: the context.
        context: how many of a chain's most recent attempts a revision sees (paper: 4).
    """

    default_name = "revise"

    def __init__(self, ctx: TTCContext, context: int = 4, **kwargs) -> None:
        super().__init__(ctx, **kwargs)
        self.context = context

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        ctx = self.ctx
        candidates = state.get("ttc_candidates") or []
        depth = state["ttc_plan"].get("depth", 1)
        jobs = []
        next_index = len(candidates)
        for chain, attempts in chains_of(candidates).items():
            if len(attempts) < depth:
                jobs.append((chain, attempts, next_index))
                next_index += 1
        calls = []
        for _, attempts, index in jobs:
            recent = [a["text"] or "(no answer)" for a in attempts[-self.context :]]
            prompt = revision_messages(state["ttc_question"], recent, feedback_for(attempts[-1]))
            params = ctx.params_for(state["ttc_plan"]).with_seed(seed_of(state["ttc_seed"], index))
            calls.append(Sample(ctx.backend, ctx.prompt(state)[:-1] + prompt, 1, "revise", params))
        draws = (yield calls) if calls else []
        new = []
        for (chain, attempts, index), draw in zip(jobs, draws, strict=True):
            if not draw.completions:
                continue
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
            new.append(candidate)
        return {"ttc_candidates": new, "ttc_round": state.get("ttc_round", 0) + 1}
