"""Generate: draw the plan's first attempts in parallel (one ``n``-request where the server
honours ``n``, concurrent requests where it does not; the backend decides).

A sequential plan (a stop rule, from the router's policy) draws in rounds: after each round the
rule looks at the first attempts so far, and the node either widens the plan by ``step`` (the
``generate`` edge loops) or closes it. A method's hooks (``Plan.method``, see
:mod:`langgraph_ttc.nodes.hooks`) watch the draw and update the plan after each round; this
node knows no method by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.types import Send

from langgraph_ttc.backends.base import Draw
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.nodes.base import TTCNode, emit, require_a_sample
from langgraph_ttc.nodes.context import candidate_from, seed_of
from langgraph_ttc.nodes.hooks import GenerationHook, generation_hook
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import SamplesAtLeast

__all__ = ["GenerateNode", "GenerateTask", "fan_out_generate", "first_attempts"]


class GenerateTask(TypedDict):
    """Payload of one ``Send`` to the generate node: draw ``n`` samples starting at ``index``."""

    ttc_question: str
    question: str | None
    messages: list[AnyMessage]
    ttc_run_id: str
    ttc_seed: int
    ttc_started_at: float
    ttc_usage: dict
    index: int
    n: int
    chains: list[int]


def first_attempts(state: Mapping[str, Any]) -> list[dict]:
    """The candidates that start a chain (step 0): samples and probes, not revisions."""
    return [c for c in state.get("ttc_candidates") or [] if c.get("step", 0) == 0]


def fan_out_generate(
    state: Mapping[str, Any], *, per_send: int | None = None, node: str = "generate"
) -> list[Send]:
    """Sends for the first attempts the plan still misses, ``per_send`` samples each (default:
    all in one Send; the backend already makes concurrent requests). For graphs that want each
    branch as its own task, e.g. ``builder.add_conditional_edges("prepare", fan_out_generate)``.

    Example:
        >>> state = {"ttc_plan": {"width": 5}, "ttc_candidates": [], "ttc_question": "q",
        ...          "ttc_run_id": "r", "ttc_seed": 0, "ttc_started_at": 0.0}
        >>> [send.arg["n"] for send in fan_out_generate(state, per_send=2)]
        [2, 2, 1]
    """
    have = len(first_attempts(state))
    need = state["ttc_plan"]["width"] - have
    index = len(state.get("ttc_candidates") or [])
    size = per_send or max(need, 1)
    sends = []
    for offset in range(0, max(need, 0), size):
        count = min(size, need - offset)
        task = GenerateTask(
            ttc_question=state["ttc_question"],
            question=state.get("question"),
            messages=list(state.get("messages") or []),
            ttc_run_id=state["ttc_run_id"],
            ttc_seed=state["ttc_seed"],
            ttc_started_at=state["ttc_started_at"],
            ttc_usage=state.get("ttc_usage") or {},
            index=index + offset,
            n=count,
            chains=list(range(have + offset, have + offset + count)),
        )
        sends.append(Send(node, task))
    return sends


class GenerateNode(TTCNode):
    """Draws the first attempts the plan still misses (or a :class:`GenerateTask`'s ``n``).

    Example:
        >>> from langgraph_ttc.nodes import PrepareNode, TTCContext
        >>> from langgraph_ttc.testing import FakeBackend
        >>> ctx = TTCContext.create(FakeBackend(), "majority", n=3)
        >>> state = {**PrepareNode(ctx)({"question": "2+2?"}), "ttc_candidates": [], "ttc_usage": {}}
        >>> len(GenerateNode(ctx).invoke(state)["ttc_candidates"])
        3
    """

    default_name = "generate"

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        if "n" in state:  # one Send of fan_out_generate
            index, count, chains = state["index"], state["n"], state["chains"]
            plan = None
        else:
            plan = Plan.from_state(state["ttc_plan"])
            have = len(first_attempts(state))
            index = len(state.get("ttc_candidates") or [])
            count = max(plan.width - have, 0)
            chains = list(range(have, have + count))
        candidates = []
        if count > 0:
            # The router's plan may set how long these samples think (the probes did not).
            params = self.ctx.params_for(state.get("ttc_plan")).with_seed(
                seed_of(state["ttc_seed"], index)
            )
            watch = (
                {}
                if plan is None
                else generation_hook(plan).watch(self.ctx, plan, first_attempts(state))
            )
            prompt = self.ctx.prompt(state)
            if "until" in watch and not getattr(self.ctx.backend, "cancels", False):
                # The backend cannot cancel requests in flight: draw one at a time instead.
                completions = yield from one_at_a_time(
                    self.ctx.backend, prompt, count, params, watch
                )
            else:
                (draw,) = yield [
                    Sample(self.ctx.backend, prompt, count, "generate", params, **watch)
                ]
                if not state.get("ttc_candidates"):
                    require_a_sample(draw)
                completions = draw.completions
            for offset, completion in enumerate(completions):
                candidate = candidate_from(
                    self.ctx,
                    completion,
                    run_id=state["ttc_run_id"],
                    index=index + offset,
                    chain=chains[offset],
                    step=0,
                    purpose="generate",
                )
                candidates.append(candidate)
                emit("sample", id=candidate["id"], answer=candidate["answer"], ok=candidate["ok"])
        update: dict[str, Any] = {"ttc_candidates": candidates}
        if plan is None:
            return update
        drawn = [*first_attempts(state), *candidates]
        hook = generation_hook(plan)
        plan = hook.after_draw(plan, drawn)  # e.g. DeepConf online's threshold after its warm-up
        if plan.is_open:
            plan = next_round(plan, drawn, hook)
        update["ttc_plan"] = plan.to_state()
        return update


def next_round(plan: Plan, drawn: list[Mapping], hook: GenerationHook | None = None) -> Plan:
    """After a round of a sequential plan: wider by ``step`` while its stop rule (or the cap of
    ``max_width``) has not fired, else closed. A round the budget cut short closes it too.

    Example:
        >>> from langgraph_ttc.stopping import AgreementAtLeast
        >>> plan = Plan(width=4, max_width=8, step=2, stop_rule=AgreementAtLeast(0.75))
        >>> next_round(plan, [{"answer": a} for a in "4456"]).width
        6
        >>> next_round(plan, [{"answer": a} for a in "4445"]).is_open
        False
    """
    votes = (hook or generation_hook(plan)).votes(plan, drawn)
    rule = plan.stop_rule | SamplesAtLeast(plan.max_width or plan.width)
    share = votes.leader_share()
    if rule(votes) or votes.drawn < plan.width:
        closed = plan.closed(f"stopped at {votes.drawn} (agreement {share:.2f})")
        emit("extend", width=votes.drawn, agreement=round(share, 4), done=True)
        return closed
    wider = min(plan.width + plan.step, plan.max_width or plan.width)
    emit("extend", width=wider, agreement=round(share, 4), done=False)
    return plan.widened(wider)


def one_at_a_time(backend, prompt, count: int, params, watch: dict) -> Steps[list]:
    """Samples drawn one request at a time until ``watch["until"]`` fires on those done (what
    a backend that cannot cancel requests does for a Bayesian early stop)."""
    done: list = []
    until = watch.pop("until")
    for i in range(count):
        (draw,) = yield [
            Sample(backend, prompt, 1, "generate", params.with_seed(params.seed + i), **watch)
        ]
        if not draw.completions:
            break
        done += draw.completions
        if until(done):
            break
    if not done:
        require_a_sample(Draw(extra={"skipped": "budget"}))
    return done
