"""Replay the router on pool samples: what an adaptive run would answer and what it would spend.

A live adaptive run draws ``p`` probe samples, bins the question by what the probes show (their
answer agreement, or their mean verifier score), then draws more samples up to the plan's width
and aggregates. Pool samples are i.i.d. draws from the same model, so a run is replayed by
consuming one problem's samples in an order: the first ``p`` are the probes, the next ones the
extra samples, each with the critique and verifier score the pool stored for it.

Order 0 is the pool's index order, the order the build drew them. Further orders are seeded
random permutations: averaging over them removes the luck of which samples came first, an
unbiased, lower-variance estimate of a live run's expected accuracy and calls.

Calls are counted as the graph counts them: one per sample, one critique per answered sample
under filter-vote, the verifier's calls per scored sample under best-of-N (and for the probes
when difficulty is their mean verifier score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from langgraph_ttc.aggregators import best_of_n, filter_vote, majority_vote, weighted_best_of_n
from langgraph_ttc.difficulty import agreement
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.nodes.extend import next_width
from langgraph_ttc.policy import SCORED, PlanSpec, Policy
from langgraph_ttc.scaling._pool_builder import sample_seed
from langgraph_ttc.scaling.estimators import answer_values
from langgraph_ttc.scaling.samples import ProblemSamples

__all__ = ["Outcome", "ReplayedProblem", "replay_policy", "spec_outcome", "worst_case_calls"]


@dataclass(frozen=True)
class Outcome:
    """One replayed run: the answer's correctness (0..1) and the model calls it made."""

    correct: float
    calls: float


class ReplayedProblem:
    """One problem's samples in ``n_orders`` orders, with each order's router statistic.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "4", "5", "4"], [1, 1, 0, 1])
        >>> runs = ReplayedProblem(p, probes=2, n_orders=1)
        >>> runs.statistics.tolist(), runs.outcome(0, width=3, aggregator="majority")
        ([1.0], Outcome(correct=1.0, calls=3.0))
    """

    def __init__(
        self,
        problem: ProblemSamples,
        *,
        probes: int,
        n_orders: int = 32,
        statistic: str = "agreement",
        score_source: str = "verifier",
        seed: int = 0,
    ) -> None:
        if problem.n < probes:
            raise TTCConfigError(
                f"Problem {problem.problem_id!r} has {problem.n} samples, fewer than the "
                f"{probes} probes; build the pool with a larger --k-max."
            )
        self.problem = problem
        self.probes = probes
        self.statistic = statistic
        self.score_source = score_source  # best-of-N scores: "verifier", or "critique" verdicts
        # The pool's own stable per-problem hash: every problem gets its own orders.
        rng = np.random.default_rng(sample_seed(seed, problem.problem_id, 0))
        orders = [np.arange(problem.n)]
        orders += [rng.permutation(problem.n) for _ in range(n_orders - 1)]
        self.orders = np.array(orders)
        self._values = answer_values(problem.answers, problem.correct)
        self._cache: dict[tuple[int, int, str], Outcome] = {}
        self.statistics = np.array([self._statistic(order[:probes]) for order in self.orders])

    @property
    def n_orders(self) -> int:
        return len(self.orders)

    def _statistic(self, probe_rows: np.ndarray) -> float:
        if self.statistic == "agreement":
            return agreement([self.problem.answers[i] for i in probe_rows])
        scores = self.problem.verifier_scores[probe_rows]
        return float(np.nan_to_num(scores, nan=0.0).mean())

    def outcome(self, order: int, *, width: int, aggregator: str) -> Outcome:
        """Replay "aggregate the first ``width`` samples of order ``order``" (cached: one
        outcome serves every budget and bin that asks for it)."""
        key = (order, width, aggregator)
        if key not in self._cache:
            self._cache[key] = self._outcome(order, width, aggregator)
        return self._cache[key]

    def _outcome(self, order: int, width: int, aggregator: str) -> Outcome:
        if not 1 <= width <= self.problem.n:
            raise ValueError(f"width {width} outside [1, {self.problem.n}]")
        rows = self.orders[order][:width]
        p = self.problem
        answers = [p.answers[i] for i in rows]
        calls = float(width)
        if aggregator == "majority":
            winner = majority_vote(answers).answer
        elif aggregator == "filter_vote":
            verdicts = [bool(v >= 0.5) if np.isfinite(v) else None for v in p.verdicts[rows]]
            winner = filter_vote(answers, verdicts).answer
            calls += float(p.critique_calls[rows].sum())
        elif aggregator in SCORED:
            by_critique = self.score_source == "critique"
            scores = np.nan_to_num(
                (p.verdicts if by_critique else p.verifier_scores)[rows], nan=0.0
            )
            pick = best_of_n if aggregator == "best_of_n" else weighted_best_of_n
            winner = pick(answers, scores.tolist()).answer
            calls += float((p.critique_calls if by_critique else p.verify_calls)[rows].sum())
        else:
            raise TTCConfigError(f"Cannot replay aggregator {aggregator!r} from a pool.")
        if aggregator not in SCORED or self.score_source == "critique":
            calls += float(p.verify_calls[rows[: self.scored_probes(width)]].sum())
        return Outcome(self._values.get(winner, 0.0), calls)

    def stop_width(self, order: int, stop_at: float, step: int, max_width: int) -> int:
        """Where a sequential majority plan stops: the first width probes, probes + step, ...
        at which the leading answer holds a ``stop_at`` share, else ``max_width``."""
        answers = [self.problem.answers[i] for i in self.orders[order][:max_width]]
        width = self.probes
        while wider := next_width(agreement(answers[:width]), width, stop_at, step, max_width):
            width = wider
        return width

    def scored_probes(self, width: int) -> int:
        """Probes the router scores with the verifier (none when it bins by agreement)."""
        return 0 if self.statistic == "agreement" else min(self.probes, width)

    def probe_calls(self, order: int) -> int:
        scored = self.orders[order][: self.scored_probes(self.probes)]
        return self.probes + int(self.problem.verify_calls[scored].sum())


def spec_outcome(runs: ReplayedProblem, order: int, spec: PlanSpec, budget: int) -> Outcome:
    """Replay one order under ``spec`` at ``budget`` calls, as the route node would size it.

    Below the probes' own cost the router spends the budget on probes alone and answers by
    their majority (``Adaptive`` clamps its probes to ``n``).
    """
    calls_left = budget - runs.probe_calls(order)
    if calls_left < 0:
        return runs.outcome(order, width=min(budget, runs.problem.n), aggregator="majority")
    plan = spec.resolve(runs.probes, calls_left, verify_calls_of(runs.problem))
    if plan["stop"]:
        return runs.outcome(order, width=runs.probes, aggregator="majority")
    width = min(plan["width"], runs.problem.n)
    if plan.get("stop_at") is not None:
        max_width = min(plan["max_width"], runs.problem.n)
        width = runs.stop_width(order, plan["stop_at"], plan["step"], max_width)
    return runs.outcome(order, width=width, aggregator=plan["aggregator"])


def worst_case_calls(spec: PlanSpec, probes: int, verify_calls: int, statistic: str) -> int:
    """The most calls ``spec`` can make, probes included (every sample answered and judged).

    Example:
        >>> worst_case_calls(PlanSpec(width=6, aggregator="filter_vote"), 4, 0, "agreement")
        12
    """
    if spec.stop:  # the probes' majority
        return probes + (probes * verify_calls if statistic != "agreement" else 0)
    width = probes if spec.width is None else spec.width
    total = width * spec.depth * spec.attempt_calls(verify_calls)
    # Probes scored for the router's statistic; best-of-N plans count those scores already.
    if statistic != "agreement" and spec.aggregator not in SCORED:
        total += probes * verify_calls
    return total


def verify_calls_of(problem: ProblemSamples) -> int:
    """Model calls the pool's verifier made per sample (0 for a programmatic one)."""
    return int(np.max(problem.verify_calls, initial=0))


def replay_policy(
    problems: Sequence[ReplayedProblem], policy: Policy, budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem mean correctness and mean calls of ``policy`` at ``budget`` calls.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "4", "5", "4"], [1, 1, 0, 1])
        >>> acc, calls = replay_policy([ReplayedProblem(p, probes=2, n_orders=1)], Policy(), 4)
        >>> acc.tolist(), calls.tolist()
        ([1.0], [4.0])
    """
    accuracy = np.zeros(len(problems))
    calls = np.zeros(len(problems))
    for i, runs in enumerate(problems):
        outcomes = [
            spec_outcome(runs, order, policy.spec(policy.bin(value), budget), budget)
            for order, value in enumerate(runs.statistics)
        ]
        accuracy[i] = np.mean([o.correct for o in outcomes])
        calls[i] = np.mean([o.calls for o in outcomes])
    return accuracy, calls
