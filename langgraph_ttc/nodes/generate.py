"""Generate: draw the plan's first attempts in parallel, one ``Send`` per request."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.types import Send

from langgraph_ttc.backends.base import run_sync
from langgraph_ttc.nodes._context import NodeContext, candidate_from, emit, seed_of
from langgraph_ttc.state import GenerateTask


def first_attempts(state: dict) -> list[dict]:
    return [c for c in state.get("ttc_candidates") or [] if c.get("step", 0) == 0]


def fan_out_generate(ctx: NodeContext, state: dict, node: str = "generate") -> list[Send]:
    """One Send for the samples still missing (router probes are reused). The backend turns it
    into one ``n``-request where the server honours ``n``, else into concurrent requests; a Send
    per sample would add LangGraph's per-task cost (and its thread cap on sync ``invoke``) to
    every sample."""
    have = len(first_attempts(state))
    need = state["ttc_plan"].get("width", 0) - have
    if need <= 0:
        return []
    task = GenerateTask(
        ttc_question=state["ttc_question"],
        ttc_prompt=state["ttc_prompt"],
        ttc_run_id=state["ttc_run_id"],
        ttc_seed=state["ttc_seed"],
        ttc_started_at=state["ttc_started_at"],
        ttc_usage=state.get("ttc_usage") or {},
        index=len(state.get("ttc_candidates") or []),
        n=need,
        chains=list(range(have, have + need)),
        purpose="generate",
        share=1,
    )
    return [Send(node, task)]


class GenerateNode:
    """Draws ``task['n']`` samples for one Send and returns them as candidates."""

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def ainvoke(self, task: GenerateTask, config: RunnableConfig | None = None) -> dict:
        ctx = self.ctx
        meter = ctx.meter(task, share=task["share"])
        messages = task["ttc_prompt"]
        params = ctx.params.with_seed(seed_of(task["ttc_seed"], task["index"]))
        draw = await meter.asample(
            ctx.backend_for(config, task["purpose"]), messages, task["n"], task["purpose"], params
        )
        candidates = []
        for offset, completion in enumerate(draw.completions):
            candidate = candidate_from(
                ctx,
                completion,
                run_id=task["ttc_run_id"],
                index=task["index"] + offset,
                chain=task["chains"][offset],
                step=0,
                purpose=task["purpose"],
            )
            candidates.append(candidate)
            emit("sample", id=candidate["id"], answer=candidate["answer"], ok=candidate["ok"])
        return {"ttc_candidates": candidates, "ttc_usage": meter.usage.to_dict()}

    def invoke(self, task: GenerateTask, config: RunnableConfig | None = None) -> dict:
        return run_sync(self.ainvoke(task, config))
