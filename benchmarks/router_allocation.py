"""Where compute helps: the router, multi-stage and batch allocation against uniform voting,
Adaptive-Consistency, DeepConf-style online voting and the pool oracle, at equal calls.

Pools (synthetic, held out: fitted on one half of the questions, scored on the other):

* ``answers``: 120 questions x 64 samples in four bands of single-sample accuracy (easy 0.75-0.98,
  middle 0.3-0.7, hard 0.08-0.3, hopeless 0-0.04; shares 30/30/20/20%), a popular wrong answer
  on 30% of the questions (50-85% of their wrong samples), some answerless samples; question
  texts whose length and numbers follow the band, 25% of them drawn from another band
  (:func:`langgraph_ttc.scaling.synthetic.banded_pool`);
* ``confidence``: the same design (another seed) with per-sample confidences of realistic
  strength (pooled AUROC about 0.72).

Methods at budget B (8, 16, 32 calls per question), every one replayed on the same orders of
the held-out samples:

* ``calibrated router``: ``calibrate --objective equal-calls`` on the fitting half (2 probes;
  its plans include posterior stops from the pool's prior or each question's own zero-probe
  prior, and the evidence vote where the pool has confidences; a price per call chosen per
  budget by cross-validated gain over uniform voting at equal calls) replayed by ``compare``;
  the uniform / oracle / share columns are ``compare``'s; ``evidence vote``: that vote used
  uniformly (not one of the library's fixed methods, so not in the uniform column);
* ``posterior stop``: every question drawn under :class:`~langgraph_ttc.stopping.PosteriorStop`
  with horizon B (the multi-stage rule alone; its price per sample chosen on the fitting half;
  read on 8 orders, where the router's row is read on 48);
  ``+ prior``: with the zero-probe difficulty prior of each question
  (:class:`~langgraph_ttc.scaling.prior.DifficultyPrior`), starting from one sample;
* ``batch``: :func:`~langgraph_ttc.scaling.allocation.replay_batch`, on each replayed order
  with exactly what the router spent on that order (equal calls), and with B x questions (the
  whole budget the router was given); the allocation fitted on the fitting half by
  :func:`~langgraph_ttc.scaling.allocation.fit_batch` from the batch that reproduces the
  router's own stops, vote and priors (:meth:`BatchAllocation.from_rule
  <langgraph_ttc.allocation.BatchAllocation.from_rule>`; its row ``router's stops``), among
  :func:`~langgraph_ttc.scaling.allocation.batch_candidates` (spend the whole total, count
  future samples' confidence evidence, the other prior source, counts plus evidence as the
  vote, caps 2x and the pool's width, one sample first with each question's own prior);
* ``AC``: Adaptive-Consistency (Beta stop 0.95, majority), ``DeepConf-style``: DeepConf online
  (warm-up min(8, cap), then one at a time until the confidence-weighted consensus reaches 0.95;
  the synthetic pools have no token traces, so no trace is filtered or cut short); both read at
  the router's mean calls by interpolating their curves over caps 2..64.

The batch's own prior (every run; ``--shift`` for policies fitted on one mix and batches drawn
from another): batch allocation whose gains are read under a prior fitted to the batch's own
probes (:mod:`langgraph_ttc.pooling`: empirical Bayes, shrunk toward the router's prior by 10
pseudo-questions, fixed beforehand; ``+evidence``: the confidence evidence refitted to the batch
as well, for the gains and an evidence vote), against the router replayed on the same orders:
at the router's spend on each order, and with the whole budget B x questions; each against the
router at the same calls (its accuracy over its price, every bin's posterior stop at one price
of 0 to 0.05 and the router itself, interpolated at the batch's mean calls), with bootstrap
intervals over questions. Shifted mixes: the answers-only mix <-> one with 40% hopeless
questions and a popular wrong answer on 60% (``SHIFTED_BANDS``), and both synthetic mixes ->
the embedded capitals (the policy fitted on the synthetic pool's fitting half, the batch the
capitals' held-out half). ``--refit rounds``: the batch's fit redone every round.

The middle-band embedded pool (``--embedded``): 70 capitals x 16 samples of Gemma 3 270M,
stored in ``benchmarks/data/capitals_pool.jsonl`` (``--build`` draws it, resumably, and exports
it; about 0.9 s per sample on two busy cores), budgets 4, 8 and 16.

Run: ``python benchmarks/router_allocation.py [--quick] [--embedded] [--shift] [--refit rounds]
[--pools answers,confidence] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from langgraph_ttc.allocation import BatchAllocation
from langgraph_ttc.cli.arguments import whole_number_at_least
from langgraph_ttc.scaling.allocation import (
    batch_candidates,
    fit_batch,
    method_curve,
    replay_batch,
    replay_stops,
)
from langgraph_ttc.scaling.calibrate import (
    _describe,
    calibrate,
    evidence_vote,
    posterior_settings,
    split_problems,
)
from langgraph_ttc.scaling.calibrate import question_priors as question_priors_of
from langgraph_ttc.scaling.compare import compare_policy
from langgraph_ttc.scaling.oracle import equal_calls_rows
from langgraph_ttc.scaling.prior import (
    DifficultyPrior,
    accuracy_prior,
    evidence_profile,
    fit_evidence,
)
from langgraph_ttc.scaling.replay import ReplayTable, replay_policy_outcome
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
from langgraph_ttc.scaling.synthetic import banded_pool
from langgraph_ttc.stopping import BayesianStop, PosteriorStop

BUDGETS = (8, 16, 32)
COSTS = (0.001, 0.002, 0.004, 0.007, 0.01, 0.015, 0.02, 0.03)
CAPS = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
ORACLE_ORDERS = 48
PROBES = 2  # the router's probes: the posterior stop decides from the second sample on


def pools(n: int) -> dict[str, PoolSamples]:
    return {
        "answers": banded_pool(n, 64, seed=1),
        "confidence": banded_pool(n, 64, seed=2, confidence_auroc=0.74),
    }


def fixed_runs(table: ReplayTable, names) -> dict:
    runs = {}
    for name in names:
        prefix = table.prefix(name)
        runs[name] = (prefix.correct.mean(axis=1), prefix.calls.mean(axis=1))
    return runs


def per_question(outcome) -> tuple[np.ndarray, np.ndarray]:
    return outcome.correct.mean(axis=1), outcome.calls.mean(axis=1)


def gain_at_equal_calls(replay, runs) -> float:
    (row,) = equal_calls_rows({0: replay}, runs, n_boot=1)
    return row["gain_over_uniform"] if row["gain_over_uniform"] is not None else -1.0


def rules_for(problems, budget, cost, start, prior, slope, center, per_question_prior=None):
    if per_question_prior is None:
        return PosteriorStop(cost, budget, start, 2, prior, slope, center)
    return [
        PosteriorStop(cost, budget, start, 2, per_question_prior(p.question), slope, center)
        for p in problems
    ]


def choose_cost(table, runs, budget, start, prior, slope, center, aggregators, pq=None):
    """The (price per sample, vote) that gains most over the best uniform method at equal
    calls on the fitting questions."""
    best, chosen = -np.inf, (COSTS[0], aggregators[0])
    for cost in COSTS:
        rules = rules_for(table.problems, budget, cost, start, prior, slope, center, pq)
        for aggregator in aggregators:
            replay = per_question(replay_stops(table, rules, aggregator))
            gain = gain_at_equal_calls(replay, runs)
            if gain > best + 1e-9:
                best, chosen = gain, (cost, aggregator)
    return chosen


def router_batch(policy, budget, fit_table, width) -> tuple[BatchAllocation, bool, str]:
    """The batch that reproduces the router's stops at ``budget`` (its posterior plan, vote
    and prior source, when every bin has that one plan, as in these pools); else the
    posterior's defaults at the router's probes with its vote. With a label saying which."""
    specs = {policy.spec(b, budget) for b in policy.plans or (1,)}
    spec = next(iter(specs))
    rule = spec.stop_rule
    if len(specs) == 1 and isinstance(rule, PosteriorStop):
        allocation = BatchAllocation.from_rule(rule, budget, vote=spec.aggregator)
        return allocation, rule.question_prior, "router's stops, vote, priors"
    prior, slope, center = posterior_settings(fit_table)
    return BatchAllocation(
        budget=max(budget, PROBES), start=PROBES, chunk=2, cap=min(budget, width), prior=prior,
        slope=slope, center=center, vote=spec.aggregator,
    ), False, "the router's vote, posterior at its probes (its plan is no posterior stop)"  # fmt: skip


def router_totals(table, policy, budget) -> list[int]:
    """The calls the router spends on all the table's questions, order by order."""
    replay_policy_outcome(table, policy, budget)  # fills in the questions' own priors
    bins = np.vectorize(policy.bin, otypes=[int])(table.statistics)
    calls = np.zeros(bins.shape)
    for difficulty_bin in np.unique(bins):
        runs = bins == difficulty_bin
        calls[runs] = table.outcomes(policy.spec(int(difficulty_bin), budget), budget).calls[runs]
    return [int(round(c)) for c in calls.sum(axis=0)]


def interpolate(curve, calls: float) -> float | None:
    xs, ys = curve
    if calls < xs[0] - 1e-9:
        return None
    return float(np.interp(calls, xs, ys))


# The batch's own prior (empirical Bayes over its tallies, langgraph_ttc.pooling): shrunk toward
# the router's prior by this many pseudo-questions; fixed beforehand, not tuned on any pool.
POOL_STRENGTH = 10.0
PRICES = (0.0, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.007, 0.01, 0.015, 0.02, 0.03, 0.05)


def router_curve(table, policy, budget, routed):
    """The router's accuracy against calls over its price: per price, per question (correct,
    calls), every bin's posterior stop replayed at that price (other bins' plans as they are),
    and the router itself (``routed``, its own prices); ``None`` when no bin's plan is a
    posterior stop."""
    replay_policy_outcome(table, policy, budget)  # fills in the questions' own priors
    bins = np.vectorize(policy.bin, otypes=[int])(table.statistics)
    specs = {int(b): policy.spec(int(b), budget) for b in np.unique(bins)}
    if not any(isinstance(s.stop_rule, PosteriorStop) for s in specs.values()):
        return None
    correct, calls = [routed.correct], [routed.calls]
    for price in PRICES:
        c, k = np.zeros(bins.shape), np.zeros(bins.shape)
        for b, spec in specs.items():
            if isinstance(spec.stop_rule, PosteriorStop):
                rule = dataclasses.replace(spec.stop_rule, cost=price)
                spec = dataclasses.replace(spec, stop_rule=rule)
            out = table.outcomes(spec, budget)
            c[bins == b], k[bins == b] = out.correct[bins == b], out.calls[bins == b]
        correct.append(c.mean(axis=1))
        calls.append(k.mean(axis=1))
    return np.array(correct), np.array(calls)


def _interp_curve(correct, calls, at):
    xs, ys = calls.mean(axis=1), correct.mean(axis=1)
    order = np.argsort(xs, kind="stable")
    if at > xs.max() + 1e-9 or at < xs.min() - 1e-9:
        return None
    return float(np.interp(at, xs[order], ys[order]))


def versus_curve(batch_correct, batch_calls, curve, n_boot, seed) -> dict:
    """The batch's accuracy minus the router's at the batch's mean calls (its curve over price
    interpolated), with a bootstrap interval over questions; beyond the router's reach (it
    spends less even at price 0) the difference is to the router's most."""
    correct, calls = curve
    n = len(batch_correct)

    def diff(idx):
        xs = calls[:, idx].mean(axis=1)
        at = float(np.clip(batch_calls[idx].mean(), xs.min(), xs.max()))
        router = _interp_curve(correct[:, idx], calls[:, idx], at)
        return float(batch_correct[idx].mean()) - router, router

    point, router = diff(np.arange(n))
    rng = np.random.default_rng(seed)
    boots = [diff(rng.integers(0, n, n))[0] for _ in range(n_boot)]
    return {
        "router_at_calls": round(router, 4),
        "router_max_calls": round(float(calls.mean(axis=1).max()), 3),
        "gain": round(point, 4),
        "ci": [round(float(np.percentile(boots, 2.5)), 4),
               round(float(np.percentile(boots, 97.5)), 4)],
    }  # fmt: skip


def paired(diff, n_boot, seed) -> dict:
    """A mean paired difference over questions, with a bootstrap interval."""
    rng = np.random.default_rng(seed)
    n = len(diff)
    boots = [float(diff[rng.integers(0, n, n)].mean()) for _ in range(n_boot)]
    return {"gain": round(float(diff.mean()), 4),
            "ci": [round(float(np.percentile(boots, 2.5)), 4),
                   round(float(np.percentile(boots, 97.5)), 4)]}  # fmt: skip


def pooled_rows(table, policy, budget, fit_table, width, n_boot, seed, refit="probes") -> dict:
    """Batch allocation with and without the batch's own prior against the router (``policy``
    replayed on ``table``): at the router's spend on each order (equal calls, paired on the
    same orders) and with the whole budget B x questions, there against the router at the
    batch's calls (its curve over price) and at its own price (the same total budget)."""
    routed = replay_policy_outcome(table, policy, budget)
    priors = [policy.question_prior(p.question) for p in table.problems]
    own = policy.meta.get("difficulty_prior") is not None
    reference, own_ref, ref_label = router_batch(policy, budget, fit_table, width)
    own_ref = own_ref and own
    curve = router_curve(table, policy, budget, routed)
    totals = router_totals(table, policy, budget)
    out = {
        "budget": budget, "router_accuracy": round(float(routed.correct.mean()), 4),
        "router_calls": round(float(routed.calls.mean()), 3), "reference": ref_label,
        "curve": None if curve is None else {
            "calls": [round(float(c), 3) for c in curve[1].mean(axis=1)],
            "accuracy": [round(float(a), 4) for a in curve[0].mean(axis=1)],
        },
        "rows": {},
    }  # fmt: skip
    spend_all = dataclasses.replace(reference, min_gain=0.0)
    pooled = dataclasses.replace(spend_all, pooled=POOL_STRENGTH, refit=refit)
    variants = [
        ("spend all, router's spend", spend_all, False),
        ("pooled, router's spend", pooled, False),
        ("spend all, all of B", spend_all, True),
        ("pooled, all of B", pooled, True),
    ]
    if reference.slope != 0.0:  # the batch's confidence scale too (gains and evidence vote)
        evidence = dataclasses.replace(pooled, pool_evidence=True)
        variants += [
            ("pooled+evidence, router's", evidence, False),
            ("pooled+evidence, all of B", evidence, True),
        ]
    for label, allocation, whole in variants:
        mean = float(min(budget, width)) if whole else float(routed.calls.mean())
        allocation = dataclasses.replace(allocation, budget=max(mean, allocation.start))
        batch = replay_batch(table, allocation, priors=priors if own_ref else None,
                             totals=None if whole else totals)  # fmt: skip
        correct, calls = batch.correct.mean(axis=1), batch.calls.mean(axis=1)
        row = {"accuracy": round(float(correct.mean()), 4),
               "calls": round(float(calls.mean()), 3),
               "vs_router_same_orders": paired(correct - routed.correct, n_boot, seed)}  # fmt: skip
        if curve is not None:
            row["vs_router_equal_calls"] = versus_curve(correct, calls, curve, n_boot, seed)
        out["rows"][label] = row
    return out


def evaluate_shift(name, pool_a, pool_b, orders, n_boot, budgets, seed=0, refit="probes") -> dict:
    """The router (and the batch's reference) fitted on pool A's fitting half, run with the
    batch on pool B's held-out half: a batch drawn from another mix than the policy's."""
    started = time.time()
    fit_ids, _ = split_problems(pool_a, 0.5, seed=seed)
    _, held_ids = split_problems(pool_b, 0.5, seed=seed)
    fit, held = pool_a.subset(fit_ids), pool_b.subset(held_ids)
    width = min(fit.n_min, held.n_min)
    fit_table = ReplayTable(fit.problems, probes=PROBES, n_orders=orders, seed=seed)
    table = ReplayTable(held.problems, probes=PROBES, n_orders=orders, seed=seed)
    calibration = calibrate(
        fit, list(budgets), probes=PROBES, n_orders=orders, seed=seed, objective="equal_calls"
    )
    rows = []
    for budget in budgets:
        row = pooled_rows(table, calibration.policy, budget, fit_table, width, n_boot, seed, refit)
        row["plan"] = _describe(calibration.policy.spec(1, budget))
        rows.append(row)
    return {"pool": name, "questions": {"fit": len(fit_ids), "held_out": len(held_ids)},
            "pooled": rows, "seconds": round(time.time() - started, 1)}  # fmt: skip


def evaluate(
    name: str,
    pool: PoolSamples,
    orders: int,
    n_boot: int,
    seed: int = 0,
    budgets: tuple[int, ...] = BUDGETS,
    refit: str = "probes",
) -> dict:
    started = time.time()
    width = pool.n_min
    caps = tuple(c for c in CAPS if c <= width)
    fit_ids, held_ids = split_problems(pool, 0.5, seed=seed)
    fit, held = pool.subset(fit_ids), pool.subset(held_ids)
    confident = pool.all_have("confidences")
    names = ["majority"] + (
        ["confidence_weighted", "deepconf_low", "deepconf_high"] if confident else []
    )
    fit_table = ReplayTable(fit.problems, probes=PROBES, n_orders=orders, seed=seed)
    table = ReplayTable(held.problems, probes=PROBES, n_orders=orders, seed=seed)
    # Uniform curves and the oracle from many orders: each question's own curve must not be
    # noise the oracle can pick from.
    many = ReplayTable(held.problems, probes=PROBES, n_orders=ORACLE_ORDERS, seed=seed)
    fit_runs, runs = fixed_runs(fit_table, names), fixed_runs(many, names)
    prior = accuracy_prior(fit.problems)
    slope, center = fit_evidence(fit.problems) if confident else (0.0, 0.0)
    predictor = DifficultyPrior.fit(fit.problems, tasks=["mix"] * len(fit.problems))
    calibration = calibrate(
        fit, list(budgets), probes=PROBES, n_orders=orders, seed=seed, objective="equal_calls"
    )
    comparison = compare_policy(held, calibration.policy, budgets=list(budgets),
                                n_orders=ORACLE_ORDERS, n_boot=n_boot, seed=seed)  # fmt: skip
    ac = method_curve(lambda n: table.stopped(BayesianStop(0.95), "majority", n), caps)
    dc = None
    if confident:
        dc = method_curve(
            lambda n: table.deepconf_online(n, warmup=min(8, n), eta=10.0, tau=0.95), caps
        )
    # The evidence vote the router may use, fitted on the fitting half, used uniformly: not one
    # of the library's fixed methods (so not in the uniform column), reported beside it.
    evidence = evidence_vote(fit_table) if confident else None
    evidence_curve = None
    if evidence is not None:
        prefix = many.prefix(evidence)
        evidence_curve = (prefix.calls.mean(axis=(0, 1)), prefix.correct.mean(axis=(0, 1)))
    router_outcomes = {b: replay_policy_outcome(table, calibration.policy, b) for b in budgets}
    # Batch allocation reads each question's zero-probe prior (the predictor fitted on the
    # fitting half; there cross-fitted, so no question's prior has seen its own accuracy).
    held_priors = [predictor.prior_for(p.question) for p in held.problems]
    fit_priors = question_priors_of(fit.problems, 2, seed)
    # The router's own per-question priors on the held-out questions (its policy's predictor).
    router_priors = (
        [calibration.policy.question_prior(p.question) for p in held.problems]
        if calibration.policy.meta.get("difficulty_prior")
        else held_priors
    )
    future = evidence_profile(fit.problems, slope, center) if confident else None
    rows = []
    for budget, router_row in zip(budgets, comparison.adaptive, strict=True):
        router_row["ac"] = interpolate(ac, router_row["router_calls"])
        router_row["deepconf"] = None if dc is None else interpolate(dc, router_row["router_calls"])
        router_row["uniform_evidence"] = (
            None
            if evidence_curve is None
            else interpolate(evidence_curve, router_row["router_calls"])
        )
        router_row["plan"] = _describe(calibration.policy.spec(1, budget))
        # Batch allocation at the router's own total (its mean calls x questions), on the same
        # orders: fitted on the fitting half (fit_batch) from the batch that reproduces the
        # router's own stops, vote and priors; another candidate replaces it only where it is
        # more accurate there by more than the noise (never chosen on the held-out questions).
        routed = router_outcomes[budget]
        spent = float(routed.calls.mean())
        # Each order is one run of the batch: the batch gets what the router spent on it.
        totals = router_totals(table, calibration.policy, budget)
        fit_totals = router_totals(fit_table, calibration.policy, budget)
        reference, own_ref, ref_label = router_batch(calibration.policy, budget, fit_table, width)
        candidates = batch_candidates(
            reference, width=width, own_priors=own_ref, priors=fit_priors is not None,
            future=future, caps=(2 * reference.cap, width),
        )  # fmt: skip
        fitted = fit_batch(fit_table, budget, candidates, priors=fit_priors, totals=fit_totals)
        own_b = fitted.own_priors
        router_row["batch_fit"] = list(fitted.rows)
        router_row["batch"] = {}
        # At the router's spend (equal calls), and at the whole budget the router was given
        # (B x questions: it may leave some unspent, the batch spends it all).
        for label, mean in (
            (f"fitted ({fitted.label})", spent),
            (ref_label, spent),
            (f"all of B, fitted ({fitted.label})", float(min(budget, width))),
        ):  # fmt: skip
            chosen = reference if label == ref_label else fitted.allocation
            own = own_ref if label == ref_label else own_b
            allocation = dataclasses.replace(chosen, budget=max(mean, chosen.start))
            if label.startswith("all of B"):  # the whole budget: no price leaves it unspent
                allocation = dataclasses.replace(allocation, min_gain=0.0)
            batch = replay_batch(
                table,
                allocation,
                priors=router_priors if own else None,
                totals=None if label.startswith("all of B") else totals,
            )
            (brow,) = equal_calls_rows({budget: per_question(batch)}, runs, n_boot=n_boot,
                                       seed=seed)  # fmt: skip
            brow["router_same_orders"] = round(float(routed.correct.mean()), 4)
            brow["router_calls_same_orders"] = round(spent, 3)
            router_row["batch"][label] = brow
        entry = {"budget": budget, "router": router_row}
        entry["pooled"] = pooled_rows(table, calibration.policy, budget, fit_table, width,
                                      n_boot, seed, refit)  # fmt: skip
        for label, start, pq in (
            ("posterior", 2, None),
            ("posterior+prior", 1, predictor.prior_for),
        ):
            cost, aggregator = choose_cost(fit_table, fit_runs, budget, start, prior, slope,
                                           center, names, pq)  # fmt: skip
            rules = rules_for(held.problems, budget, cost, start, prior, slope, center, pq)
            replay = per_question(replay_stops(table, rules, aggregator))
            (row,) = equal_calls_rows({budget: replay}, runs, n_boot=n_boot, seed=seed)
            row["cost"], row["vote"] = cost, aggregator
            row["ac"] = interpolate(ac, row["router_calls"])
            row["deepconf"] = None if dc is None else interpolate(dc, row["router_calls"])
            allocation = BatchAllocation(
                budget=max(row["router_calls"], start), start=start, chunk=2, cap=width,
                prior=prior, slope=slope, center=center,
            )  # fmt: skip
            priors = None if pq is None else [pq(p.question) for p in held.problems]
            batch = replay_batch(table, allocation, priors=priors, orders=range(min(orders, 4)))
            (brow,) = equal_calls_rows({budget: per_question(batch)}, runs, n_boot=n_boot,
                                       seed=seed)  # fmt: skip
            row["batch"] = brow
            entry[label] = row
        rows.append(entry)
    return {
        "pool": name,
        "questions": {"fit": len(fit_ids), "held_out": len(held_ids)},
        "evidence": {"slope": slope, "center": center},
        "rows": rows,
        "calibration_cv": calibration.cross_validation,
        "seconds": round(time.time() - started, 1),
    }


def _f(value, spec=".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_tables(results: list[dict]) -> None:
    for result in results:
        print(f"\n== pool {result['pool']}: {result['questions']['held_out']} held-out questions "
              f"({result['seconds']} s) ==")  # fmt: skip
        print("method            B   calls  acc    best uniform         oracle  share [95% CI]"
              "            AC@calls DeepConf@calls evidence-vote@calls")  # fmt: skip
        for entry in result["rows"]:
            r = entry["router"]
            print(f"calibrated router {entry['budget']:>2}  {r['router_calls']:>5.2f}  "
                  f"{r['router_accuracy']:.3f}  {_f(r['best_uniform_accuracy'])} "
                  f"{str(r['best_uniform']):<14}  {r['oracle_accuracy']:.3f}  "
                  f"{_f(r['oracle_share'], '.2f')} {r['oracle_share_ci']}  "
                  f"{_f(r['ac']):>8}  {_f(r['deepconf']):>12}  "
                  f"{_f(r.get('uniform_evidence')):>10}")  # fmt: skip
            for label in ("posterior", "posterior+prior"):
                p = entry[label]
                print(f"{label:<17} {entry['budget']:>2}  {p['router_calls']:>5.2f}  "
                      f"{p['router_accuracy']:.3f}  {_f(p['best_uniform_accuracy'])} "
                      f"{str(p['best_uniform']):<14}  {p['oracle_accuracy']:.3f}  "
                      f"{_f(p['oracle_share'], '.2f')} {p['oracle_share_ci']}  "
                      f"{_f(p['ac']):>8}  {_f(p['deepconf']):>12}")  # fmt: skip
        print("batch vs per-question routing at the same total (the router's calls x questions, "
              "same orders):")  # fmt: skip
        for entry in result["rows"]:
            for label, b in entry["router"]["batch"].items():
                print(f"  B={entry['budget']:>2} batch {label}: {b['router_calls']:.2f} calls, "
                      f"acc {b['router_accuracy']:.4f} vs router {b['router_same_orders']:.4f} "
                      f"({b['router_calls_same_orders']:.2f} calls); best uniform "
                      f"{_f(b['best_uniform_accuracy'])}, oracle {_f(b['oracle_accuracy'])}, share "
                      f"{_f(b['oracle_share'], '.2f')} {b['oracle_share_ci']}")  # fmt: skip
        for entry in result["rows"]:
            fits = ", ".join(f"{r['label']} {r['accuracy']:.4f} ({r['gain']:+.4f} +- {r['se']:.4f})"
                             + (" *" if r["chosen"] else "")
                             for r in entry["router"].get("batch_fit", []))  # fmt: skip
            print(f"  batch fit B={entry['budget']} (fitting half, * chosen): {fits}")
        for row in result["calibration_cv"]:
            print(f"  cv B={row['budget']}: {row.get('chosen')}, price {row.get('price')}, "
                  f"gain {row.get('cv_gain')}, inherits {row.get('inherits', '-')}, "
                  f"plans alike across folds {row.get('plan_stability')}")  # fmt: skip
        for entry in result["rows"]:
            print(f"  plan B={entry['budget']}: {entry['router']['plan']}")


def print_pooled(results: list[dict]) -> None:
    for result in results:
        entries = result.get("pooled") or [e["pooled"] for e in result.get("rows", [])]
        if not entries:
            continue
        print(f"\n== batch with the batch's own prior vs the router: {result['pool']} "
              f"({result['questions']['held_out']} held-out questions) ==")  # fmt: skip
        print(
            "  B  router acc@calls  | batch row                    acc    calls  vs router "
            "same orders [95% CI]     vs router at equal calls [95% CI] (router there)"
        )
        for e in entries:
            head = f"{e['budget']:>3}  {e['router_accuracy']:.4f} @ {e['router_calls']:>5.2f}"
            for label, r in e["rows"].items():
                same = r["vs_router_same_orders"]
                eq = r.get("vs_router_equal_calls")
                eq_text = "-" if eq is None else (
                    f"{eq['gain']:+.4f} [{eq['ci'][0]:+.4f}, {eq['ci'][1]:+.4f}] "
                    f"({eq['router_at_calls']:.4f}; router's most {eq['router_max_calls']:.2f})"
                )  # fmt: skip
                print(f"{head}  | {label:<27} {r['accuracy']:.4f} {r['calls']:>6.2f}  "
                      f"{same['gain']:+.4f} [{same['ci'][0]:+.4f}, {same['ci'][1]:+.4f}]   "
                      f"{eq_text}")  # fmt: skip
                head = " " * len(head)
            if e.get("plan"):
                print(f"       plan: {e['plan']}")


# Shifted mixes: the policy is fitted on one, the batch drawn from another.
SHIFTED_BANDS = {
    "easy": (0.15, 0.75, 0.98),
    "middle": (0.2, 0.3, 0.7),
    "hard": (0.25, 0.08, 0.3),
    "hopeless": (0.4, 0.0, 0.04),
}


def shift_pairs(n: int) -> list[tuple[str, PoolSamples, PoolSamples, tuple[int, ...]]]:
    """(name, pool the policy is fitted on, pool the batch comes from, budgets)."""
    answers = banded_pool(n, 64, seed=1)
    shifted = banded_pool(n, 64, seed=3, bands=SHIFTED_BANDS, popular_share=0.6)
    confidence = banded_pool(n, 64, seed=2, confidence_auroc=0.74)
    embedded = load_embedded()
    return [
        ("answers -> more hopeless, more popular wrong", answers, shifted, BUDGETS),
        ("more hopeless, more popular wrong -> answers", shifted, answers, BUDGETS),
        ("answers -> embedded capitals", answers, embedded, (4, 8, 16)),
        ("confidence -> embedded capitals", confidence, embedded, (4, 8, 16)),
    ]


# The middle-band embedded pool: capitals of well- and less-known countries, where Gemma 3 270M
# (the embedded base model) is neither always right nor hopeless (a probe of 6 samples on 94
# questions of five kinds: capitals 0.62 mean single-sample accuracy; opposites, plurals and
# next letters about 0.03, so they are left out). All 70 capitals are kept, none chosen by
# its outcome.
DATA = Path(__file__).parent / "data"
CAPITALS = DATA / "capitals.jsonl"
EMBEDDED_POOL = DATA / "capitals_pool.jsonl"


def build_embedded(out: Path, samples: int) -> Path:
    """Draw (resumably) ``samples`` samples per capital question with the embedded model, with
    confidences (as benchmarks/confidence_methods.py); the generic few-shot prompt."""
    from langgraph_ttc.backends import SamplingParams
    from langgraph_ttc.backends.embedded import EmbeddedBackend
    from langgraph_ttc.confidence import ConfidenceSpec
    from langgraph_ttc.prompts import GENERIC_EXEMPLARS
    from langgraph_ttc.scaling import build_pool
    from langgraph_ttc.tasks.base import Exemplar
    from langgraph_ttc.tasks.jsonl import JsonlTask

    task = JsonlTask(
        str(CAPITALS.relative_to(Path.cwd()) if CAPITALS.is_relative_to(Path.cwd()) else CAPITALS),
        exemplars=[Exemplar(q, a) for q, a in GENERIC_EXEMPLARS],
    )
    path = out / "pools" / "capitals" / "pool.sqlite"
    began = time.time()
    build_pool(
        task,
        EmbeddedBackend.default(),
        path,
        k_max=samples,
        params=SamplingParams(temperature=0.7, top_p=0.95, max_tokens=24),
        seed=0,
        confidence=ConfidenceSpec(measure="lowest_group", window=6, top_k=20),
        progress=False,
    )
    print(f"pool capitals: {time.time() - began:.0f} s", flush=True)
    return path


def export_pool(path: Path, target: Path = EMBEDDED_POOL) -> None:
    """The pool's samples as a small JSONL data file (one question a line), so the numbers
    can be rerun without the model."""
    from langgraph_ttc.scaling.pool import load_pool

    pool = load_pool(path)
    with target.open("w") as f:
        f.write(json.dumps({"meta": {k: pool.meta.get(k) for k in
                                     ("model_id", "params", "seed", "confidence", "task")}})
                + "\n")  # fmt: skip
        for p in pool.problems:
            f.write(json.dumps({
                "id": p.problem_id, "question": p.question, "reference": p.reference,
                "answers": list(p.answers), "correct": p.correct.tolist(),
                "confidences": [None if np.isnan(c) else round(float(c), 4)
                                for c in p.confidences],
                "completion_tokens": p.completion_tokens.tolist(),
                "traces": [_rounded(t) for t in p.traces],
            }) + "\n")  # fmt: skip
    print(f"wrote {target}")


def _rounded(value):
    """Floats to 4 decimals, inside dicts and lists (a smaller data file)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def load_embedded(path: Path = EMBEDDED_POOL) -> PoolSamples:
    """The exported embedded pool (see :func:`export_pool`)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta, rows = lines[0]["meta"], lines[1:]
    problems = tuple(
        ProblemSamples.from_lists(
            f"capitals/{r['id']}",
            r["answers"],
            r["correct"],
            confidences=r["confidences"],
            completion_tokens=r["completion_tokens"],
            traces=r["traces"],
            question=r["question"],
            reference=r["reference"],
        )  # fmt: skip
        for r in rows
    )
    return PoolSamples(meta, problems)


def pool_size(text: str) -> int:
    """An argparse type: a synthetic pool's size, at least 4 (the router's fit cross-validates
    on the half it is fitted on)."""
    return whole_number_at_least(text, 4)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/router_allocation")
    parser.add_argument("--quick", action="store_true", help="60 questions, 4 orders")
    parser.add_argument("--orders", type=int, default=8)
    parser.add_argument(
        "--questions", type=pool_size, default=120,
        help="questions in each synthetic pool, at least 4 (half fitted on, half held out)",
    )  # fmt: skip
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument(
        "--pools", default="answers,confidence",
        help="the synthetic pools to run (comma-separated: answers, confidence)",
    )  # fmt: skip
    parser.add_argument(
        "--embedded", action="store_true",
        help=f"the middle-band embedded pool (Gemma 3 270M), from {EMBEDDED_POOL.name}",
    )  # fmt: skip
    parser.add_argument("--samples", type=int, default=16, help="embedded samples per problem")
    parser.add_argument(
        "--build", action="store_true",
        help=f"draw the embedded pool (resumable) and export it to {EMBEDDED_POOL.name}",
    )  # fmt: skip
    parser.add_argument(
        "--shift", action="store_true",
        help="policies fitted on one mix, batches drawn from another (the pooled-prior rows)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the fit/held-out split and orders")
    parser.add_argument(
        "--only", default="", help="with --shift: run the pairs whose name has this"
    )
    parser.add_argument(
        "--refit", default="probes", choices=("probes", "rounds"),
        help="the batch's own prior: fitted on the probes, or refitted every round",
    )  # fmt: skip
    args = parser.parse_args(argv)
    orders = 4 if args.quick else args.orders
    questions = 60 if args.quick else args.questions
    if args.build:
        path = build_embedded(Path(args.out), args.samples)
        export_pool(path)
        return []
    if args.shift:
        results = [
            evaluate_shift(
                name, a, b, orders, args.n_boot, budgets, seed=args.seed, refit=args.refit
            )  # fmt: skip
            for name, a, b, budgets in shift_pairs(questions)
            if args.only in name
        ]
        print_pooled(results)
        return write_results(results, Path(args.out) / "shift.json")
    if args.embedded:
        pool = load_embedded()
        accuracy = [float(p.correct.mean()) for p in pool.problems]
        print(f"single-sample accuracy: mean {np.mean(accuracy):.3f}, questions in 0.2-0.8: "
              f"{sum(0.2 <= a <= 0.8 for a in accuracy)} of {len(accuracy)}")  # fmt: skip
        results = [evaluate("embedded", pool, orders, args.n_boot, budgets=(4, 8, 16),
                            seed=args.seed, refit=args.refit)]  # fmt: skip
    else:
        chosen = [name.strip() for name in args.pools.split(",") if name.strip()]
        results = [
            evaluate(name, pool, orders, args.n_boot, seed=args.seed, refit=args.refit)
            for name, pool in pools(questions).items()
            if name in chosen
        ]
    print_tables(results)
    print_pooled(results)
    return write_results(results, Path(args.out) / "results.json")


def write_results(results: list, path: Path) -> list:
    """Write the results as JSON to ``path`` (its folder made) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
