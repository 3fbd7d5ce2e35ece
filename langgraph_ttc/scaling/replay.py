"""Replay the router on pool samples: what an adaptive run would answer and what it would spend.

A live adaptive run draws ``p`` probe samples, bins the question by what the probes show (their
answer agreement, or their mean verifier score), then draws more samples up to the plan's width
and aggregates. Pool samples are i.i.d. draws from the same model, so a run is replayed by
consuming one problem's samples in an order: the first ``p`` are the probes, the next ones the
extra samples, each with the critique and verifier score the pool stored for it.

Order 0 is the pool's index order, the order the build drew them. Further orders are seeded
random permutations: averaging over them removes the luck of which samples came first, an
unbiased, lower-variance estimate of a live run's expected accuracy and calls.

Everything is computed for all problems and orders at once: each registered aggregator's
winner at every prefix of every order (:meth:`Aggregator.prefix_winners
<langgraph_ttc.aggregators.Aggregator.prefix_winners>`), and each stop rule's verdict at every
prefix (:meth:`StopRule.prefix_mask <langgraph_ttc.stopping.StopRule.prefix_mask>`); a plan's
outcome is then a lookup. The same registry objects decide live runs, so replay and live agree.

Calls are counted as the graph counts them: one per sample, one critique per answered sample
when the aggregator needs verdicts, the verifier's calls per scored sample when it needs scores
(and for the probes when difficulty is their mean verifier score). Tokens are the samples'
generated tokens, thinking included.

A router whose plans set a thinking budget draws its probes at one thinking budget and the
samples after them at another: ``probe_problems`` replays that, each order taking its first
``probes`` samples from the probe pool (in that pool's order) and the rest from this one
(:mod:`~langgraph_ttc.scaling.thinking_axis`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from langgraph_ttc.aggregators import BallotTable, get_aggregator, weighted_vote
from langgraph_ttc.aggregators.deepconf import online_threshold
from langgraph_ttc.confidence import TraceConfidence
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling._pool_builder import sample_seed
from langgraph_ttc.scaling.samples import ProblemSamples
from langgraph_ttc.stopping import PrefixVotes, StopRule

__all__ = ["Outcome", "ReplayTable", "replay_policy", "worst_case_calls"]


@dataclass(frozen=True)
class Outcome:
    """Replayed runs: correctness (0..1), model calls and generated tokens (the samples'
    completions), one value per (problem, order)."""

    correct: np.ndarray
    calls: np.ndarray
    tokens: np.ndarray | None = None


class ReplayTable:
    """The problems of a pool, each in ``n_orders`` orders of its first ``width`` samples, with
    every order's router statistic.

    Args:
        problems: the pool's problems (each with at least ``probes`` samples).
        probes: samples the router draws first.
        n_orders: orders per problem (order 0 is the pool's own).
        statistic: ``"agreement"`` or ``"verifier"`` (the probes' mean verifier score).
        score_source: best-of-N scores from the ``"verifier"``, or from ``"critique"`` verdicts.
        seed: seeds the orders (with each problem's id, so every problem gets its own).
        probe_problems: the same problems drawn at the probes' thinking budget: the first
            ``probes`` samples of every order come from them (their answers coded with these).

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "4", "5", "4"], [1, 1, 0, 1])
        >>> table = ReplayTable([p], probes=2, n_orders=1)
        >>> table.statistics.tolist(), table.fixed("majority", 3).correct.tolist()
        ([[1.0]], [[1.0]])
    """

    def __init__(
        self,
        problems: Sequence[ProblemSamples],
        *,
        probes: int,
        n_orders: int = 32,
        statistic: str = "agreement",
        score_source: str = "verifier",
        seed: int = 0,
        probe_problems: Sequence[ProblemSamples] | None = None,
    ) -> None:
        if not problems:
            raise TTCConfigError("No problems to replay.")
        for problem in [*problems, *(probe_problems or ())]:
            if problem.n < probes:
                raise TTCConfigError(
                    f"Problem {problem.problem_id!r} has {problem.n} samples, fewer than the "
                    f"{probes} probes; build the pool with a larger --k-max."
                )
        if probe_problems is not None and [p.problem_id for p in probe_problems] != [
            p.problem_id for p in problems
        ]:
            raise TTCConfigError(
                "The probes' pool must hold the same problems, in the same order; build every "
                "thinking budget's pool from the same task."
            )
        self.problems = tuple(problems)
        self.spliced = probe_problems is not None
        self.probes = probes
        self.statistic = statistic
        self.score_source = score_source  # best-of-N scores: "verifier", or "critique" verdicts
        self.n_orders = n_orders
        # Every problem is replayed on its first `width` samples per order (the pool's
        # smallest problem): plans never draw more than that.
        self.width = min(p.n for p in problems)
        columns = [
            _Columns(p, n_orders, self.width, seed, probe, probes)
            for p, probe in zip(problems, probe_problems or [None] * len(problems), strict=True)
        ]
        self.codes = np.stack([c.codes for c in columns])  # (problems, orders, width)
        self.grades = np.stack([c.grades for c in columns])
        self.scores = np.stack([c.scores for c in columns])
        self.verdicts = np.stack([c.verdicts for c in columns])
        self.critique_calls = np.stack([c.critique_calls for c in columns])
        self.order_rows = [c.rows for c in columns]
        self.confidences = np.stack([c.confidences for c in columns])
        self.tokens = np.stack([c.tokens for c in columns])
        self.verify_calls = np.stack([c.verify_calls for c in columns])
        self.verify_calls_per_sample = int(max(np.max(p.verify_calls, initial=0) for p in problems))
        self._prefix: dict[str, Outcome] = {}
        self._masks: dict[StopRule, np.ndarray] = {}
        # Each problem's zero-probe prior, for posterior stops that read the question's own
        # (PosteriorStop(question_prior=True)); set before any such rule is replayed.
        self.question_priors: Sequence[tuple[float, ...]] | None = None
        self._outcomes: dict[tuple, Outcome] = {}
        self._ids: dict[tuple, int] = {}  # distinct outcomes, numbered in order of first use
        self._rows: list[Outcome] = []
        self.statistics = self._statistics()
        self._spent_values = np.unique(self.probe_scoring_calls()).astype(int)

    @property
    def n_problems(self) -> int:
        return len(self.problems)

    # -- the router's view --------------------------------------------------------------------
    def _statistics(self) -> np.ndarray:
        probes = self.probes
        if self.statistic == "agreement":
            leaders = np.stack(
                [PrefixVotes(codes).leader_counts[:, probes - 1] for codes in self.codes]
            )
            return leaders / probes
        if self.statistic == "confidence":  # the probes' mean token confidence: no extra call
            return probe_mean_confidence(self.confidences[..., :probes])
        return np.nan_to_num(self.scores_of("verifier")[..., :probes], nan=0.0).mean(axis=2)

    def probe_scoring_calls(self) -> np.ndarray:
        """Verifier calls the router spends on its probes per run (none for agreement)."""
        if self.statistic != "verifier":
            return np.zeros((self.n_problems, self.n_orders))
        return self.verify_calls[..., : self.probes].sum(axis=2)

    def probes_cost(self) -> int:
        """The most the probes can cost: themselves, and their scores for the verifier statistic.
        Below it the router cannot afford its statistic and answers by majority instead."""
        per_probe = 1 + (self.verify_calls_per_sample if self.statistic == "verifier" else 0)
        return self.probes * per_probe

    # -- prefixes -------------------------------------------------------------------------------
    def scores_of(self, source: str) -> np.ndarray:
        return self.scores if source == "verifier" else self.verdicts

    def prefix(self, aggregator: str) -> Outcome:
        """Correctness and calls of ``aggregator`` over the first w samples, for every w:
        arrays of shape (problems, orders, width)."""
        if aggregator not in self._prefix:
            self._prefix[aggregator] = self._compute_prefix(aggregator)
        return self._prefix[aggregator]

    def _compute_prefix(self, name: str) -> Outcome:
        aggregator = get_aggregator(name)
        scores = np.nan_to_num(self.scores_of(self.score_source), nan=0.0)
        winners = np.stack(
            [
                aggregator.prefix_winners(
                    BallotTable(self.codes[i], scores[i], self.verdicts[i], self.confidences[i])
                )
                for i in range(self.n_problems)
            ]
        )
        # The returned candidate is graded on its own, as a live run grades its text.
        picked = np.take_along_axis(self.grades, np.maximum(winners, 0), axis=2)
        correct = np.where(winners >= 0, picked, 0.0)
        per_sample = np.ones_like(self.grades)
        if "verdicts" in aggregator.needs:
            per_sample = per_sample + self.critique_calls
        if "scores" in aggregator.needs:
            by_critique = self.score_source == "critique"
            per_sample = per_sample + (self.critique_calls if by_critique else self.verify_calls)
        return Outcome(correct, np.cumsum(per_sample, axis=2), np.cumsum(self.tokens, axis=2))

    def fixed(self, aggregator: str, width: int) -> Outcome:
        """Every run aggregating its first ``width`` samples (shape (problems, orders))."""
        if not 1 <= width <= self.width:
            raise ValueError(f"width {width} outside [1, {self.width}]")
        return self._at(self.prefix(aggregator), np.full((self.n_problems, self.n_orders), width))

    def stopped(self, rule: StopRule, aggregator: str, width: int, step: int = 1) -> Outcome:
        """Every run drawing until ``rule`` fires (checked after each ``step`` samples) or
        ``width`` samples: adaptive consistency, or a Bayesian early stop whose cancelled
        samples cost nothing."""
        widths = self._stop_widths(rule, step, min(width, self.width), start=step)
        return self._at(self.prefix(aggregator), widths)

    def deepconf_online(
        self,
        n: int,
        *,
        warmup: int = 16,
        eta: float = 10.0,
        tau: float | None = 0.95,
        step: int = 1,
    ) -> Outcome:
        """DeepConf online (Fu et al. 2025, Algorithm 2) replayed from the stored confidence
        summaries: the first ``warmup`` samples of each order set the threshold from their
        lowest group confidence; each later sample stops where its own group confidence first
        falls below it (:meth:`TraceConfidence.stop_position
        <langgraph_ttc.confidence.TraceConfidence.stop_position>`, so it costs only the tokens
        up to there and does not vote), and drawing ends when the consensus of the samples at or
        above the threshold reaches ``tau`` (``None``: no such stop), or at ``n``. Needs a pool
        built with confidence."""
        if self.spliced:
            raise TTCConfigError("DeepConf online replays one pool, not probes from another.")
        n = min(n, self.width)
        warmup = min(warmup, n)
        correct = np.zeros((self.n_problems, self.n_orders))
        calls = np.zeros_like(correct)
        tokens = np.zeros_like(correct)
        for p, problem in enumerate(self.problems):
            traces = [None if t is None else TraceConfidence.from_dict(t) for t in problem.traces]
            for o in range(self.n_orders):
                correct[p, o], calls[p, o], tokens[p, o] = _online_run(
                    self, p, o, traces, n, warmup, eta, tau, step
                )
        return Outcome(correct, calls, tokens)

    def _at(self, prefix: Outcome, widths: np.ndarray) -> Outcome:
        """Each run's prefix outcome at its own width."""
        columns = (widths - 1)[..., None]
        return Outcome(
            *(
                np.take_along_axis(values, columns, axis=2)[..., 0]
                for values in (prefix.correct, prefix.calls, prefix.tokens)
            )
        )

    def stop_mask(self, rule: StopRule) -> np.ndarray:
        """Whether ``rule`` fires after the first w samples (problems, orders, width)."""
        if rule not in self._masks:
            rules = [rule] * self.n_problems
            if getattr(rule, "question_prior", False):
                if self.question_priors is None:
                    raise TTCConfigError(
                        "This posterior stop reads each question's prior: set the table's "
                        "question_priors (a calibrated policy's difficulty prior) first."
                    )
                rules = [
                    dataclasses.replace(rule, prior=prior, question_prior=False)
                    for prior in self.question_priors
                ]
            self._masks[rule] = np.stack(
                [
                    r.prefix_mask(PrefixVotes(c, w))
                    for r, c, w in zip(rules, self.codes, self.confidences, strict=True)
                ]
            )
        return self._masks[rule]

    # -- plans ------------------------------------------------------------------------------------
    def outcome_id(self, spec: PlanSpec, budget: int) -> int:
        """A number for the outcome of ``spec`` at ``budget``: equal numbers, equal outcomes (most
        budgets resolve a spec to a plan another budget already has). :meth:`outcome_matrix`
        stacks the outcomes in this numbering."""
        key = self._resolved_key(spec, budget)
        if key not in self._ids:
            self._ids[key] = len(self._rows)
            self._rows.append(self.outcomes(spec, budget))
        return self._ids[key]

    def outcome_matrix(self, tokens: bool = False) -> Outcome:
        """Every outcome numbered by :meth:`outcome_id` so far: (outcomes, problems, orders),
        with their generated tokens when ``tokens``."""
        return Outcome(
            np.stack([o.correct for o in self._rows]),
            np.stack([o.calls for o in self._rows]),
            np.stack([o.tokens for o in self._rows]) if tokens else None,
        )

    def _resolved_key(self, spec: PlanSpec, budget: int) -> tuple:
        if budget < self.probes_cost():
            return ("budget below the probes", min(budget, self.width), _below_vote(spec))
        return tuple(
            self._plan_key(spec.resolve(self.probes, left, self.verify_calls_per_sample))
            for left in budget - self.probes - self._spent_values
        )

    def outcomes(self, spec: PlanSpec, budget: int) -> Outcome:
        """Every run under ``spec`` at ``budget`` calls, sized as the route node sizes it."""
        if budget < self.probes_cost():
            # The router cannot pay for its probes (and their scores): it draws what the budget
            # buys and answers by their vote (Policy.vote_below_probes; the route node too).
            return self.fixed(_below_vote(spec), min(budget, self.width))
        scoring = self.probe_scoring_calls()
        outcome = None
        for spent in self._spent_values:
            left = budget - self.probes - int(spent)
            plan = spec.resolve(self.probes, left, self.verify_calls_per_sample)
            this = self._plan_outcome(plan)
            if outcome is None:
                outcome = this
            else:  # runs whose probes cost this much take this plan
                runs = scoring == spent
                outcome = Outcome(
                    np.where(runs, this.correct, outcome.correct),
                    np.where(runs, this.calls, outcome.calls),
                    np.where(runs, this.tokens, outcome.tokens),
                )
        return outcome

    def _plan_key(self, plan) -> tuple:
        if plan.stop:
            return (plan.aggregator, self.probes, None, 1)
        width = min(plan.width if plan.max_width is None else plan.max_width, self.width)
        return (plan.aggregator, width, plan.stop_rule, plan.step)

    def _plan_outcome(self, plan) -> Outcome:
        """Every run under the resolved ``plan`` (cached: budgets share most plans)."""
        key = self._plan_key(plan)
        if key not in self._outcomes:
            self._outcomes[key] = self._compute_plan_outcome(*key)
        return self._outcomes[key]

    def _compute_plan_outcome(
        self, aggregator: str, width: int, stop_rule: StopRule | None, step: int
    ) -> Outcome:
        prefix = self.prefix(aggregator)
        if stop_rule is None:
            outcome = self._at(prefix, np.full((self.n_problems, self.n_orders), width))
        else:
            outcome = self._at(prefix, self._stop_widths(stop_rule, step, width))
        correct, calls = outcome.correct, outcome.calls
        scored_by_verifier = "scores" in get_aggregator(aggregator).needs and (
            self.score_source == "verifier"
        )
        # The router's probe scores are already in the aggregator's calls when it scores every
        # sample with the verifier; else they come on top.
        if not scored_by_verifier:
            calls = calls + self.probe_scoring_calls()
        return Outcome(correct, calls, outcome.tokens)

    def _stop_widths(
        self, rule: StopRule, step: int, max_width: int, start: int | None = None
    ) -> np.ndarray:
        """Where a sequential plan stops in each run: ``start`` samples (the probes), then
        ``step`` more per round, until ``rule`` fires or ``max_width`` is reached (the generate
        node's rule)."""
        start = self.probes if start is None else start
        sequence = list(range(start, max_width, step)) + [max_width]
        sequence = sorted({w for w in sequence if start <= w <= max_width}) or [max_width]
        mask = self.stop_mask(rule)[..., np.array(sequence) - 1]
        fired = mask.any(axis=2)
        first = np.array(sequence)[mask.argmax(axis=2)]
        return np.where(fired, first, max_width)


class _Columns:
    """One problem's samples in ``n_orders`` orders of its first ``width`` draws; with a
    ``probe`` problem, each order's first ``probes`` positions are the probe problem's (in its
    own order) and the rest this problem's."""

    def __init__(
        self,
        problem: ProblemSamples,
        n_orders: int,
        width: int,
        seed: int,
        probe: ProblemSamples | None = None,
        probes: int = 0,
    ) -> None:
        rows = _orders(problem, n_orders, seed)[:, :width]
        self.rows = rows  # which pool sample each position of each order is
        if probe is None:
            self.codes = _codes(problem.answers)[rows]
        else:  # answers coded over both pools, so equal answers get equal codes
            joint = _codes([*probe.answers, *problem.answers])
            first, rest = _orders(probe, n_orders, seed)[:, :probes], rows[:, probes:]
            self.codes = np.concatenate([joint[first], joint[probe.n + rest]], axis=1)

        def column(name: str) -> np.ndarray:
            own = getattr(problem, name)
            if probe is None:
                return own[rows]
            return np.concatenate([getattr(probe, name)[first], own[rest]], axis=1)

        self.grades = column("correct")
        self.scores = column("verifier_scores")
        self.verdicts = column("verdicts")
        self.critique_calls = column("critique_calls")
        self.verify_calls = column("verify_calls")
        self.confidences = column("confidences")
        self.tokens = column("completion_tokens")


def _orders(problem: ProblemSamples, n_orders: int, seed: int) -> np.ndarray:
    """Order 0 (the pool's) and ``n_orders - 1`` seeded permutations of a problem's samples."""
    rng = np.random.default_rng(sample_seed(seed, problem.problem_id, 0))
    orders = [np.arange(problem.n)]
    orders += [rng.permutation(problem.n) for _ in range(n_orders - 1)]
    return np.array(orders)


def _codes(answers: Sequence[Hashable | None]) -> np.ndarray:
    """Answer codes in order of first appearance (-1: no answer).

    Example:
        >>> _codes(["4", None, "5", "4"]).tolist()
        [0, -1, 1, 0]
    """
    index: dict[Hashable, int] = {}
    return np.array([-1 if a is None else index.setdefault(a, len(index)) for a in answers])


def _below_vote(spec: PlanSpec) -> str:
    """The vote of a run below the probes' cost (as :meth:`Policy.vote_below_probes`)."""
    return Policy(plans={1: {0: spec}}).vote_below_probes(0)


def worst_case_calls(spec: PlanSpec, probes: int, verify_calls: int, statistic: str) -> int:
    """The most calls ``spec`` can make, probes included (every sample answered and judged).

    Example:
        >>> worst_case_calls(PlanSpec(width=6, aggregator="filter_vote"), 4, 0, "agreement")
        12
    """
    scores_probes = statistic != "agreement"
    if spec.stop:  # the probes' majority
        return probes + (probes * verify_calls if scores_probes else 0)
    width = probes if spec.width is None else spec.width
    total = width * spec.depth * spec.attempt_calls(verify_calls)
    # Probes scored for the router's statistic; plans that score every sample count them already.
    if scores_probes and "scores" not in get_aggregator(spec.aggregator).needs:
        total += probes * verify_calls
    return total


def replay_policy(
    table: ReplayTable, policy: Policy, budget: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem mean correctness and mean calls of ``policy`` at ``budget`` calls (of the
    problems ``rows``, default all); mean generated tokens instead of calls for a token policy
    (``policy.unit == "tokens"``, replayed on a :class:`~langgraph_ttc.scaling.thinking_axis.
    ThinkingReplay`).

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "4", "5", "4"], [1, 1, 0, 1])
        >>> acc, calls = replay_policy(ReplayTable([p], probes=2, n_orders=1), Policy(), 4)
        >>> acc.tolist(), calls.tolist()
        ([1.0], [4.0])
    """
    done = replay_policy_outcome(table, policy, budget, rows)
    return done.correct, done.tokens if policy.unit == "tokens" else done.calls


def replay_policy_outcome(
    table: ReplayTable, policy: Policy, budget: int, rows: np.ndarray | None = None
) -> Outcome:
    """Per-problem means (over the orders) of correctness, calls and generated tokens of
    ``policy`` at ``budget``; tokens are NaN where the pool counted none.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "4", "5", "4"], [1, 1, 0, 1],
        ...                               completion_tokens=[10, 20, 30, 40])
        >>> replay_policy_outcome(ReplayTable([p], probes=2, n_orders=1), Policy(), 4).tokens
        array([100.])
    """
    rows = np.arange(table.n_problems) if rows is None else np.asarray(rows)
    if getattr(table, "question_priors", False) is None and policy.meta.get("difficulty_prior"):
        # The policy's zero-probe predictor gives each question its prior, as the route node.
        table.question_priors = [policy.question_prior(p.question) for p in table.problems]
    bins = np.vectorize(policy.bin, otypes=[int])(table.statistics[rows])
    correct = np.zeros(bins.shape)
    calls = np.zeros(bins.shape)
    tokens = np.full(bins.shape, np.nan)
    for difficulty_bin in np.unique(bins):
        runs = bins == difficulty_bin
        outcome = table.outcomes(policy.spec(int(difficulty_bin), budget), budget)
        correct[runs] = outcome.correct[rows][runs]
        calls[runs] = outcome.calls[rows][runs]
        if outcome.tokens is not None:
            tokens[runs] = outcome.tokens[rows][runs]
    return Outcome(correct.mean(axis=1), calls.mean(axis=1), tokens.mean(axis=1))


def _online_run(table, p, o, traces, n, warmup, eta, tau, step) -> tuple[float, float, float]:
    """One replayed DeepConf online run: (correctness of the answer, samples drawn, tokens)."""
    rows = table.order_rows[p][o]
    codes = table.codes[p, o]
    lows = [None if traces[r] is None else traces[r].lowest_group for r in rows]
    known = [x for x in lows[:warmup] if x is not None]
    threshold = online_threshold(known, eta) if known else None
    voters: list[tuple[int, int, float]] = []  # (position, answer code, confidence)
    spent, drawn = 0.0, 0
    while drawn < n:
        batch = range(drawn, min(drawn + (warmup if drawn == 0 else step), n))
        for i in batch:
            trace, code, low = traces[rows[i]], int(codes[i]), lows[i]
            stop = None
            if drawn and threshold is not None and trace is not None:
                stop = trace.stop_position(threshold)
            full = table.tokens[p, o, i]
            spent += full if stop is None else min(stop, full)
            votes = threshold is None or (low is not None and low >= threshold)
            if stop is None and code >= 0 and votes:
                voters.append((i, code, table.confidences[p, o, i]))
        drawn = batch.stop
        if tau is not None and voters and drawn < n and _consensus(voters) >= tau:
            break
    if not voters:
        return 0.0, float(drawn), spent
    winner = weighted_vote([c for _, c, _ in voters], [w for _, _, w in voters]).index
    return float(table.grades[p, o, voters[winner][0]]), float(drawn), spent


def _consensus(voters) -> float:
    tally: dict[int, float] = {}
    for _, code, weight in voters:
        tally[code] = tally.get(code, 0.0) + weight
    total = sum(tally.values())
    return max(tally.values()) / total if total > 0 else 0.0


def probe_mean_confidence(confidences: np.ndarray) -> np.ndarray:
    """The router's confidence statistic over the last axis: the mean of the probes whose
    confidence is known, as the route node computes it. A missing one (NaN: a failed probe) is
    left out, not counted as 0.0, which is the lowest value of DeepConf's measures but the
    highest of ``mean_logprob``; with none known, ``-inf`` (the hardest bin, as no answer is
    under the agreement statistic).

    Example:
        >>> probe_mean_confidence(np.array([[2.0, np.nan, 4.0], [np.nan, np.nan, np.nan]]))
        array([  3., -inf])
    """
    known = ~np.isnan(confidences)
    counts = known.sum(axis=-1)
    sums = np.where(known, confidences, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
