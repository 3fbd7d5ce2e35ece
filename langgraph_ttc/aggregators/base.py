"""What every aggregator shares: the ballots it reads, the result it returns, the tie rule, and
the :class:`Aggregator` contract (vote, needs, cost of one attempt, replay, estimator).

Every vote takes the candidates' final answers (normalised; ``None`` for a sample with no answer
or a failed sample) plus, where needed, scores, verdicts or confidences. Ties are broken by the
earliest candidate: the answer whose first occurrence has the lowest index wins, which keeps
results reproducible and independent of dict ordering. Sums of weights that differ only by
floating-point rounding (0.3 + 0.6 against 0.9) are ties (:func:`tied`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

__all__ = [
    "Aggregate",
    "Aggregator",
    "BallotTable",
    "Ballots",
    "tied",
    "weighted_vote",
]

REL_TIE = 1e-9  # sums of weights this close are equal (rounding, not a real difference)
ABS_TIE = 1e-12


def tied(value: float, best: float) -> bool:
    """Whether ``value`` equals ``best`` up to floating-point rounding.

    Example:
        >>> tied(0.3 + 0.6, 0.9), tied(0.8, 0.9)
        (True, False)
    """
    return abs(best - value) <= max(REL_TIE * max(abs(best), abs(value)), ABS_TIE)


def tied_array(values: np.ndarray, best: np.ndarray) -> np.ndarray:
    """:func:`tied` elementwise (``best`` broadcast against ``values``)."""
    scale = np.maximum(REL_TIE * np.maximum(np.abs(best), np.abs(values)), ABS_TIE)
    return np.abs(best - values) <= scale


@dataclass(frozen=True)
class Aggregate:
    """The chosen answer, the index of a candidate carrying it, and the tally behind the choice.

    ``confidence`` is the winner's share of the tally (votes or score mass), in [0, 1].
    """

    answer: Hashable | None
    index: int | None
    tally: dict = field(default_factory=dict)
    confidence: float = 0.0
    method: str = ""


@dataclass(frozen=True)
class Ballots:
    """What an aggregator reads of the candidates, column by column (same length each).

    Example:
        >>> Ballots.of([{"answer": "4", "ok": True, "score": 0.5}, {"answer": "5", "ok": False}])
        Ballots(answers=('4', None), scores=(0.5, 0.0), verdicts=(None, None), confidences=(None, None))
    """

    answers: tuple[Hashable | None, ...]
    scores: tuple[float, ...] = ()
    verdicts: tuple[bool | None, ...] = ()
    confidences: tuple[float | None, ...] = ()
    # Columns a method of its own reads (``Aggregator.columns``): (name, values) pairs.
    columns: tuple[tuple[str, tuple], ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, candidates: Sequence[Mapping], columns: Sequence[str] = ()) -> Ballots:
        """Ballots from candidate dicts: failed samples have no answer, a missing score is 0;
        ``columns`` names further candidate fields to carry (``None`` where absent).

        Example:
            >>> Ballots.of([{"answer": "4", "ok": True, "step": 2}], columns=["step"]).column("step")
            (2,)
        """
        return cls(
            answers=tuple(c.get("answer") if c.get("ok") else None for c in candidates),
            scores=tuple(float(c.get("score") or 0.0) for c in candidates),
            verdicts=tuple(c.get("verdict") for c in candidates),
            confidences=tuple(c.get("confidence") for c in candidates),
            columns=tuple((name, tuple(c.get(name) for c in candidates)) for name in columns),
        )

    def column(self, name: str) -> tuple:
        """A method's own column (see :meth:`of`); every value ``None`` when it was not read."""
        for key, values in self.columns:
            if key == name:
                return values
        return (None,) * len(self.answers)


@dataclass(frozen=True)
class BallotTable:
    """Many orders of one problem's samples at once, for the vectorised replay.

    ``codes[o, i]`` is the answer code of the ``i``-th sample of order ``o`` (-1: no answer);
    ``scores``, ``verdicts`` (1/0, NaN unknown) and ``confidences`` are aligned with it.
    """

    codes: np.ndarray
    scores: np.ndarray | None = None
    verdicts: np.ndarray | None = None
    confidences: np.ndarray | None = None

    @property
    def n_answers(self) -> int:
        return int(self.codes.max(initial=-1)) + 1

    def ballots(self, order: int, width: int) -> Ballots:
        """One order's first ``width`` samples as :class:`Ballots` (answers are their codes)."""
        row = slice(0, width)

        def column(values: np.ndarray | None, convert) -> tuple:
            return () if values is None else tuple(convert(v) for v in values[order, row])

        return Ballots(
            answers=tuple(None if c < 0 else int(c) for c in self.codes[order, row]),
            scores=column(self.scores, float),
            verdicts=column(self.verdicts, lambda v: None if np.isnan(v) else bool(v >= 0.5)),
            confidences=column(self.confidences, float),
        )


class Aggregator:
    """One way of choosing the final answer, with everything the rest of the library needs to
    know about it, so nothing else switches on its name.

    Attributes:
        name: the registry name (plans, policies, the CLI).
        needs: what the candidates must carry: ``"verdicts"`` (a self-critique per sample, the
            filter of filter-vote), ``"scores"`` (a verifier score per sample) or
            ``"confidences"`` (the model's token confidence per sample).
        extra_stages: stages of a method of its own that run after the samples (and their
            critique and scores) and before the vote, in order; each is a node registered
            under that name (:func:`langgraph_ttc.nodes.stages.register_stage`), e.g.
            GenSelect's ``"select"``.
        columns: candidate fields beyond the fixed ones that :meth:`vote` reads
            (:meth:`Ballots.column`).
        not_replayable: why a pool of independent samples cannot replay this vote (it calls
            the model when it aggregates); empty for a vote the replay, curves from a pool,
            calibrate and compare can read. Those skip the others and say why.
        estimate: whether :meth:`at_k` is ``"exact"`` or ``"monte_carlo"``.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    extra_stages: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[tuple[str, ...]] = ()
    not_replayable: ClassVar[str] = ""
    estimate: ClassVar[str] = "exact"  # how at_k computes: "exact" or "monte_carlo"

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages between the samples and the vote, in order: the critique when verdicts
        are needed, the verifier when scores are, then the method's own.

        Example:
            >>> from langgraph_ttc.aggregators import get_aggregator
            >>> get_aggregator("filter_vote").stages, get_aggregator("majority").stages
            (('critique',), ())
        """
        fixed = (("critique", "verdicts"), ("verify", "scores"))
        return (*(stage for stage, need in fixed if need in self.needs), *self.extra_stages)

    def run_calls(self, width: int, options: Mapping | None = None) -> int:
        """Most calls one run spends beyond its attempts' own (:meth:`attempt_calls`): the
        calls a method makes when it aggregates (GenSelect's selections, RSA's rounds), given
        ``width`` attempts and the plan's method ``options``. 0 for a pure vote."""
        return 0

    def vote(self, ballots: Ballots) -> Aggregate:
        """The choice among the candidates (pure)."""
        raise NotImplementedError

    def attempt_calls(self, verify_calls: int = 0) -> int:
        """Most calls one attempt costs: the sample, its critique when verdicts are needed, and
        ``verify_calls`` scoring calls when scores are (0 for a programmatic verifier).

        Example:
            >>> from langgraph_ttc.aggregators import get_aggregator
            >>> [get_aggregator(a).attempt_calls(1) for a in ("majority", "filter_vote", "best_of_n")]
            [1, 2, 2]
        """
        critique = 1 if "verdicts" in self.needs else 0
        score = verify_calls if "scores" in self.needs else 0
        return 1 + critique + score

    def prefix_winners(self, table: BallotTable) -> np.ndarray:
        """``winners[o, w - 1]``: the position (in order ``o``) of the candidate chosen from the
        first ``w`` samples, -1 when none has an answer. The replay reads every prefix of every
        order from this; the default votes once per prefix, aggregators override it with array
        code that must agree with :meth:`vote` exactly (a test checks each registered one)."""
        orders, width = table.codes.shape
        winners = np.full((orders, width), -1)
        for o in range(orders):
            for w in range(1, width + 1):
                index = self.vote(table.ballots(o, w)).index
                winners[o, w - 1] = -1 if index is None else index
        return winners

    def at_k(
        self,
        answers: Sequence[Hashable | None],
        correct: Sequence[float],
        k: int,
        *,
        scores: Sequence[float] | None = None,
        verdicts: Sequence[float] | None = None,
        confidences: Sequence[float] | None = None,
        rng: np.random.Generator | None = None,
        n_sub: int = 200,
    ) -> float:
        """Expected accuracy with ``k`` of a problem's pooled samples (scaling curves);
        ``rng`` and ``n_sub`` drive the Monte Carlo estimates."""
        raise NotImplementedError(f"{self.name} has no estimator")

    def __repr__(self) -> str:
        return f"<aggregator {self.name}>"


def weighted_vote(
    answers: Sequence[Hashable | None], weights: Sequence[float], method: str = "weighted"
) -> Aggregate:
    """Sum ``weights`` per distinct answer and return the heaviest answer (earliest on ties).

    Example:
        >>> weighted_vote(["b", "b", "a"], [0.3, 0.6, 0.9]).answer  # 0.3 + 0.6 ties 0.9
        'b'
    """
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    tally: dict = {}
    first_seen: dict = {}
    for index, (answer, weight) in enumerate(zip(answers, weights, strict=True)):
        if answer is None:
            continue
        first_seen.setdefault(answer, index)
        tally[answer] = tally.get(answer, 0.0) + float(weight)
    return pick(tally, first_seen, method)


def pick(tally: dict, first_seen: dict, method: str) -> Aggregate:
    """The answer with the highest tally; among tied ones, the one seen first."""
    if not tally:
        return Aggregate(None, None, {}, 0.0, method)
    best = max(tally.values())
    answer = min((a for a in tally if tied(tally[a], best)), key=first_seen.__getitem__)
    mass = sum(tally.values())
    confidence = tally[answer] / mass if mass > 0 else 0.0
    return Aggregate(answer, first_seen[answer], dict(tally), confidence, method)


def prefix_weighted_winners(codes: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """:func:`weighted_vote` at every prefix of every order (``weights`` None: one vote each).

    Example:
        >>> prefix_weighted_winners(np.array([[1, 0, 0, -1]]), None).tolist()
        [[0, 0, 1, 1]]
    """
    orders, width = codes.shape
    n_answers = int(codes.max(initial=-1)) + 1
    if n_answers == 0:
        return np.full((orders, width), -1)
    onehot = codes[..., None] == np.arange(n_answers)  # (orders, width, answers)
    present = np.cumsum(onehot, axis=1) > 0
    mass = onehot if weights is None else onehot * weights[..., None]
    sums = np.cumsum(mass, axis=1, dtype=float)
    # Position of each answer's first occurrence in each order (width if it never occurs).
    first = np.where(onehot.any(axis=1), onehot.argmax(axis=1), width)  # (orders, answers)
    best = np.where(present, sums, -np.inf).max(axis=2, keepdims=True)
    top = present & tied_array(sums, best)
    key = np.where(top, -first[:, None, :], -np.iinfo(np.int64).max)
    winner = key.argmax(axis=2)  # the earliest of the tied answers
    position = np.take_along_axis(
        np.broadcast_to(first[:, None, :], sums.shape), winner[..., None], axis=2
    )[..., 0]
    return np.where(present.any(axis=2), position, -1)
