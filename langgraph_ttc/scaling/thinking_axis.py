"""The router's thinking axis: plans that choose how long each sample thinks as well as how many
samples to draw, fitted and replayed at a budget of generated tokens.

Snell et al. 2024 trade parallel samples against sequential revisions at a fixed generation
budget; for a reasoning model the sequential axis is the length of its thinking (s1, Muennighoff
et al. 2025, scale one trace's thinking with a budget). Longer thinking costs no extra call, so
the trade is made in tokens: a plan (width ``w``, thinking budget ``t``) costs, at worst,

    probes x (answer + t_probe) + (w - probes) x (answer + t)

generated tokens, where ``answer`` is the pools' ``max_tokens`` and ``t_probe`` the thinking
budget the probes were drawn at (the Meter reserves exactly that, and ``thinking_budget`` is a
hard cap on thinking). Calibration keeps, per (bin, token budget), the most accurate plan whose
worst case fits, the cheapest in mean tokens within the tolerance.

The data are pools of one model over the same problems, one pool per thinking budget (``langgraph-
ttc curves --thinking-budget T`` once per T; :mod:`langgraph_ttc.scaling.thinking_pools` loads
them). A live run draws its probes at the probe budget and
the rest at the plan's; the replay does the same (:class:`ThinkingReplay`: every order's first
``probes`` samples from the probe pool, the others from the plan's pool), so a bin depends only on
what the probes show, whatever the plan.

Plans on this axis vote without critiques or judges (majority, and the confidence votes when the
pools hold confidences): a critique's or a judge's tokens are not a sample's thinking, and the
router's statistic is the probes' agreement or confidence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np

from langgraph_ttc.aggregators import get_aggregator, replayable
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec
from langgraph_ttc.scaling.calibrate import (
    STEPS,
    Calibration,
    fit_and_validate,
    stop_rules_of,
)
from langgraph_ttc.scaling.replay import Outcome, ReplayTable
from langgraph_ttc.scaling.thinking_pools import ThinkingPools
from langgraph_ttc.stopping import StopRule

__all__ = ["BUDGET_MULTIPLES", "ThinkingReplay", "calibrate_thinking"]

BUDGET_MULTIPLES = (1, 2, 4, 8, 16)  # default token budgets, in units of the probes' cost


class ThinkingReplay:
    """The router replayed on pools at several thinking budgets, costs in generated tokens.

    Probes come from the pool at ``probe_budget`` (default the smallest); a plan with thinking
    budget ``t`` takes the samples after them from the pool at ``t`` (in each order). It offers
    what :class:`~langgraph_ttc.scaling.calibrate.Candidates`, ``fit_policy`` and
    ``replay_policy`` read of a :class:`~langgraph_ttc.scaling.replay.ReplayTable`, with
    ``unit = "tokens"``.

    Example:
        >>> from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
        >>> short = PoolSamples({}, (ProblemSamples.from_lists("q", ["3", "5", "4", "5"],
        ...     [0, 0, 1, 0], completion_tokens=[40] * 4),))
        >>> long = PoolSamples({}, (ProblemSamples.from_lists("q", ["4", "4", "4", "5"],
        ...     [1, 1, 1, 0], completion_tokens=[300] * 4),))
        >>> replay = ThinkingReplay(ThinkingPools({32: short, 512: long}, answer_tokens=16),
        ...                         probes=1, n_orders=1)
        >>> outcome = replay.outcomes(PlanSpec(width=3, thinking_budget=512), 2000)
        >>> outcome.correct.tolist(), outcome.tokens.tolist()  # probe "3", then "4", "4"
        ([[1.0]], [[640.0]])
    """

    unit = "tokens"

    def __init__(
        self,
        pools: ThinkingPools,
        *,
        probes: int,
        probe_budget: int | None = None,
        n_orders: int = 32,
        statistic: str = "agreement",
        seed: int = 0,
    ) -> None:
        if statistic not in ("agreement", "confidence"):
            raise TTCConfigError(
                f"The thinking axis bins by the probes' agreement or confidence; got "
                f"{statistic!r} (a judge's calls are not a sample's thinking)."
            )
        budgets = pools.budgets
        self.probe_budget = budgets[0] if probe_budget is None else int(probe_budget)
        if self.probe_budget not in pools.pools:
            raise TTCConfigError(
                f"No pool at the probes' thinking budget {self.probe_budget}; the pools are at "
                f"{budgets}."
            )
        self.pools = pools
        self.budgets = budgets
        self.answer_tokens = pools.answer_tokens
        self.probes, self.statistic, self.n_orders, self.seed = probes, statistic, n_orders, seed
        base = pools.pools[self.probe_budget].problems
        options = dict(probes=probes, n_orders=n_orders, statistic=statistic, seed=seed)
        self.tables = {
            t: ReplayTable(
                pool.problems, **options, probe_problems=None if t == self.probe_budget else base
            )
            for t, pool in pools.pools.items()
        }
        self.base = self.tables[self.probe_budget]
        self.statistics = self.base.statistics  # the probes' statistic: the same for every t
        self.width = min(table.width for table in self.tables.values())
        self.verify_calls_per_sample = 0
        self.has_confidences = all(
            bool(np.isfinite(table.confidences).any(axis=(1, 2)).all())
            for table in self.tables.values()
        )
        self._ids: dict[tuple, int] = {}
        self._rows: list[Outcome] = []
        self._plain: dict[int, ReplayTable] = {}

    @property
    def n_problems(self) -> int:
        return self.base.n_problems

    def sample_tokens(self, thinking_budget: int) -> int:
        """The most tokens one sample generates at ``thinking_budget``: thinking plus answer."""
        return self.answer_tokens + thinking_budget

    def probes_cost(self) -> int:
        """The most the probes cost in tokens: below it the router answers from them alone."""
        return self.probes * self.sample_tokens(self.probe_budget)

    def _budget_of(self, spec: PlanSpec) -> int:
        return self.probe_budget if spec.thinking_budget is None else spec.thinking_budget

    def worst_case_tokens(self, spec: PlanSpec) -> int:
        """The most generated tokens ``spec`` can spend, probes included.

        Example:
            >>> from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
            >>> one = PoolSamples({}, (ProblemSamples.from_lists("q", ["4"] * 4, [1] * 4),))
            >>> replay = ThinkingReplay(ThinkingPools({64: one, 512: one}, answer_tokens=32),
            ...                         probes=2, n_orders=1)
            >>> replay.worst_case_tokens(PlanSpec(width=3, thinking_budget=512))  # 2x96 + 544
            736
        """
        if spec.stop:
            return self.probes_cost()
        extra = max((spec.width or self.probes) - self.probes, 0)
        return self.probes_cost() + extra * self.sample_tokens(self._budget_of(spec))

    def aggregators(self) -> list[str]:
        """The votes this axis replays: no critiques or judges; confidence votes when every
        pool holds confidences."""
        return [
            name
            for name in replayable()[0]
            if not {"verdicts", "scores"} & set(get_aggregator(name).needs)
            and ("confidences" not in get_aggregator(name).needs or self.has_confidences)
        ]

    def candidate_specs(self, budget: int) -> list[PlanSpec]:
        """Every plan worth trying at ``budget`` tokens: stop (the probes' majority), and at
        each thinking budget each vote at each width from the probes up to the pools' width
        whose worst case fits, with sequential majorities (adaptive consistency) among them."""
        specs = [PlanSpec(stop=True)]
        for t in self.budgets:
            for aggregator in self.aggregators():
                # The probes alone, voted, are the same at every thinking budget: once.
                first = self.probes + 1 if aggregator == "majority" else self.probes
                if t != self.probe_budget:
                    first = self.probes + 1
                for width in range(first, self.width + 1):
                    spec = PlanSpec(width=width, aggregator=aggregator, thinking_budget=t)
                    if self.worst_case_tokens(spec) > budget:
                        break
                    specs.append(spec)
                    if aggregator == "majority" and width > self.probes + 1:
                        specs += [
                            dataclasses.replace(spec, stop_rule=rule, step=step)
                            for rule in stop_rules_of(self)
                            for step in STEPS
                        ]
        return specs

    # -- outcomes, as a ReplayTable numbers them --------------------------------------------
    def outcomes(self, spec: PlanSpec, budget: int) -> Outcome:
        """Every run under ``spec`` at ``budget`` tokens (calls counted too)."""
        table, plan = self._resolved(spec, budget)
        return table._plan_outcome(plan)

    def _resolved(self, spec: PlanSpec, budget: int):
        if budget < self.probes_cost() or spec.stop:
            # Below the probes' cost the router answers from them (the route node probes first).
            return self.base, PlanSpec(stop=True).resolve(self.probes, None)
        t = self._budget_of(spec)
        if t not in self.tables:
            raise TTCConfigError(
                f"No pool at thinking budget {t}; this replay has pools at {self.budgets}."
            )
        return self.tables[t], spec.resolve(self.probes, None)

    def outcome_id(self, spec: PlanSpec, budget: int) -> int:
        table, plan = self._resolved(spec, budget)
        key = (id(table), table._plan_key(plan))
        if key not in self._ids:
            self._ids[key] = len(self._rows)
            self._rows.append(table._plan_outcome(plan))
        return self._ids[key]

    def outcome_matrix(self, tokens: bool = True) -> Outcome:
        return Outcome(
            np.stack([o.correct for o in self._rows]),
            np.stack([o.calls for o in self._rows]),
            np.stack([o.tokens for o in self._rows]),
        )

    # -- fixed strategies without a router ----------------------------------------------------
    def plain(self, thinking_budget: int) -> ReplayTable:
        """The pool at ``thinking_budget`` replayed on its own (no probes from another)."""
        if thinking_budget == self.probe_budget:
            return self.base
        if thinking_budget not in self._plain:
            self._plain[thinking_budget] = ReplayTable(
                self.pools.pools[thinking_budget].problems,
                probes=self.probes,
                n_orders=self.n_orders,
                statistic=self.statistic,
                seed=self.seed,
            )
        return self._plain[thinking_budget]


def calibrate_thinking(
    pools: ThinkingPools,
    budgets: Sequence[int] | None = None,
    *,
    probes: int = 4,
    probe_budget: int | None = None,
    statistic: str = "agreement",
    problem_ids: Sequence[str] | None = None,
    heldout_ids: Sequence[str] = (),
    n_orders: int = 32,
    folds: int = 2,
    tolerance: float = 0.01,
    seed: int = 0,
    stop_rules: Sequence[StopRule] | None = None,
) -> Calibration:
    """Fit a token-budget policy whose plans choose width and thinking budget (see the module
    docstring), on ``problem_ids`` (default all), and cross-validate it.

    Args:
        pools: one pool per thinking budget (:func:`load_thinking_pools`).
        budgets: generated tokens per question (probes included); default: 1, 2, 4, 8 and 16
            times what the probes cost.
        probes: samples the router draws first (``Adaptive(probes=...)``).
        probe_budget: the thinking budget of the probes (``Adaptive(thinking_budget=...)``);
            default the pools' smallest.
        statistic: ``"agreement"`` or ``"confidence"`` of the probes.
        problem_ids / heldout_ids, n_orders, folds, tolerance, seed, stop_rules: as for
            :func:`~langgraph_ttc.scaling.calibrate.calibrate`.

    Example:
        >>> from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
        >>> def pool(p):
        ...     return PoolSamples({}, tuple(ProblemSamples.from_lists(f"q{i}", ["4"] * 8,
        ...         [1.0 if j < 8 * p else 0.0 for j in range(8)]) for i in range(8)))
        >>> result = calibrate_thinking(ThinkingPools({64: pool(0.5), 512: pool(1.0)},
        ...     answer_tokens=64), [2000], probes=2, n_orders=2)
        >>> result.policy.unit, result.policy.meta["probe_thinking_budget"]
        ('tokens', 64)
    """
    chosen = pools.subset(problem_ids) if problem_ids is not None else pools
    if not chosen.problem_ids:
        raise TTCConfigError("No problems to fit a policy on.")
    replay = ThinkingReplay(
        chosen,
        probes=probes,
        probe_budget=probe_budget,
        n_orders=n_orders,
        statistic=statistic,
        seed=seed,
    )
    if stop_rules:
        replay.stop_rules = tuple(stop_rules)
    if statistic == "confidence" and not replay.has_confidences:
        raise TTCConfigError(
            "statistic='confidence' needs the samples' confidence in every pool; build them "
            "with `langgraph-ttc curves --confidence`, or use statistic='agreement'."
        )
    cost = replay.probes_cost()
    budgets = sorted({int(b) for b in (budgets or [cost * m for m in BUDGET_MULTIPLES])})
    if not budgets or budgets[0] < 1:
        raise TTCConfigError(f"Token budgets must be positive integers; got {budgets}.")
    policy, cells, cv = fit_and_validate(
        replay, budgets, folds=folds, tolerance=tolerance, seed=seed, floor=cost
    )
    meta = {
        "source": "calibrated",
        "fitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": pools.meta.get("model"),
        "pools": pools.meta.get("pools"),
        "tasks": sorted({str(s.get("task")) for s in pools.meta.get("pools") or []}),
        "probes": probes,
        "probe_thinking_budget": replay.probe_budget,
        "thinking_budgets": replay.budgets,
        "answer_tokens": replay.answer_tokens,
        "budgets": budgets,
        "n_orders": n_orders,
        "tolerance": tolerance,
        "seed": seed,
        "problems": list(chosen.problem_ids),
        "heldout_problems": list(heldout_ids),
    }
    policy = dataclasses.replace(policy, meta=meta | {"cross_validation": cv, "cells": cells})
    return Calibration(policy, cells, cv, [])
