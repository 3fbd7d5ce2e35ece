"""Route: probe a few samples, estimate difficulty, and choose the plan from a policy.

The probes are kept as candidates (step 0 of chains 0..p-1), so they are never wasted.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.difficulty import agreement
from langgraph_ttc.nodes._context import NodeContext, candidate_from, emit, seed_of
from langgraph_ttc.policy import Policy


class RouteNode:
    """Draws ``strategy.probes`` samples (purpose ``probe``) and writes the plan."""

    def __init__(self, ctx: NodeContext, policy: Policy) -> None:
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
        value = agreement([c["answer"] for c in candidates])
        # The strategy's n is the per-question budget; a run-wide Budget may cap it further.
        calls_left = ctx.strategy.n - meter.usage.total().calls
        budget_left = meter.remaining().max_calls
        if budget_left is not None:
            calls_left = min(calls_left, budget_left)
        plan = self.policy.choose(value, len(candidates), ctx.strategy.n, calls_left)
        difficulty = {
            "statistic": self.policy.statistic,
            "agreement": round(value, 4),
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
