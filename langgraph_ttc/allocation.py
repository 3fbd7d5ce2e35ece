"""Batch allocation: many questions, one total budget, the next samples where they pay most.

Per-question routing caps every question at the same budget, so compute saved on easy and
hopeless questions is simply not spent. A batch allocator spends it on the questions still in
play (bandit-style allocation over a batch, arXiv 2506.12721: up to +11 points on MATH-500
over uniform allocation at equal compute; SPEC sec. 5): every question gets ``start`` samples,
then, round after round, the questions whose posterior (:mod:`langgraph_ttc.posterior`)
promises the largest expected accuracy gain per extra sample get ``chunk`` more, up to ``cap``
each, until the total budget is spent or no question promises more than ``min_gain``.

Everything here is pure: the live driver (:mod:`langgraph_ttc.batch`) and the replay on pools
(:mod:`langgraph_ttc.scaling.allocation`) call :func:`next_round` and :func:`final_answer` on
the same tallies, so they allocate and answer the same.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.pooling import PooledEvidence, pooled_evidence, pooled_prior
from langgraph_ttc.posterior import assess, evidence, tally
from langgraph_ttc.stopping import PosteriorStop, Votes

__all__ = [
    "BatchAllocation",
    "batch_evidence",
    "final_answer",
    "final_answers",
    "gain_rate",
    "next_round",
]


@dataclass(frozen=True)
class BatchAllocation:
    """How to spread ``budget`` samples per question on average over a batch.

    Args:
        budget: mean samples per question; the batch's total is ``floor(budget * questions)``.
        start: samples every question gets first (1 is enough with a zero-probe prior).
        chunk: samples a chosen question gets per round.
        cap: the most samples one question may get.
        per_round: the share of the batch's questions served in one round (at least one): a
            smaller share decides on fresher evidence, a larger one has more requests in flight.
        min_gain: the expected accuracy gain per sample a question must promise to get more
            (a posterior stop's price: with it, a question stops as the rule would, and what
            the batch's total leaves over is not spent).
        prior: weights over single-sample accuracy (:data:`langgraph_ttc.posterior.Q_GRID`),
            for every question (per-question priors are passed to :func:`next_round`).
        slope / center: confidence as evidence (see :class:`~langgraph_ttc.stopping.PosteriorStop`).
        future: the evidence a future right and wrong sample bring (equally likely values,
            :func:`langgraph_ttc.scaling.prior.evidence_profile`), so that the look-ahead of a
            confidence vote counts it; ``None``: future samples count as votes only.
        vote: the aggregator that answers each question (a name, e.g. the router's fitted
            vote); ``None``: counts plus confidence evidence (:func:`final_answer`).
        pooled: fit the prior to the batch itself (empirical Bayes over the batch's tallies,
            :func:`langgraph_ttc.pooling.pooled_prior`), shrunk toward ``prior`` (or the
            per-question priors) by this many pseudo-questions; ``None``: no pooling.
        refit: with ``pooled``, when the batch's fit is redone: ``"probes"``, once on every
            question's first ``start`` samples; ``"rounds"``, every round on all samples.
        pool_evidence: with ``pooled`` and a ``slope``, also refit the confidence evidence to
            the batch (:func:`langgraph_ttc.pooling.pooled_evidence`): the gains read it, and
            so does the answer where the vote is counts plus evidence (``None`` or an
            ``evidence_<slope>@<center>`` vote).

    Example:
        >>> BatchAllocation(budget=8, cap=32).total(10)
        80
    """

    budget: float = 8.0
    start: int = 2
    chunk: int = 2
    cap: int = 32
    per_round: float = 0.1
    min_gain: float = 0.0
    prior: tuple[float, ...] | None = None
    slope: float = 0.0
    center: float = 0.0
    future: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    vote: str | None = None
    pooled: float | None = None
    refit: str = "probes"
    pool_evidence: bool = False

    def __post_init__(self) -> None:
        if self.start < 1 or self.chunk < 1 or self.cap < self.start:
            raise TTCConfigError(
                f"BatchAllocation needs start >= 1, chunk >= 1 and cap >= start; got "
                f"start={self.start}, chunk={self.chunk}, cap={self.cap}."
            )
        if self.budget < self.start:
            raise TTCConfigError(
                f"BatchAllocation budget {self.budget} is below the {self.start} samples every "
                "question gets first; lower start or raise the budget."
            )
        if not 0 < self.per_round <= 1 or self.min_gain < 0:
            raise TTCConfigError("BatchAllocation needs 0 < per_round <= 1 and min_gain >= 0.")
        if self.pooled is not None and not 0 <= self.pooled < float("inf"):
            raise TTCConfigError(
                f"BatchAllocation pooled must be a number >= 0 (pseudo-questions) or None; got "
                f"{self.pooled}."
            )
        if self.refit not in ("probes", "rounds"):
            raise TTCConfigError(
                f"BatchAllocation refit must be 'probes' or 'rounds'; got {self.refit!r}."
            )
        if self.prior is not None:
            object.__setattr__(self, "prior", tuple(float(p) for p in self.prior))
        if self.future is not None:
            future = tuple(tuple(float(e) for e in side) for side in self.future)
            if len(future) != 2 or not all(future):
                raise TTCConfigError(
                    "BatchAllocation future must be (right samples' evidence, wrong samples' "
                    "evidence), both non-empty; fit it with langgraph_ttc.scaling.prior."
                    "evidence_profile."
                )
            object.__setattr__(self, "future", future)
        if self.vote is not None:
            from langgraph_ttc.aggregators import get_aggregator

            if get_aggregator(self.vote).needs - {"confidences"}:
                raise TTCConfigError(
                    f"BatchAllocation vote {self.vote!r} needs more than answers and "
                    "confidences; use majority, a confidence vote or None."
                )

    @classmethod
    def from_rule(
        cls, rule: PosteriorStop, budget: float, *, vote: str | None = None, **changes: Any
    ) -> BatchAllocation:
        """The batch allocation that draws as a router's posterior stop does: every question
        gets the rule's ``start`` samples, then ``step`` more at a time up to its ``horizon``,
        by the same posterior (prior, confidence evidence), a question served while its gain
        per sample is at least the rule's price (``min_gain``), answered by the router's
        ``vote``. Given at least the total the rule spends on a batch, it draws and answers
        every question exactly as the rule does (a stopped question's tally, so its gain, no
        longer changes); it is the reference a fitted batch allocation must beat
        (:func:`langgraph_ttc.scaling.allocation.fit_batch`). ``changes`` override fields
        (e.g. ``min_gain=0.0`` to spend the whole total, ``cap``, ``future``).

        Example:
            >>> rule = PosteriorStop(cost=0.01, horizon=8, start=2, step=2)
            >>> BatchAllocation.from_rule(rule, budget=4, vote="majority").cap
            8
        """
        fields = dict(
            budget=max(float(budget), rule.start), start=rule.start, chunk=rule.step,
            cap=rule.horizon, min_gain=rule.cost, prior=rule.prior, slope=rule.slope,
            center=rule.center, vote=vote,
        )  # fmt: skip
        return cls(**(fields | changes))

    def total(self, questions: int) -> int:
        """The batch's total samples."""
        return int(math.floor(self.budget * questions + 1e-9))


def gain_rate(
    votes: Votes,
    allocation: BatchAllocation,
    prior: Sequence[float] | None = None,
    beta_prior: Sequence[float] | None = None,
) -> float:
    """The best expected accuracy gain per extra sample the posterior promises for one
    question: over 1, 2, 4, ... chunks more and the rest of its cap.

    Example:
        >>> split = gain_rate(Votes(("4", "5")), BatchAllocation())
        >>> settled = gain_rate(Votes(("4",) * 6), BatchAllocation())
        >>> split > settled
        True
    """
    room = allocation.cap - votes.drawn
    if room <= 0:
        return 0.0
    steps, m = {room}, allocation.chunk
    while m < room:
        steps.add(m)
        m *= 2
    view = assess(
        votes.answers,
        votes.confidences,
        prior=prior if prior is not None else allocation.prior,
        slope=allocation.slope,
        center=allocation.center,
        lookahead=tuple(sorted(steps)),
        future=allocation.future,
        beta_prior=beta_prior,
    )
    return view.best_rate()


def next_round(
    votes: Sequence[Votes],
    allocation: BatchAllocation,
    left: int,
    priors: Sequence[Sequence[float] | None] | None = None,
) -> list[int]:
    """How many more samples each question gets this round (all zero: the batch is done).

    ``votes[i]`` is question i's samples so far, ``left`` the batch's samples not yet spent.
    The questions promising the most gain per sample (ties: the earlier question) get
    ``chunk`` each, as many questions as ``per_round`` serves, within ``left`` and their caps.
    With ``allocation.pooled``, the gains are read under the prior fitted to the batch's own
    tallies (:mod:`langgraph_ttc.pooling`), the one thing a batch knows that a router cannot.

    Example:
        >>> batch = [Votes(("4", "4")), Votes(("4", "5")), Votes(("7", "7"))]
        >>> next_round(batch, BatchAllocation(per_round=0.3), left=4)
        [0, 2, 0]
    """
    beta = None
    fitted = batch_evidence(votes, allocation)
    if fitted is not None:  # the batch's own confidence scale
        future = None if allocation.future is None else fitted.future
        allocation = dataclasses.replace(
            allocation, slope=fitted.slope, center=fitted.center, future=future
        )
    if allocation.pooled is not None:  # the batch's own prior (empirical Bayes)
        fit = pooled_prior(
            votes, base=allocation.prior, priors=priors, slope=allocation.slope,
            center=allocation.center, strength=allocation.pooled,
            samples=allocation.start if allocation.refit == "probes" else None,
        )  # fmt: skip
        priors, beta = fit.priors, fit.beta
    rates = [
        gain_rate(v, allocation, None if priors is None else priors[i], beta)
        for i, v in enumerate(votes)
    ]
    serve = max(1, math.ceil(allocation.per_round * len(votes)))
    order = sorted(range(len(votes)), key=lambda i: (-rates[i], i))
    extra = [0] * len(votes)
    for i in order[:serve]:
        # As a posterior stop: more while the gain per sample is at least the price (and any).
        if left <= 0 or rates[i] <= 0.0 or rates[i] < allocation.min_gain:
            break
        extra[i] = min(allocation.chunk, allocation.cap - votes[i].drawn, left)
        left -= extra[i]
    return extra


def batch_evidence(votes: Sequence[Votes], allocation: BatchAllocation) -> PooledEvidence | None:
    """The confidence evidence refitted to the batch (``allocation.pool_evidence``), on its
    probes or on all its samples (``refit``); ``None`` when there is none to refit.

    Example:
        >>> batch_evidence([Votes(("4", "4"))], BatchAllocation()) is None
        True
    """
    if allocation.pooled is None or not allocation.pool_evidence or allocation.slope == 0.0:
        return None
    samples = allocation.start if allocation.refit == "probes" else None
    cut = tuple(Votes(v.answers[:samples], None if v.confidences is None else
                      v.confidences[:samples]) for v in votes)  # fmt: skip
    return _evidence(cut, allocation.slope, allocation.center, allocation.prior,
                     allocation.pooled)  # fmt: skip


@lru_cache(maxsize=1024)  # a batch refits on the same probes every round
def _evidence(votes, slope, center, prior, strength) -> PooledEvidence | None:
    return pooled_evidence(votes, slope=slope, center=center, prior=prior, strength=strength)


def final_answers(votes: Sequence[Votes], allocation: BatchAllocation) -> list[Hashable | None]:
    """Every question's answer at the end of a batch (:func:`final_answer` with the
    allocation's evidence and vote; with ``pool_evidence``, a vote of counts plus evidence
    reads the batch's refitted evidence). Live and replay answer through it.

    Example:
        >>> final_answers([Votes(("5", "4", "4")), Votes((None,))], BatchAllocation())
        ['4', None]
    """
    slope, center, vote = allocation.slope, allocation.center, allocation.vote
    fitted = batch_evidence(votes, allocation)
    if fitted is not None and (vote is None or vote.startswith("evidence_")):
        slope, center, vote = fitted.slope, fitted.center, None
    return [final_answer(v, slope, center, vote) for v in votes]


def final_answer(
    votes: Votes, slope: float = 0.0, center: float = 0.0, vote: str | None = None
) -> Hashable | None:
    """The best-supported answer: most votes plus confidence evidence (with ``slope`` 0, the
    majority; ties go to the answer seen first); with ``vote``, that aggregator's answer (a
    router's fitted vote, read from the answers and confidences only).

    Example:
        >>> final_answer(Votes(("5", "4", "4", None)))
        '4'
        >>> final_answer(Votes(("5", "4", "4"), (0.9, 0.1, 0.1)), vote="confidence_weighted")
        '5'
    """
    if vote is not None:
        from langgraph_ttc.aggregators import Ballots, get_aggregator

        confidences = votes.confidences or (None,) * votes.drawn
        return get_aggregator(vote).vote(Ballots(votes.answers, confidences=confidences)).answer
    counts, _, confs = tally(votes.answers, votes.confidences)
    if not counts:
        return None
    llr = evidence(confs, slope, center)
    scores = [c + e for c, e in zip(counts, llr, strict=True)]
    best = max(range(len(scores)), key=lambda j: (scores[j], -j))
    seen: list[Hashable] = []
    for answer in votes.answers:
        if answer is not None and answer not in seen:
            seen.append(answer)
    return seen[best]
