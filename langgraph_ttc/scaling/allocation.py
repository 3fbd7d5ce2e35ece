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
* :func:`fit_batch`: the batch allocation chosen on fitting questions among
  :func:`batch_candidates`, starting from the one that reproduces the router's per-question
  stops (:meth:`BatchAllocation.from_rule <langgraph_ttc.allocation.BatchAllocation.from_rule>`):
  another replaces it only where it is more accurate on the fitting questions by more than
  their noise, so a fitted batch is never designed to do worse than the router.
* :func:`method_curve`: an adaptive method's (accuracy, mean calls) at several caps, to read
  it at another method's calls (Adaptive-Consistency, DeepConf online).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from langgraph_ttc.allocation import BatchAllocation, final_answers, next_round
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling.replay import Outcome, ReplayTable
from langgraph_ttc.stopping import PosteriorStop, PrefixVotes, Votes

__all__ = [
    "BatchFit",
    "batch_candidates",
    "fit_batch",
    "method_curve",
    "replay_batch",
    "replay_stops",
]


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
    totals: Sequence[int] | None = None,
) -> Outcome:
    """The batch allocator over all of ``table``'s questions at once, in each order: per
    (question, order) the correctness of its answer and the samples it got. ``totals``: each
    order's total samples (e.g. what another method spent on that order; default the
    allocation's ``total``).

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
    if totals is not None and len(totals) != table.n_orders:
        raise TTCConfigError("replay_batch needs one total per order of the table.")
    for o in orders:
        drawn = [min(allocation.start, allocation.cap)] * n
        total = allocation.total(n) if totals is None else int(totals[o])
        left = total - sum(drawn)
        while True:
            votes = [_votes(table, p, o, drawn[p]) for p in range(n)]
            extra = next_round(votes, allocation, left, priors)
            if not any(extra):
                break
            drawn = [d + e for d, e in zip(drawn, extra, strict=True)]
            left -= sum(extra)
        answers = final_answers([_votes(table, p, o, drawn[p]) for p in range(n)], allocation)
        for p, answer in enumerate(answers):
            calls[p, o] = drawn[p]
            if answer is not None:
                first = int(np.flatnonzero(table.codes[p, o, : drawn[p]] == answer)[0])
                correct[p, o] = table.grades[p, o, first]
    keep = np.array(orders)
    return Outcome(correct[:, keep], calls[:, keep])


@dataclass(frozen=True)
class BatchFit:
    """A batch allocation fitted on pools (:func:`fit_batch`).

    Attributes:
        allocation: the chosen allocation (its ``budget`` the fitting budget: replace it with
            ``dataclasses.replace`` for another).
        own_priors: whether it reads each question's own zero-probe prior.
        label: the chosen candidate's name (``"router"``: the reference).
        rows: per candidate its label, fitting accuracy, gain over the reference and the
            standard error of that gain (paired over questions), and whether it was chosen.
    """

    allocation: BatchAllocation
    own_priors: bool
    label: str
    rows: tuple[dict, ...]


def batch_candidates(
    reference: BatchAllocation,
    *,
    width: int,
    own_priors: bool = False,
    priors: bool = False,
    future: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    caps: Sequence[int] = (),
) -> list[tuple[str, BatchAllocation, bool]]:
    """``(label, allocation, reads each question's own prior)`` to try: the reference first
    (``"router"``: e.g. :meth:`BatchAllocation.from_rule
    <langgraph_ttc.allocation.BatchAllocation.from_rule>`, the router's own stops), then the
    batch that spends the whole total on the largest gains per sample (``"spend all"``: no
    price), and that with each change: the look-ahead that counts future samples' confidence
    evidence (``future``, with a confidence vote), the other prior source (when per-question
    ``priors`` exist), counts plus evidence as the vote, larger per-question caps (``caps``
    up to ``width``), one sample first with the question's own prior.

    Example:
        >>> ref = BatchAllocation(budget=4, start=2, cap=8, min_gain=0.01)
        >>> [label for label, _, _ in batch_candidates(ref, width=16, caps=(16,))]
        ['router', 'spend all', 'spend all, cap 16']
    """
    replace = dataclasses.replace
    out = [("router", reference, own_priors)]
    base, name = replace(reference, min_gain=0.0), "spend all"
    if reference.min_gain > 0.0:
        out.append((name, base, own_priors))
    if future is not None and reference.slope != 0.0:
        base, name = replace(base, future=future), f"{name}, future evidence"
        out.append((name, base, own_priors))
    if priors:
        other = "pool prior" if own_priors else "own priors"
        out.append((f"{name}, {other}", base, not own_priors))
    if reference.vote is not None and reference.slope != 0.0:
        out.append((f"{name}, evidence vote", replace(base, vote=None), own_priors))
    for cap in sorted({c for c in caps if reference.cap < c <= width}):
        out.append((f"{name}, cap {cap}", replace(base, cap=cap), own_priors))
    if priors and reference.start > 1:
        out.append((f"{name}, start 1, own priors", replace(base, start=1), True))
    return out


def fit_batch(
    table: ReplayTable,
    budget: float,
    candidates: Sequence[tuple[str, BatchAllocation, bool]],
    *,
    priors: Sequence[Sequence[float]] | None = None,
    totals: Sequence[int] | None = None,
    z: float = 2.0,
) -> BatchFit:
    """The batch allocation to use at ``budget`` mean samples per question, fitted on
    ``table``'s questions (replayed on each of its orders): the first candidate (the
    reference, e.g. the router's own stops, :meth:`BatchAllocation.from_rule
    <langgraph_ttc.allocation.BatchAllocation.from_rule>`) unless another is more accurate by
    more than ``z`` standard errors of the paired per-question difference, then the most
    accurate of those. Choosing the best of several on the same questions flatters it; the
    margin keeps noise from replacing the reference (as calibrate's shrinkage toward one
    plan). ``priors``: each question's own zero-probe prior, cross-fitted (as
    :func:`langgraph_ttc.scaling.calibrate.question_priors`), for candidates that read them;
    ``totals``: each order's total instead of ``budget`` per question (e.g. the router's spend
    on that order, for a batch at the router's own total).

    Bandit-style allocation of one budget over a batch: arXiv 2506.12721.

    Example:
        >>> from langgraph_ttc.scaling.samples import ProblemSamples
        >>> easy = ProblemSamples.from_lists("e", ["4"] * 8, [1] * 8)
        >>> split = ProblemSamples.from_lists("s", ["4", "5"] * 4, [1, 0] * 4)
        >>> table = ReplayTable([easy, split], probes=1, n_orders=2)
        >>> ref = BatchAllocation(budget=4, start=2, cap=4, min_gain=0.01)
        >>> fit = fit_batch(table, 4, batch_candidates(ref, width=8, caps=(8,)))
        >>> fit.label, [row["label"] for row in fit.rows]
        ('router', ['router', 'spend all', 'spend all, cap 8'])
    """
    if not candidates:
        raise TTCConfigError("fit_batch needs at least one candidate (the reference first).")
    rows, scores = [], []
    for label, allocation, own in candidates:
        if own and priors is None:
            raise TTCConfigError(f"Candidate {label!r} reads each question's prior: pass priors.")
        allocation = dataclasses.replace(allocation, budget=max(float(budget), allocation.start))
        outcome = replay_batch(table, allocation, priors=priors if own else None, totals=totals)
        scores.append((allocation, own, label, outcome.correct.mean(axis=1)))
    reference = scores[0][3]
    best = 0
    for i, (_, _, label, per_question) in enumerate(scores):
        diff = per_question - reference
        gain = float(diff.mean())
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        rows.append({"label": label, "accuracy": round(float(per_question.mean()), 4),
                     "gain": round(gain, 4), "se": round(se, 4)})  # fmt: skip
        if i and gain > z * se and gain > 0 and gain > rows[best]["gain"]:
            best = i
    for i, row in enumerate(rows):
        row["chosen"] = i == best
    allocation, own, label, _ = scores[best]
    return BatchFit(allocation, own, label, tuple(rows))


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
