"""Route: probe a few samples, estimate difficulty, and choose the plan from a policy.

The probes are kept as candidates (step 0 of chains 0..p-1), so they are never wasted.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from langgraph_ttc.aggregators import AGGREGATORS
from langgraph_ttc.budget import Meter
from langgraph_ttc.calls import Sample, Steps
from langgraph_ttc.difficulty import agreement
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.base import TTCNode, emit, require_a_sample
from langgraph_ttc.nodes.context import TTCContext, candidate_from, seed_of
from langgraph_ttc.nodes.verify import score_steps
from langgraph_ttc.plan import Plan
from langgraph_ttc.policy import Policy, resolve_policy

__all__ = ["RouteNode"]

logger = logging.getLogger(__name__)


class RouteNode(TTCNode):
    """Draws the strategy's probes (purpose ``probe``), bins the question's difficulty by what
    they show (their answer agreement, or their mean verifier score) and writes the plan the
    policy gives that bin at this budget (calls, or tokens for a policy whose plans also set
    the thinking budget of the samples after the probes).

    Args:
        ctx: the context; its strategy's ``n`` is the per-question call budget and ``probes``
            (default 4) the probe count.
        policy: a :class:`~langgraph_ttc.policy.Policy`, a policy JSON path, or ``None`` for the
            default prior.
    """

    default_name = "route"

    def __init__(self, ctx: TTCContext, policy: Policy | str | None = None, **kwargs) -> None:
        policy = resolve_policy(policy, ctx.backend.model_id)
        if policy.statistic == "verifier" and ctx.verifier is None:
            raise TTCConfigError(
                "This policy bins difficulty by mean verifier score: pass a verifier, or use a "
                "policy with statistic='agreement'."
            )
        scored = sorted(
            {s.aggregator for by_budget in policy.plans.values() for s in by_budget.values()}
            & {name for name, a in AGGREGATORS.items() if "scores" in a.needs}
        )
        if scored and ctx.verifier is None:
            raise TTCConfigError(
                f"This policy uses {', '.join(scored)} in some cells, which need verifier "
                "scores: pass a verifier (e.g. verifier=LLMJudge())."
            )
        if policy.unit == "tokens" and getattr(ctx.strategy, "token_budget", None) is None:
            raise TTCConfigError(
                "This policy's budgets are tokens per question (it trades width against "
                "thinking length): pass Adaptive(token_budget=...), the generated tokens a "
                "question may use, thinking included."
            )
        fitted_thinking = policy.meta.get("probe_thinking_budget")
        thinking = getattr(ctx.strategy, "thinking_budget", None)
        if fitted_thinking is not None and thinking != fitted_thinking:
            # The bins are edges on what probes at that thinking budget show.
            logger.warning(
                "policy was calibrated with probes thinking up to %s tokens but the strategy "
                "thinks up to %s; pass Adaptive(thinking_budget=%s)",
                fitted_thinking,
                thinking,
                fitted_thinking,
            )
        probes = getattr(ctx.strategy, "probes", None)
        fitted_probes = policy.meta.get("probes")
        if fitted_probes and probes is not None and fitted_probes != probes:
            # Bins are edges on the statistic of that many probes; another count shifts them.
            logger.warning(
                "policy was calibrated with %s probes but the strategy draws %s; pass "
                "Adaptive(probes=%s)",
                fitted_probes,
                probes,
                fitted_probes,
            )
        super().__init__(ctx, **kwargs)
        self.policy = policy

    def steps(self, state: Mapping[str, Any], meter: Meter) -> Steps[dict]:
        ctx = self.ctx
        probes = state["ttc_plan"]["width"]
        params = ctx.params.with_seed(seed_of(state["ttc_seed"], 0))
        affordable = self._below_probes_cost(probes)
        drawn = probes if affordable is None else affordable
        (draw,) = yield [Sample(ctx.backend, ctx.prompt(state), drawn, "probe", params)]
        require_a_sample(draw)
        candidates = [
            candidate_from(
                ctx, c, run_id=state["ttc_run_id"], index=i, chain=i, step=0, purpose="probe"
            )
            for i, c in enumerate(draw.completions)
        ]
        agreed = agreement([c["answer"] for c in candidates])
        if affordable is not None:
            # The budget cannot pay for the probes and their statistic: answer by the majority
            # of what it buys (replay sizes these runs the same way: ReplayTable.outcomes).
            vote = self.policy.vote_below_probes(ctx.strategy.n)  # the vote fitted there
            plan = Plan(
                width=len(candidates),
                stop=True,
                aggregator=vote,
                reason=f"budget of {ctx.strategy.n} calls is below the probes' "
                f"{self._probes_cost(probes)}: {vote} of {len(candidates)}",
            )
            return self._routed(candidates, plan, agreed, None, None)  # not binned: not paid for
        value, mean = agreed, None
        if self.policy.statistic == "confidence":  # the probes' own confidence: no extra call
            # A probe without one (it failed) is left out, not counted as 0.0: that is the
            # lowest value of DeepConf's measures but the highest of mean_logprob. With none
            # known the question looks hopeless, as no answer does under agreement.
            known = [
                c["confidence"]
                for c in candidates
                if c.get("confidence") is not None and not math.isnan(c["confidence"])
            ]
            mean = sum(known) / len(known) if known else None
            value = -math.inf if mean is None else mean
        if self.policy.statistic == "verifier":
            # Snell et al. 2024's predicted difficulty: the mean verifier score of the probes.
            updates = yield from score_steps(ctx, state["ttc_question"], candidates)
            for candidate, update in zip(candidates, updates, strict=True):
                candidate["score"] = update["score"]
            value = mean = sum(u["score"] for u in updates) / len(updates) if updates else 0.0
        # The strategy's n is the per-question budget; a run-wide Budget may cap it further.
        calls_left = ctx.strategy.n - meter.usage.total().calls
        budget_left = meter.remaining().max_calls
        if budget_left is not None:
            calls_left = min(calls_left, budget_left)
        budget = ctx.strategy.n
        if self.policy.unit == "tokens":  # a plan per token budget: width and thinking length
            budget = ctx.strategy.token_budget
        plan = self.policy.choose(value, len(candidates), budget, calls_left, ctx.verify_calls)
        rule = plan.stop_rule
        if getattr(rule, "question_prior", False):
            # The posterior stop starts from this question's zero-probe prior (the replay
            # reads the same predictor on the pool's question text).
            prior = self.policy.question_prior(state["ttc_question"])
            if prior is None:
                raise TTCConfigError(
                    "This policy's plan reads each question's prior, but the policy carries no "
                    "difficulty prior (meta['difficulty_prior']); recalibrate it."
                )
            plan = replace(plan, stop_rule=replace(rule, prior=prior, question_prior=False))
        return self._routed(candidates, plan, agreed, mean, self.policy.bin(value))

    def _routed(self, candidates, plan: Plan, agreed: float, mean, difficulty_bin) -> dict:
        difficulty = {
            "statistic": self.policy.statistic,
            "agreement": round(agreed, 4),
            "mean_score": None if mean is None else round(mean, 4),  # score or confidence
            "bin": difficulty_bin,
            "probes": len(candidates),
        }
        emit("route", difficulty=difficulty, plan=plan.to_state())
        return {
            "ttc_candidates": candidates,
            "ttc_plan": plan.to_state(),
            "ttc_difficulty": difficulty,
        }

    def _probes_cost(self, probes: int) -> int:
        """The probes and, for the verifier statistic, their scores."""
        per_probe = 1 + (self.ctx.verify_calls if self.policy.statistic == "verifier" else 0)
        return probes * per_probe

    def _below_probes_cost(self, probes: int) -> int | None:
        """How many samples to draw when the per-question budget cannot pay for the probes
        and their statistic (``None``: it can)."""
        budget = self.ctx.strategy.n
        if budget >= self._probes_cost(probes):
            return None
        return max(min(budget, probes), 1)
