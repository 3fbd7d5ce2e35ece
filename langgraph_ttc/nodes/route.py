"""Route: probe a few samples, estimate difficulty, and choose the plan from a policy.

The probes are kept as candidates (step 0 of chains 0..p-1), so they are never wasted.
"""

from __future__ import annotations

import logging

from langchain_core.runnables import RunnableConfig

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.difficulty import agreement
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes._context import NodeContext, candidate_from, emit, seed_of
from langgraph_ttc.nodes.verify import score_candidates
from langgraph_ttc.policy import Policy

logger = logging.getLogger(__name__)


class RouteNode:
    """Draws ``strategy.probes`` samples (purpose ``probe``) and writes the plan."""

    def __init__(self, ctx: NodeContext, policy: Policy) -> None:
        if policy.statistic == "verifier" and ctx.verifier is None:
            raise TTCConfigError(
                "This policy bins difficulty by mean verifier score: pass a verifier, or use a "
                "policy with statistic='agreement'."
            )
        fitted_probes = policy.meta.get("probes")
        if fitted_probes and fitted_probes != getattr(ctx.strategy, "probes", fitted_probes):
            # Bins are edges on the statistic of that many probes; another count shifts them.
            logger.warning(
                "policy was calibrated with %s probes but the strategy draws %s; pass "
                "Adaptive(probes=%s)",
                fitted_probes,
                ctx.strategy.probes,
                fitted_probes,
            )
        self.ctx = ctx
        self.policy = policy

    async def ainvoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        ctx = self.ctx
        meter = ctx.meter(state)
        probes = state["ttc_plan"].get("width", 0)
        messages = state["ttc_prompt"]
        params = ctx.params.with_seed(seed_of(state["ttc_seed"], 0))
        draw = await meter.asample(
            ctx.backend_for(config, "probe"), messages, probes, "probe", params
        )
        candidates = [
            candidate_from(
                ctx, c, run_id=state["ttc_run_id"], index=i, chain=i, step=0, purpose="probe"
            )
            for i, c in enumerate(draw.completions)
        ]
        agreed = agreement([c["answer"] for c in candidates])
        value, mean = agreed, None
        if self.policy.statistic == "verifier":
            # Snell et al.'s predicted difficulty: the mean verifier score of the probes.
            updates = await score_candidates(ctx, state["ttc_question"], candidates, meter, config)
            for candidate, update in zip(candidates, updates, strict=True):
                candidate["score"] = update["score"]
            value = mean = sum(u["score"] for u in updates) / len(updates) if updates else 0.0
        # The strategy's n is the per-question budget; a run-wide Budget may cap it further.
        calls_left = ctx.strategy.n - meter.usage.total().calls
        budget_left = meter.remaining().max_calls
        if budget_left is not None:
            calls_left = min(calls_left, budget_left)
        verify_calls = 1 if ctx.verifier is not None and ctx.verifier.uses_model else 0
        plan = self.policy.choose(value, len(candidates), ctx.strategy.n, calls_left, verify_calls)
        difficulty = {
            "statistic": self.policy.statistic,
            "agreement": round(agreed, 4),
            "mean_score": None if mean is None else round(mean, 4),
            "bin": self.policy.bin(value),
            "probes": len(candidates),
        }
        emit("route", difficulty=difficulty, plan=plan)
        return {
            "ttc_candidates": candidates,
            "ttc_usage": meter.usage.to_dict(),
            "ttc_plan": plan,
            "ttc_difficulty": difficulty,
        }

    def invoke(self, state: dict, config: RunnableConfig | None = None) -> dict:
        return run_sync(self.ainvoke(state, config))
