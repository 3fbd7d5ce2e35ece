"""Multi-stage and batch allocation replayed on pools.

* :func:`replay_stops`: every question drawn under its own :class:`~langgraph_ttc.stopping.
  PosteriorStop` (a per-question prior from a zero-probe predictor, or one for all), checked
  after ``start`` samples and every ``step`` more, answered by an aggregator: the router's
  multi-stage plan, replayed exactly as the generate node runs it.
* :func:`replay_batch`: the batch allocator (:mod:`langgraph_ttc.allocation`) over all the
  questions of a pool at once, one total budget, in each replayed order of their samples;
  the same :func:`~langgraph_ttc.allocation.next_round` and
  :func:`~langgraph_ttc.allocation.final_answer` as the live driver
  (:mod:`langgraph_ttc.batch`), so order 0 of a pool built with the live run's seed is the
  live run.
* :func:`method_curve`: an adaptive method's (accuracy, mean calls) at several caps, to read
  it at another method's calls (Adaptive-Consistency, DeepConf online).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from langgraph_ttc.allocation import BatchAllocation, final_answer, next_round
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling.replay import Outcome, ReplayTable
from langgraph_ttc.stopping import PosteriorStop, PrefixVotes, Votes

__all__ = ["method_curve", "replay_batch", "replay_stops"]


def replay_stops(
    table: ReplayTable,
    rules: PosteriorStop | Sequence[PosteriorStop],
    aggregator: str = "majority",
) -> Outcome:
    """Every run drawing until its question's rule stops it (or its ``horizon``): correctness
    and calls per (question, order). ``rules``: one for all questions, or one per question.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> p = ProblemSamples.from_lists("q", ["4"] * 8, [1] * 8)
        >>> out = replay_stops(ReplayTable([p], probes=1, n_orders=1), PosteriorStop(horizon=8))
        >>> out.calls.tolist(), out.correct.tolist()
        ([[4.0]], [[1.0]])
    """
    if isinstance(rules, PosteriorStop):
        rules = [rules] * table.n_problems
    if len(rules) != table.n_problems:
        raise TTCConfigError("replay_stops needs one rule, or one per question.")
    widths = np.zeros((table.n_problems, table.n_orders), dtype=int)
    for p, rule in enumerate(rules):
        cap = min(rule.horizon, table.width)
        mask = rule.prefix_mask(PrefixVotes(table.codes[p, :, :cap], table.confidences[p, :, :cap]))
        schedule = [w for w in range(1, cap + 1) if rule.on_schedule(w)]
        widths[p] = cap
        for w in reversed(schedule):  # the first width where the rule fires
            widths[p] = np.where(mask[:, w - 1], w, widths[p])
        if rule.start > cap:
            widths[p] = cap
    prefix = table.prefix(aggregator)
    columns = (widths - 1)[..., None]
    correct = np.take_along_axis(prefix.correct, columns, axis=2)[..., 0]
    calls = np.take_along_axis(prefix.calls, columns, axis=2)[..., 0]
    tokens = np.take_along_axis(prefix.tokens, columns, axis=2)[..., 0]
    return Outcome(correct, calls, tokens)


def _votes(table: ReplayTable, p: int, o: int, width: int) -> Votes:
    codes = table.codes[p, o, :width]
    confidences = table.confidences[p, o, :width]
    return Votes(
        tuple(None if c < 0 else int(c) for c in codes),
        None if np.isnan(confidences).any() else tuple(float(c) for c in confidences),
    )


def replay_batch(
    table: ReplayTable,
    allocation: BatchAllocation,
    *,
    priors: Sequence[Sequence[float] | None] | None = None,
    orders: Sequence[int] | None = None,
) -> Outcome:
    """The batch allocator over all of ``table``'s questions at once, in each order: per
    (question, order) the correctness of its answer and the samples it got.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> easy = ProblemSamples.from_lists("e", ["4"] * 8, [1] * 8)
        >>> split = ProblemSamples.from_lists("s", ["4", "5"] * 4, [1, 0] * 4)
        >>> table = ReplayTable([easy, split], probes=1, n_orders=1)
        >>> out = replay_batch(table, BatchAllocation(budget=4, start=2, cap=8))
        >>> bool(out.calls.sum() <= 8), bool(out.calls[0, 0] < out.calls[1, 0])
        (True, True)
    """
    if allocation.cap > table.width:
        raise TTCConfigError(
            f"The allocation's cap of {allocation.cap} samples exceeds the pool's "
            f"{table.width} per question; lower cap or build the pool with a larger --k-max."
        )
    orders = list(range(table.n_orders)) if orders is None else list(orders)
    n = table.n_problems
    correct = np.zeros((n, table.n_orders))
    calls = np.zeros((n, table.n_orders))
    for o in orders:
        drawn = [min(allocation.start, allocation.cap)] * n
        left = allocation.total(n) - sum(drawn)
        while True:
            votes = [_votes(table, p, o, drawn[p]) for p in range(n)]
            extra = next_round(votes, allocation, left, priors)
            if not any(extra):
                break
            drawn = [d + e for d, e in zip(drawn, extra, strict=True)]
            left -= sum(extra)
        for p in range(n):
            votes = _votes(table, p, o, drawn[p])
            answer = final_answer(votes, allocation.slope, allocation.center)
            calls[p, o] = drawn[p]
            if answer is not None:
                first = int(np.flatnonzero(table.codes[p, o, : drawn[p]] == answer)[0])
                correct[p, o] = table.grades[p, o, first]
    keep = np.array(orders)
    return Outcome(correct[:, keep], calls[:, keep])


def method_curve(
    run: Callable[[int], Outcome], caps: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(mean calls, mean accuracy) of an adaptive method at each cap, sorted by calls: a curve
    to interpolate at another method's mean calls.

    Example:
        >>> def fake(cap):
        ...     return Outcome(np.full((2, 1), cap / 10), np.full((2, 1), float(cap)))
        >>> method_curve(fake, [4, 2])[1].tolist()
        [0.2, 0.4]
    """
    points = []
    for cap in caps:
        outcome = run(cap)
        points.append((float(outcome.calls.mean()), float(outcome.correct.mean())))
    points.sort()
    return np.array([c for c, _ in points]), np.array([a for _, a in points])
