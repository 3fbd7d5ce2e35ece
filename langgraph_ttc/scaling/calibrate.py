"""Fit a routing policy from sample pools (Snell et al. 2024, sec. 3 and 5.3).

What the router sees at run time is what it is fitted on: the statistic of ``probes`` samples
(answer agreement, or their mean verifier score), never the reference answer. Runs are replayed
from the pools (:mod:`~langgraph_ttc.scaling.replay`); each run's probes put it in one of up to 5
quantile bins of that statistic. For each (bin, budget) the policy keeps the plan with the best
accuracy on the runs of that bin whose worst case fits the budget: stop now (answer from the
probes), or majority / filter-vote / best-of-N / weighted best-of-N at some total width, or a
sequential majority that stops once the vote is clear (adaptive consistency). Probes
count against the budget. Among plans within ``tolerance`` of the best, the cheapest wins, so a
bin that gains nothing from more calls spends less there.

Choosing the best of many plans on the same runs flatters them; as in the paper, the accuracy
reported for the fitting procedure is cross-validated: fold by fold over problems, the policy is
fitted on the other folds (bin edges included) and replayed on the held-out fold.

Plans fitted per bin on a dozen questions overfit. So per-bin plans must earn their keep in
cross-validation: the number of bins (fewer when questions are few) and a margin a bin's own
plan must beat the single best plan by (shrinkage toward the global plan) are chosen by
cross-validated accuracy, budget by budget one plan for all bins wins where per-bin plans do
not pay out of sample, and how often the folds pick the same plans is reported. Every budget
gets the best vote the pool supports, also below the probes' cost (where the router answers
from the samples it can pay for) and for the "stop" plan. Plans include the multi-stage
posterior stop (:class:`~langgraph_ttc.stopping.PosteriorStop`: stop, continue or give up by
the expected gain of more samples), at several prices and at every horizon up to the budget;
its prior either the fitting questions' accuracies or, with question texts, each question's own
zero-probe prior (:class:`~langgraph_ttc.scaling.prior.DifficultyPrior`, cross-fitted so that no
question's prior has seen its own accuracy; the policy stores the predictor for the route
node), and its confidence evidence fitted on their samples. With confidences the evidence vote
(:class:`~langgraph_ttc.aggregators.confidence.EvidenceVote`, counts plus that evidence) is a
candidate vote. For ``objective="equal_calls"`` per-bin plans must beat one plan's
cross-validated gain over uniform voting at equal calls, and a larger budget keeps a smaller
one's plans where those gained more.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from langgraph_ttc.aggregators import EvidenceVote, get_aggregator, replayable
from langgraph_ttc.difficulty import N_BINS, bin_of
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling.pool import load_pool
from langgraph_ttc.scaling.prior import DifficultyPrior, accuracy_prior, fit_evidence
from langgraph_ttc.scaling.replay import ReplayTable, replay_policy, worst_case_calls
from langgraph_ttc.scaling.samples import PoolSamples
from langgraph_ttc.stopping import AgreementAtLeast, PosteriorStop, StopRule

logger = logging.getLogger(__name__)

__all__ = ["Calibration", "calibrate", "load_pools", "split_problems"]

DEFAULT_BUDGETS = (1, 2, 4, 8, 16, 32)
# Sequential majority plans (adaptive consistency): stop once the leading answer holds this
# share of the samples drawn, drawing this many at a time.
STOP_AT = (0.5, 0.6, 0.7, 0.8, 1.0)
# The sequential majorities searched by default: stop once this share of the drawn samples
# agrees. Any registered stop rule can be searched instead (``calibrate(stop_rules=...)``,
# ``--stop-rule`` on the command line): the replay evaluates each by its ``prefix_mask``.
DEFAULT_STOP_RULES: tuple[StopRule, ...] = tuple(AgreementAtLeast(s) for s in STOP_AT)


def stop_rules_of(table) -> tuple[StopRule, ...]:
    """The stop rules a table's calibration searches (its own, else the default grid)."""
    return tuple(getattr(table, "stop_rules", None) or DEFAULT_STOP_RULES)


STEPS = (1, 2, 4)
MIN_RUNS_PER_CELL = 8  # fewer runs than this in a bin: use the plan fitted on all runs
# Posterior stops (multi-stage allocation): prices per extra sample, checked every STEP samples.
POSTERIOR_COSTS = (0.002, 0.004, 0.007, 0.01, 0.015, 0.02, 0.03, 0.05)
POSTERIOR_STEP = 2  # posterior plans need room for one step after the probes
POSTERIOR_HORIZONS = (4, 8, 16, 32, 64)
# Shrinkage toward the single best plan: a bin's own plan must beat it by this much in-sample,
# and the number of bins, both chosen by cross-validation.
MARGINS = (0.0, 0.02, 0.05)
BIN_COUNTS = (2, 3, 5)
MIN_PROBLEMS_PER_BIN = 8


@dataclass(frozen=True)
class Calibration:
    """A fitted policy, the evidence behind each cell, and its cross-validated accuracy."""

    policy: Policy
    cells: list[dict] = field(default_factory=list)
    cross_validation: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_pools(paths: Sequence[str | Path]) -> PoolSamples:
    """Several pools as one (a task mix): problem ids get their pool's name as a prefix.

    All pools must come from the same model; a policy is fitted for one model.
    """
    problems, sources, models, specs = [], [], set(), set()
    for path in paths:
        pool = load_pool(path)
        path = Path(path)
        label = path.parent.name if path.name == "pool.sqlite" else path.stem
        models.add(pool.meta.get("model_id"))
        specs.add(json.dumps(pool.meta.get("confidence"), sort_keys=True))
        sources.append({"pool": str(path), "task": pool.meta.get("task"), "label": label})
        problems += [
            dataclasses.replace(p, problem_id=f"{label}/{p.problem_id}") for p in pool.problems
        ]
    if len(models) > 1:
        raise TTCConfigError(
            f"These pools come from different models {sorted(map(str, models))}; fit one "
            "policy per model."
        )
    meta = {"model": models.pop() if models else None, "pools": sources}
    if len(specs) == 1:  # the confidence every pool measured, for a policy that reads it
        meta["confidence"] = json.loads(specs.pop())
    return PoolSamples(meta, tuple(problems))


def split_problems(pool: PoolSamples, holdout: float, seed: int = 0) -> tuple[list, list]:
    """(fit ids, held-out ids): a seeded split within each pool of the mix, so every task and
    difficulty setting is on both sides.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> probs = tuple(ProblemSamples.from_lists(f"a/{i}", ["1"], [1]) for i in range(4))
        >>> [len(s) for s in split_problems(PoolSamples({}, probs), 0.5)]
        [2, 2]
    """
    if not 0.0 <= holdout < 1.0:
        raise TTCConfigError(f"holdout must be in [0, 1); got {holdout}.")
    groups: dict[str, list[str]] = {}
    for pid in pool.problem_ids:
        groups.setdefault(pid.split("/")[0], []).append(pid)
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for ids in groups.values():
        shuffled = [ids[i] for i in rng.permutation(len(ids))]
        cut = int(round(len(ids) * holdout))
        held += shuffled[:cut]
        fit += shuffled[cut:]
    return fit, held


def quantile_edges(values: np.ndarray, n_bins: int = N_BINS) -> tuple[float, ...]:
    """Descending lower edges of bins 1..n_bins-1 at equal-count quantiles (bin 1 easiest).

    Ties collapse edges, so a discrete statistic (agreement of 4 probes has 5 values) gets at
    most one bin per value.

    Example:
        >>> quantile_edges(np.array([1.0, 1.0, 0.75, 0.5, 0.5, 0.25, 0.0, 0.0, 0.0, 0.0]))
        (1.0, 0.5, 0.25)
    """
    qs = np.quantile(values, [1 - j / n_bins for j in range(1, n_bins)], method="higher")
    edges = sorted({float(q) for q in qs if q > values.min()}, reverse=True)
    distinct = np.unique(values)
    if not edges and n_bins > 1 and len(distinct) > 1:
        # Ties swallowed every quantile (most runs at the lowest value): split where the two
        # sides are most even.
        shares = [(values >= v).mean() for v in distinct[1:]]
        edges = [float(distinct[1:][int(np.argmin(np.abs(np.array(shares) - 0.5)))])]
    return tuple(edges)


def candidate_specs(budget: int, table: ReplayTable) -> list[PlanSpec]:
    """Every plan worth trying at ``budget``: stop (majority of the probes), and each aggregator
    the pool can replay at each total width from the probes alone up to the pool's width, whose
    worst case fits; plus sequential majorities (adaptive consistency) up to each width."""
    probes = table.probes
    has = {
        "verdicts": bool(np.isfinite(table.verdicts).any(axis=(1, 2)).all()),
        "scores": bool(np.isfinite(table.scores_of(table.score_source)).any(axis=(1, 2)).all()),
        "confidences": bool(np.isfinite(table.confidences).any(axis=(1, 2)).all()),
    }
    # Votes a pool can replay (methods that call the model to aggregate cannot), whose needs
    # the pool holds.
    aggregators = [
        name
        for name in replayable()[0]
        if all(has.get(need, False) for need in get_aggregator(name).needs)
    ]
    evidence = evidence_vote(table)
    if evidence is not None:
        aggregators.append(evidence)
    verify_calls = table.verify_calls_per_sample
    votes = [a for a in aggregators if get_aggregator(a).needs <= {"confidences"}]
    specs = [PlanSpec(stop=True, aggregator=a) for a in votes]  # majority first
    for aggregator in aggregators:
        first = probes + 1 if aggregator == "majority" else probes  # majority of probes = stop
        for width in range(first, table.width + 1):
            spec = PlanSpec(width=width, aggregator=aggregator)
            if worst_case_calls(spec, probes, verify_calls, table.statistic) <= budget:
                specs.append(spec)
                if aggregator == "majority" and width > probes + 1:
                    specs += [
                        PlanSpec(width=width, stop_rule=rule, step=step)
                        for rule in stop_rules_of(table)
                        for step in STEPS
                    ]
    width = min(budget, table.width)
    # Horizons: the budget's own and every smaller power of two with room for a step after
    # the probes, so a larger budget can do whatever a smaller one does.
    horizons = sorted({width} | {h for h in POSTERIOR_HORIZONS if h < width})
    horizons = [h for h in horizons if h >= probes + POSTERIOR_STEP]
    if horizons:
        prior, slope, center = posterior_settings(table)
        # With question texts, also each question's own zero-probe prior (cross-fitted: see
        # question_priors).
        sources = (False, True) if getattr(table, "question_priors", None) is not None else (False,)
        for horizon in horizons:
            for cost in POSTERIOR_COSTS:
                for own in sources:
                    rule = PosteriorStop(cost, horizon, probes, POSTERIOR_STEP, prior, slope,
                                         center, question_prior=own)  # fmt: skip
                    specs += [
                        PlanSpec(width=horizon, aggregator=a, stop_rule=rule, step=POSTERIOR_STEP)
                        for a in votes
                    ]
    return specs


def question_priors(problems, folds: int, seed: int) -> list[tuple[float, ...]] | None:
    """Each problem's zero-probe prior from a :class:`~langgraph_ttc.scaling.prior.DifficultyPrior`
    fitted without the problem's cross-validation fold (the folds of :func:`cross_validate`),
    so neither the plans' choice nor their cross-validated accuracy sees a question's own
    accuracy in its prior; ``None`` when the problems carry no question text or are too few."""
    n = len(problems)
    if n < 2 * folds or any(not p.question for p in problems):
        return None
    fold_of = np.random.default_rng(seed).permutation(n) % folds
    priors: list = [None] * n
    for fold in range(folds):
        train = [problems[i] for i in np.flatnonzero(fold_of != fold)]
        predictor = DifficultyPrior.fit(train)
        for i in np.flatnonzero(fold_of == fold):
            priors[i] = predictor.prior_for(problems[i].question)
    return priors


def evidence_vote(table) -> str | None:
    """The name of the vote that adds each answer's confidence evidence to its count
    (:class:`~langgraph_ttc.aggregators.confidence.EvidenceVote`, the posterior's own ranking),
    fitted on the table's samples; ``None`` without confidences or evidence."""
    if not bool(np.isfinite(table.confidences).any(axis=(1, 2)).all()):
        return None
    _, slope, center = posterior_settings(table)
    return None if slope == 0.0 else EvidenceVote(slope, center).name


def posterior_settings(table: ReplayTable) -> tuple[tuple[float, ...], float, float]:
    """The posterior stop's prior (the table's questions' accuracies) and its confidence
    evidence (fitted on their samples; none without confidences)."""
    key = id(table)
    if _SETTINGS.get(key, (None,))[0] is not table:
        problems = table.problems
        has_confidence = bool(np.isfinite(table.confidences).any(axis=(1, 2)).all())
        evidence = fit_evidence(problems) if has_confidence else (0.0, 0.0)
        _SETTINGS.clear()
        _SETTINGS[key] = (table, (accuracy_prior(problems), *evidence))
    return _SETTINGS[key][1]


_SETTINGS: dict[int, tuple] = {}


def _choose(cell: np.ndarray, calls: np.ndarray, tolerance: float, price: float = 0.0) -> int:
    """Index of the cheapest plan within ``tolerance`` of the best accuracy, net of ``price``
    per call (0: plain accuracy)."""
    score = cell - price * calls
    good = np.flatnonzero(score >= score.max() - tolerance)
    return int(good[np.argmin(calls[good])])


def _price_of(price: float | Mapping[int, float], budget: int) -> float:
    return float(price.get(budget, 0.0)) if isinstance(price, Mapping) else float(price)


class Candidates:
    """Every plan worth trying at each budget (:func:`candidate_specs`), replayed on every run
    once, as rows of one matrix: fits on different problems (folds, one plan vs per bin) only
    sum its columns differently.

    A table whose budgets are tokens (``unit="tokens"``, the thinking axis) gives its own
    plans (``table.candidate_specs``) and its smallest budget (``table.probes_cost()``); the
    cost of a plan is then its generated tokens, where it is otherwise its calls."""

    def __init__(self, table, budgets: Sequence[int]) -> None:
        self.table = table
        self.unit = getattr(table, "unit", "calls")
        if self.unit == "tokens":
            floor, specs_for = table.probes_cost(), table.candidate_specs
        else:
            floor, specs_for = table.probes, lambda b: candidate_specs(b, table)
        self.specs = {b: specs_for(b) for b in sorted(budgets) if b >= floor}
        self.ids = {
            b: np.array([table.outcome_id(spec, b) for spec in specs])
            for b, specs in self.specs.items()
        }
        matrix = table.outcome_matrix(tokens=self.unit == "tokens")
        cost = matrix.tokens if self.unit == "tokens" else matrix.calls
        self.correct = matrix.correct.reshape(len(matrix.correct), table.n_problems, -1)
        self.calls = cost.reshape(len(cost), table.n_problems, -1)  # calls, or tokens

    def bin_means(self, rows: np.ndarray, bins: np.ndarray, n_bins: int):
        """Mean correctness and calls of every outcome over each bin's runs (runs of the
        problems ``rows``; ``bins`` their bin, 1-based), and the runs per bin."""
        members = np.zeros((len(rows), self.correct.shape[2], n_bins))
        np.put_along_axis(members, (bins - 1)[..., None], 1.0, axis=2)
        counts = members.sum(axis=(0, 1))
        scale = np.where(counts > 0, 1.0 / np.maximum(counts, 1), np.nan)
        correct = np.einsum("dpo,pob->db", self.correct[:, rows], members) * scale
        calls = np.einsum("dpo,pob->db", self.calls[:, rows], members) * scale
        return correct, calls, counts


def fit_policy(
    table: ReplayTable,
    budgets: Sequence[int],
    *,
    rows: np.ndarray | None = None,
    tolerance: float = 0.01,
    n_bins: int = N_BINS,
    pooled: bool = False,
    candidates: Candidates | None = None,
    margin: float = 0.0,
    price: float | Mapping[int, float] = 0.0,
) -> tuple[Policy, list[dict]]:
    """The policy that maximises replayed accuracy per (bin, budget) on the problems ``rows``
    (default all), and a row per cell. ``pooled``: one bin, so one plan per budget whatever the
    probes show. ``candidates``: the replayed plans, when several fits share them. ``margin``:
    how much a bin's own plan must beat the single best plan on that bin's runs to replace it
    (shrinkage toward the global plan). Budgets below the probes' cost get the vote (of the
    samples they can pay for) that does best on all runs. ``price``: accuracy a call must earn
    (per budget, or one for all), for policies fitted for accuracy at equal calls.

    Example:
        >>> from langgraph_ttc.scaling.synthetic import synthetic_pool
        >>> pool = synthetic_pool({"easy": 3}, k=8, critiques=False, scores=False)
        >>> fit_policy(ReplayTable(pool.problems, probes=4, n_orders=2), [8], pooled=True)[0].edges
        ()
    """
    rows = np.arange(table.n_problems) if rows is None else np.asarray(rows)
    if rows.size == 0:
        raise TTCConfigError("No problems to fit a policy on.")
    candidates = candidates or Candidates(table, budgets)
    cost = "tokens" if candidates.unit == "tokens" else "calls"
    statistics = table.statistics[rows]
    edges = () if pooled else quantile_edges(statistics.ravel(), n_bins)
    bins = np.vectorize(lambda v: bin_of(v, edges), otypes=[int])(statistics)
    n = len(edges) + 1
    by_bin, by_bin_calls, counts = candidates.bin_means(rows, bins, n)
    overall = candidates.bin_means(rows, np.ones_like(bins), 1)
    plans: dict[int, dict[int, PlanSpec]] = {b: {} for b in range(1, n + 1)}
    cells = []
    for budget in sorted(budgets):
        if budget not in candidates.specs:
            # Below the probes the router answers from what it can pay for: by the best vote.
            if candidates.unit == "calls":
                spec = _best_vote_below_probes(table, budget, rows)
                for b in plans:
                    plans[b][budget] = spec
            continue
        specs, ids = candidates.specs[budget], candidates.ids[budget]
        price_b = _price_of(price, budget)
        fallback = _choose(overall[0][ids, 0], overall[1][ids, 0], tolerance, price_b)
        majority_at_budget = ids[_majority_at(specs)]
        for b in plans:
            runs = int(counts[b - 1])
            choice = fallback
            if runs >= MIN_RUNS_PER_CELL:
                choice = _choose(by_bin[ids, b - 1], by_bin_calls[ids, b - 1], tolerance, price_b)
                if by_bin[ids[choice], b - 1] - by_bin[ids[fallback], b - 1] <= margin:
                    choice = fallback  # not enough better on this bin's runs: shrink
            plans[b][budget] = specs[choice]
            cells.append(
                {
                    "bin": b,
                    "budget": budget,
                    "runs": runs,
                    "plan": _describe(specs[choice]),
                    "accuracy": _mean(by_bin[ids[choice], b - 1], runs),
                    cost: _mean(by_bin_calls[ids[choice], b - 1], runs),
                    "majority_at_budget": _mean(by_bin[majority_at_budget, b - 1], runs),
                }
            )
    return Policy(edges=edges, plans=plans, statistic=table.statistic, unit=candidates.unit), cells


def _best_vote_below_probes(table, budget: int, rows: np.ndarray) -> PlanSpec:
    """The vote-only aggregator (no extra call) most accurate at ``budget`` samples on the
    runs of ``rows``; majority unless another is better."""
    best, spec = -1.0, PlanSpec(stop=True)
    evidence = evidence_vote(table)
    names = [*replayable()[0], *([evidence] if evidence else [])]
    for name in names:  # a method that calls the model to aggregate cannot replay
        aggregator = get_aggregator(name)
        if not aggregator.needs <= {"confidences"}:
            continue
        if "confidences" in aggregator.needs and not (
            np.isfinite(table.confidences).any(axis=(1, 2)).all()
        ):
            continue
        candidate = PlanSpec(stop=True, aggregator=name)
        accuracy = float(table.outcomes(candidate, budget).correct[rows].mean())
        if accuracy > best + 1e-9:
            best, spec = accuracy, candidate
    return spec


def _majority_at(specs: Sequence[PlanSpec]) -> int:
    """The widest fixed majority plan among ``specs`` (stop if none)."""
    fixed = [
        (s.width or 0, i)
        for i, s in enumerate(specs)
        if not s.stop and s.stop_rule is None and s.aggregator == "majority"
    ]
    return max(fixed)[1] if fixed else 0


def _mean(value: float, runs: int) -> float | None:
    return round(float(value), 4) if runs else None


def _describe(spec: PlanSpec) -> str:
    """One cell's plan in a few words.

    Example:
        >>> _describe(PlanSpec(width=4, thinking_budget=1024))
        'majority width=4 think<=1024'
    """
    thinks = "" if spec.thinking_budget is None else f" think<={spec.thinking_budget}"
    if spec.stop:
        return "stop"
    if spec.stop_rule is not None:
        return (
            f"{spec.aggregator} <={spec.width} until {spec.stop_rule.describe()} step {spec.step}"
            + thinks
        )
    return f"{spec.aggregator} width={spec.width}{thinks}"


def _prefer(first: tuple[float, float], second: tuple[float, float], tolerance: float) -> bool:
    """Whether (accuracy, calls) ``first`` wins: the cheaper of the two unless it is more than
    ``tolerance`` less accurate.

    Example:
        >>> _prefer((0.50, 6.0), (0.505, 8.0), 0.01), _prefer((0.40, 6.0), (0.5, 8.0), 0.01)
        (True, False)
    """
    best = max(first[0], second[0])
    if first[0] < best - tolerance:
        return False
    if second[0] < best - tolerance:
        return True
    return first[1] <= second[1]


def cross_validate(
    table: ReplayTable,
    budgets: Sequence[int],
    *,
    folds: int = 2,
    tolerance: float = 0.01,
    seed: int = 0,
    pooled: bool = False,
    candidates: Candidates | None = None,
    n_bins: int = N_BINS,
    margin: float = 0.0,
    fold_policies: list | None = None,
    price: float | Mapping[int, float] = 0.0,
) -> list[dict]:
    """Per budget: the accuracy and calls (tokens, for a token policy) of a policy fitted
    without the fold it is scored on (each fold's policy appended to ``fold_policies``)."""
    n = table.n_problems
    if folds < 2 or n < folds:
        raise TTCConfigError(f"Cross-validation needs 2 <= folds <= problems ({n}).")
    cost = "tokens" if getattr(table, "unit", "calls") == "tokens" else "calls"
    fold_of = np.random.default_rng(seed).permutation(n) % folds
    accuracy = {b: np.zeros(n) for b in budgets}
    calls = {b: np.zeros(n) for b in budgets}
    for fold in range(folds):
        train = np.flatnonzero(fold_of != fold)
        test = np.flatnonzero(fold_of == fold)
        policy, _ = fit_policy(
            table,
            budgets,
            rows=train,
            tolerance=tolerance,
            pooled=pooled,
            candidates=candidates,
            n_bins=n_bins,
            margin=margin,
            price=price,
        )
        if fold_policies is not None:
            fold_policies.append(policy)
        for budget in budgets:
            acc, spent = replay_policy(table, policy, budget, rows=test)
            accuracy[budget][test] = acc
            calls[budget][test] = spent
    return [
        {
            "budget": b,
            "cv_accuracy": round(float(accuracy[b].mean()), 4),
            f"cv_{cost}": round(float(calls[b].mean()), 3),
        }
        for b in budgets
    ]


def calibrate(
    pool: PoolSamples,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    *,
    probes: int = 4,
    statistic: str = "agreement",
    problem_ids: Sequence[str] | None = None,
    heldout_ids: Sequence[str] = (),
    n_orders: int = 32,
    folds: int = 2,
    tolerance: float = 0.01,
    seed: int = 0,
    stop_rules: Sequence[StopRule] | None = None,
    objective: str = "accuracy",
) -> Calibration:
    """Fit a policy on ``problem_ids`` of ``pool`` (default: all) and cross-validate it.

    Args:
        pool: samples of one model (see :func:`load_pools` for a task mix).
        budgets: calls per question the policy will be asked for (probes included).
        probes: samples the router draws first; use the same ``Adaptive(probes=...)``.
        statistic: ``"agreement"`` of the probes' answers, or ``"verifier"`` (their mean
            verifier score; needs a pool built with a verifier).
        problem_ids / heldout_ids: the problems to fit on, and those kept for ``compare``
            (both recorded in the policy).
        n_orders: replayed orders of each problem's samples (1 = the pool's order only).
        folds: cross-validation folds over problems.
        tolerance: accuracy a cheaper plan may give up to be preferred.
        seed: seeds the orders and the folds.
        stop_rules: the rules sequential majorities may stop by (default
            :data:`DEFAULT_STOP_RULES`, agreement shares); any registered stop rule, e.g.
            ``[BayesianStop(0.9), AgreementAtLeast(0.75) | SamplesAtLeast(6)]``.
        objective: ``"accuracy"`` (the best plan within each budget) or ``"equal_calls"``
            (plans chosen for accuracy net of a price per call, the price per budget chosen
            by cross-validated gain over the best uniform vote at equal mean calls).

    Example:
        >>> from langgraph_ttc.scaling.synthetic import synthetic_pool
        >>> pool = synthetic_pool({"easy": 4, "hopeless": 4}, k=8, critiques=False, scores=False)
        >>> result = calibrate(pool, [8], n_orders=2)
        >>> result.policy.spec(1, 8).stop, result.policy.meta["probes"]
        (True, 4)
    """
    if statistic == "confidence" and not pool.all_have("confidences"):
        raise TTCConfigError(
            "statistic='confidence' needs the samples' confidence in the pool; build it with "
            "`langgraph-ttc curves --confidence`, or use statistic='agreement'."
        )
    if statistic == "verifier" and not pool.all_have("verifier_scores"):
        raise TTCConfigError(
            "statistic='verifier' needs verifier scores in the pool; build it with "
            "`langgraph-ttc curves --verifier judge`, or use statistic='agreement'."
        )
    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise TTCConfigError(f"Budgets must be positive integers; got {budgets}.")
    chosen = pool.subset(problem_ids) if problem_ids is not None else pool
    if not chosen.problems:
        raise TTCConfigError("No problems to fit a policy on.")
    table = ReplayTable(
        chosen.problems, probes=probes, n_orders=n_orders, statistic=statistic, seed=seed
    )
    if stop_rules:
        table.stop_rules = tuple(stop_rules)
    # Posterior stops may start from each question's own zero-probe prior (Snell et al. 2024
    # App. C; arXiv 2602.01237): the policy then carries the predictor.
    table.question_priors = question_priors(chosen.problems, folds, seed)
    predictor = None if table.question_priors is None else DifficultyPrior.fit(chosen.problems)
    warnings = []
    beyond = [b for b in budgets if b > table.width]
    if beyond:
        warnings.append(
            f"budgets {', '.join(map(str, beyond))} exceed the {table.width} samples per problem "
            f"the pools hold: plans there stop at {table.width} samples. Build the pools with "
            f"--k-max {beyond[-1]} to fit them."
        )
    for warning in warnings:
        logger.warning(warning)
    policy, cells, cv = fit_and_validate(
        table, budgets, folds=folds, tolerance=tolerance, seed=seed, floor=probes,
        objective=objective,
    )  # fmt: skip
    meta = {
        "source": "calibrated",
        "fitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": pool.meta.get("model") or pool.meta.get("model_id"),
        "pools": pool.meta.get("pools") or [{"task": pool.meta.get("task")}],
        "tasks": sorted({str(s.get("task")) for s in pool.meta.get("pools") or [pool.meta]}),
        "probes": probes,
        "confidence": pool.meta.get("confidence"),
        "budgets": budgets,
        "n_orders": n_orders,
        "tolerance": tolerance,
        "objective": objective,
        "seed": seed,
        "stop_rules": [rule.to_dict() for rule in stop_rules_of(table)],
        "not_replayed": replayable()[1],  # methods that aggregate with the model, and why
        "problems": list(chosen.problem_ids),
        "heldout_problems": list(heldout_ids),
    }
    if predictor is not None and _uses_question_prior(policy):
        meta["difficulty_prior"] = predictor.to_dict()
    policy = dataclasses.replace(policy, meta=meta | {"cross_validation": cv, "cells": cells})
    return Calibration(policy, cells, cv, warnings)


def _uses_question_prior(policy: Policy) -> bool:
    return any(
        getattr(spec.stop_rule, "question_prior", False)
        for by_budget in policy.plans.values()
        for spec in by_budget.values()
    )


def fit_and_validate(
    table,
    budgets: Sequence[int],
    *,
    folds: int,
    tolerance: float,
    seed: int,
    floor: int,
    objective: str = "accuracy",
) -> tuple[Policy, list[dict], list[dict]]:
    """The policy fitted per bin, its cells, and its cross-validation against one plan for
    every bin.

    The number of bins (at most one per ``MIN_PROBLEMS_PER_BIN`` problems) and the margin a
    bin's own plan must beat the single best plan by (shrinkage) are chosen by mean
    cross-validated accuracy over the budgets (ties: fewer bins, larger margin). Then, budget
    by budget, where one plan for every bin does as well out of sample for no more cost,
    every bin gets it (per-bin plans must earn their keep, as Snell et al. select per bin by
    cross-validation). Budgets below ``floor`` (the probes' cost) keep their cells as fitted.
    Each cross-validation row says how stable the plans were across folds
    (``plan_stability``: the share of bins whose plan every fold chose alike).

    ``objective="equal_calls"`` then also chooses, budget by budget, a price per call (from
    ``PRICES``) that maximises the cross-validated gain over the best fixed method used
    uniformly at the same mean calls: the policy spends where a call buys more than that."""
    candidates = Candidates(table, budgets)
    cost = "tokens" if candidates.unit == "tokens" else "calls"
    options = dict(folds=folds, tolerance=tolerance, seed=seed, candidates=candidates)
    single_folds: list[Policy] = []
    cv_single = cross_validate(table, budgets, pooled=True, fold_policies=single_folds, **options)
    # Two bins are always tried (cross-validation against one plan decides); more only when
    # there are problems enough to fill them.
    counts = [b for b in BIN_COUNTS if b == 2 or table.n_problems >= MIN_PROBLEMS_PER_BIN * b]
    best = None  # (mean cv accuracy, -bins, margin, cv rows, fold policies, bins)
    for n_bins in counts:
        for margin in MARGINS:
            fold_policies: list[Policy] = []
            rows = cross_validate(
                table, budgets, n_bins=n_bins, margin=margin, fold_policies=fold_policies,
                **options,
            )  # fmt: skip
            scored = [r["cv_accuracy"] for r in rows if r["budget"] >= floor] or [0.0]
            key = (float(np.mean(scored)), -n_bins, margin)
            if (
                best is None
                or key[0] > best[0][0] + 1e-9
                or (abs(key[0] - best[0][0]) <= 1e-9 and key[1:] > best[0][1:])
            ):
                best = (key, rows, fold_policies, n_bins, margin)
    if best is None:  # too few problems for bins: one plan
        cv, fold_policies, n_bins, margin = cv_single, single_folds, 1, 0.0
    else:
        _, cv, fold_policies, n_bins, margin = best
    price: dict[int, float] = {}
    if objective == "equal_calls":
        price, cv, cv_single, fold_policies, single_folds = _prices(
            table, budgets, n_bins, margin, cv, cv_single, **options
        )  # fmt: skip
    elif objective != "accuracy":
        raise TTCConfigError(f"objective must be 'accuracy' or 'equal_calls'; got {objective!r}.")
    policy, cells = fit_policy(
        table, budgets, tolerance=tolerance, candidates=candidates, n_bins=n_bins,
        pooled=n_bins == 1, margin=margin, price=price,
    )  # fmt: skip
    single, _ = fit_policy(
        table, budgets, tolerance=tolerance, pooled=True, candidates=candidates, price=price
    )
    for row, alone in zip(cv, cv_single, strict=True):
        row["cv_accuracy_one_plan"] = alone["cv_accuracy"]
        row[f"cv_{cost}_one_plan"] = alone[f"cv_{cost}"]
        row["bins"], row["margin"] = n_bins, margin
        row["price"] = price.get(row["budget"], 0.0)
        per_bin = (row["cv_accuracy"], row[f"cv_{cost}"])
        one = (alone["cv_accuracy"], alone[f"cv_{cost}"])
        if objective == "equal_calls":
            # Judged as the objective is: gain over the best uniform vote at the same mean
            # calls; per-bin plans must beat one plan by ``tolerance`` to be kept.
            gains = [acc - _uniform_best(table, spent) for acc, spent in (per_bin, one)]
            row["cv_gain"], row["cv_gain_one_plan"] = (round(g, 4) for g in gains)
            keep = gains[0] > gains[1] + tolerance
        else:
            keep = _prefer(per_bin, one, tolerance)
        row["chosen"] = "per bin" if n_bins > 1 and keep else "one plan"
        chosen_folds = fold_policies if row["chosen"] == "per bin" else single_folds
        row["plan_stability"] = _stability(chosen_folds, row["budget"])
        if row["chosen"] == "one plan" and row["budget"] >= floor:
            spec = single.spec(1, row["budget"])
            for by_budget in policy.plans.values():
                by_budget[row["budget"]] = spec
            for cell in cells:
                if cell["budget"] == row["budget"]:
                    cell["plan"] = f"{_describe(spec)} (one plan)"
    if objective == "equal_calls":
        _inherit(policy, cells, cv, floor)
    return policy, cells, cv


def _inherit(policy: Policy, cells: list[dict], cv: list[dict], floor: int) -> None:
    """A larger budget can do whatever a smaller one does: where a smaller budget's policy
    gained more over uniform voting at equal calls in cross-validation, the larger budget takes
    its plans (and its cross-validated row), marked ``inherits``."""
    best = None  # (gain, row) of the best smaller budget so far
    for row in sorted(cv, key=lambda r: r["budget"]):
        if row["budget"] < floor or row.get("cv_gain") is None:
            continue
        gain = max(row["cv_gain"], row["cv_gain_one_plan"])
        if best is not None and best[0] > gain + 1e-9:
            source = best[1]
            for by_budget in policy.plans.values():
                if source["budget"] in by_budget:
                    by_budget[row["budget"]] = by_budget[source["budget"]]
            for cell in cells:
                if cell["budget"] == row["budget"]:
                    cell["plan"] = f"{_describe(policy.spec(cell['bin'], row['budget']))} "
                    cell["plan"] += f"(as budget {source['budget']})"
            kept = {k: row[k] for k in ("budget",)}
            row.clear()
            row.update({**source, **kept, "inherits": source["budget"]})
        else:
            best = (gain, dict(row))


PRICES = (0.0, 0.002, 0.005, 0.01, 0.02, 0.04)


def _uniform_best(table, calls: float) -> float:
    """The best fixed vote used uniformly, at ``calls`` mean calls (interpolated)."""
    best = -np.inf
    for name in replayable()[0]:  # a method that calls the model to aggregate cannot replay
        aggregator = get_aggregator(name)
        if aggregator.needs - {"confidences"}:
            continue
        if "confidences" in aggregator.needs and not (
            np.isfinite(table.confidences).any(axis=(1, 2)).all()
        ):
            continue
        prefix = table.prefix(name)
        xs, ys = prefix.calls.mean(axis=(0, 1)), prefix.correct.mean(axis=(0, 1))
        if calls >= xs[0] - 1e-9:
            best = max(best, float(np.interp(calls, xs, ys)))
    return best


def _prices(table, budgets, n_bins, margin, cv, cv_single, **options):
    """Per budget, the price per call whose cross-validated policy gains most over the best
    uniform vote at its own mean calls; the cross-validation rows and fold policies of the
    chosen prices."""
    cost = "tokens" if options["candidates"].unit == "tokens" else "calls"
    best: dict[int, tuple] = {}
    for p in PRICES:
        folds_p: list[Policy] = []
        single_p: list[Policy] = []
        rows = cross_validate(table, budgets, n_bins=n_bins, margin=margin, price=p,
                              fold_policies=folds_p, pooled=n_bins == 1, **options)  # fmt: skip
        alone = cross_validate(table, budgets, pooled=True, price=p, fold_policies=single_p,
                               **options)  # fmt: skip
        for i, (row, one) in enumerate(zip(rows, alone, strict=True)):
            gain = max(
                row["cv_accuracy"] - _uniform_best(table, row[f"cv_{cost}"]),
                one["cv_accuracy"] - _uniform_best(table, one[f"cv_{cost}"]),
            )
            if row["budget"] not in best or gain > best[row["budget"]][0] + 1e-9:
                best[row["budget"]] = (gain, p, row, one, i, folds_p, single_p)
    price = {b: v[1] for b, v in best.items()}
    cv = [best[r["budget"]][2] for r in cv]
    cv_single = [best[r["budget"]][3] for r in cv_single]
    # Fold policies for the stability report: those of the price chosen at the largest budget.
    top = best[max(best)]
    return price, cv, cv_single, top[5], top[6]


def _stability(policies: Sequence[Policy], budget: int) -> float | None:
    """The share of bins whose plan at ``budget`` is the same in every fold's policy (bins
    matched by rank: bin 1 is the easiest in every fold)."""
    if len(policies) < 2:
        return None
    bins = min(len(p.plans) for p in policies)
    if bins == 0:
        return None
    same = sum(
        len({_describe(p.spec(b, budget)) for p in policies}) == 1 for b in range(1, bins + 1)
    )
    return round(same / bins, 3)


def format_policy(result: Calibration) -> str:
    """The learned plan per (bin, budget) and the cross-validated accuracy per budget, with a
    legend of the columns and verdicts.

    Budgets below what the probes cost have no per-bin row to fit (the router spends them on
    probes and answers by their majority); they get one row saying so, and their
    cross-validated line below.
    """
    policy = result.policy
    cost = "tokens" if policy.unit == "tokens" else "calls"
    edges = ", ".join(f"{e:g}" for e in policy.edges)
    lines = [f"bins on probe {policy.statistic} (lower edges of bins 1..): {edges}"]
    fitted = {cell["budget"] for cell in result.cells}
    probes = policy.meta.get("probes")
    below = [row["budget"] for row in result.cross_validation if row["budget"] not in fitted]
    rows = [
        (
            f"{cell['budget']:>6}",
            f"{cell['bin']:>3}",
            f"{cell['runs']:>4}",
            cell["plan"],
            f"{_num(cell['accuracy']):>8}  {_num(cell[cost]):>6}  "
            f"{_num(cell['majority_at_budget']):>10}",
        )
        for cell in sorted(result.cells, key=lambda c: (c["budget"], c["bin"]))
    ]
    width = max([len("plan"), *(len(r[3]) for r in rows)])
    lines.append(f"budget  bin  runs  {'plan':<{width}}  accuracy  {cost:>6}  majority@B")
    what = f"the {probes} probes" if probes else "the probes"
    for budget in below:
        lines.append(f"{budget:>6}    -     -  below {what}: all on probes, their majority")
    for budget, bin_, runs, plan, numbers in rows:
        lines.append(f"{budget}  {bin_}  {runs}  {plan:<{width}}  {numbers}")
    lines.append(
        f"(runs: replayed runs in the bin; accuracy and {cost}: the plan's mean on them; "
        "majority@B: a plain majority of B samples on the same runs, for comparison)"
    )
    lines.append(
        "cross-validated (fitted without the fold it is scored on): per-bin plans | one plan "
        "for every bin"
    )
    for row in result.cross_validation:
        stability = row.get("plan_stability")
        lines.append(
            f"  budget {row['budget']:>3}: accuracy {row['cv_accuracy']:.3f} at "
            f"{row[f'cv_{cost}']:.2f} {cost} | {row['cv_accuracy_one_plan']:.3f} at "
            f"{row[f'cv_{cost}_one_plan']:.2f} {cost} -> {row['chosen']}"
            f" ({row.get('bins', '-')} bins, margin {row.get('margin', '-')}; plans alike "
            f"across folds: {'-' if stability is None else f'{stability:.0%}'})"
        )
    lines.append(
        "(-> per bin: the policy keeps a plan per bin at that budget; -> one plan: one plan "
        "did as well out of sample for no more cost, so every bin gets it, marked (one plan))"
    )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
