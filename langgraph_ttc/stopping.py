"""Stop rules for drawing samples in rounds: small composable objects in tenacity's style.

A rule looks at the votes drawn so far and says whether to stop drawing::

    >>> rule = AgreementAtLeast(0.75) | SamplesAtLeast(8)
    >>> rule(Votes(("4", "4", "4", "5"))), rule(Votes(("4", "5", "6")))
    (True, False)

``|`` stops when either rule fires, ``&`` when both do. The live graph (the generate node of a
sequential plan) and the replay of pools (:mod:`langgraph_ttc.scaling.replay`) call the same
objects, so a calibrated rule means the same thing in both. Rules are frozen dataclasses that
travel in graph state as plain dicts (:meth:`StopRule.to_dict`, :func:`stop_rule_from_dict`).

Rules here: :class:`AgreementAtLeast` (the leader's share of the votes: sequential majority),
:class:`BayesianStop` (Adaptive-Consistency's Beta criterion, Aggarwal et al. 2023),
:class:`ConsensusAtLeast` (DeepConf online's confidence-weighted consensus, Fu et al. 2025),
:class:`PosteriorStop` (the expected gain of more samples under a posterior over the question's
answers, :mod:`langgraph_ttc.posterior`) and :class:`SamplesAtLeast` (a cap on samples).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from langgraph_ttc.aggregators.deepconf import consensus
from langgraph_ttc.beta_stop import beta_should_stop, leader_probability
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.posterior import Assessment, assess

__all__ = [
    "AgreementAtLeast",
    "BayesianStop",
    "ConsensusAtLeast",
    "PosteriorStop",
    "SamplesAtLeast",
    "StopRule",
    "Votes",
    "register_stop_rule",
    "stop_rule_from_dict",
]


@dataclass(frozen=True)
class Votes:
    """What a stop rule sees: the first attempts' answers so far (``None`` = no answer), in draw
    order, and per-answer confidences where the plan collects them."""

    answers: tuple[Hashable | None, ...]
    confidences: tuple[float, ...] | None = None

    @property
    def drawn(self) -> int:
        return len(self.answers)

    def counts(self) -> dict[Hashable, int]:
        """Votes per answer, in order of first appearance (``None`` does not vote)."""
        counts: dict[Hashable, int] = {}
        for answer in self.answers:
            if answer is not None:
                counts[answer] = counts.get(answer, 0) + 1
        return counts

    def leader_share(self) -> float:
        """The most frequent answer's share of all samples drawn (0.0 when none answered).

        Example:
            >>> Votes(("4", "4", "5", None)).leader_share()
            0.5
        """
        counts = self.counts()
        return max(counts.values()) / self.drawn if counts else 0.0


class PrefixVotes:
    """Many orders of one problem's answers at once, for the vectorised replay: ``codes[o, i]``
    is the answer code (-1 = no answer) of the ``i``-th sample drawn in order ``o``.

    ``leader_counts[o, w - 1]`` is the leading answer's count among the first ``w`` samples.

    Example:
        >>> PrefixVotes(np.array([[0, 0, 1, -1]])).leader_counts.tolist()
        [[1, 2, 2, 2]]
    """

    def __init__(self, codes: np.ndarray, confidences: np.ndarray | None = None) -> None:
        self.codes = np.asarray(codes)
        self.confidences = confidences
        n_answers = int(self.codes.max(initial=-1)) + 1
        onehot = self.codes[..., None] == np.arange(max(n_answers, 1))
        self.counts = np.cumsum(onehot, axis=1)  # (orders, width, answers)
        self.leader_counts = self.counts.max(axis=2)
        self.onehot = onehot

    def votes(self, order: int, width: int) -> Votes:
        codes = self.codes[order, :width]
        confidences = None
        if self.confidences is not None:
            confidences = tuple(float(c) for c in self.confidences[order, :width])
        return Votes(tuple(None if c < 0 else int(c) for c in codes), confidences)


class StopRule:
    """Base of the stop rules: ``rule(votes) -> bool`` (True = stop drawing), composable with
    ``|`` and ``&``. Subclasses are frozen dataclasses with a registry ``kind``.

    :meth:`prefix_mask` evaluates the rule at every prefix of many orders at once (the replay);
    the default calls the rule once per prefix, and fast rules override it.
    """

    kind: ClassVar[str] = "rule"

    def __call__(self, votes: Votes) -> bool:
        raise NotImplementedError

    def __or__(self, other: StopRule) -> StopRule:
        return AnyOf((self, other))

    def __and__(self, other: StopRule) -> StopRule:
        return AllOf((self, other))

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        """``mask[o, w - 1]``: whether the rule stops after the first ``w`` samples of order o."""
        orders, width = prefixes.codes.shape
        return np.array(
            [[self(prefixes.votes(o, w)) for w in range(1, width + 1)] for o in range(orders)],
            dtype=bool,
        ).reshape(orders, width)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}  # type: ignore[call-overload]

    def describe(self) -> str:
        return repr(self)


_RULES: dict[str, Callable[..., StopRule]] = {}


def register_stop_rule(cls: type[StopRule]) -> type[StopRule]:
    """Class decorator: make a rule loadable from its dict form (in state and policy files)."""
    _RULES[cls.kind] = cls
    return cls


def stop_rule_from_dict(data: dict[str, Any] | None) -> StopRule | None:
    """The rule a dict describes (``None`` stays ``None``).

    Example:
        >>> stop_rule_from_dict((AgreementAtLeast(0.6) | SamplesAtLeast(8)).to_dict())
        AnyOf(rules=(AgreementAtLeast(share=0.6), SamplesAtLeast(n=8)))
    """
    if data is None:
        return None
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in _RULES:
        raise TTCConfigError(f"Unknown stop rule {kind!r}; known: {sorted(_RULES)}.")
    if "rules" in data:
        data["rules"] = tuple(stop_rule_from_dict(r) for r in data["rules"])
    return _RULES[kind](**data)


@register_stop_rule
@dataclass(frozen=True)
class AnyOf(StopRule):
    """Stops when any of its rules does (``a | b``)."""

    kind: ClassVar[str] = "any"
    rules: tuple[StopRule, ...] = field(default_factory=tuple)

    def __call__(self, votes: Votes) -> bool:
        return any(rule(votes) for rule in self.rules)

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        return np.logical_or.reduce([rule.prefix_mask(prefixes) for rule in self.rules])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rules": [rule.to_dict() for rule in self.rules]}

    def describe(self) -> str:
        return " or ".join(rule.describe() for rule in self.rules)


@register_stop_rule
@dataclass(frozen=True)
class AllOf(StopRule):
    """Stops when all of its rules do (``a & b``)."""

    kind: ClassVar[str] = "all"
    rules: tuple[StopRule, ...] = field(default_factory=tuple)

    def __call__(self, votes: Votes) -> bool:
        return all(rule(votes) for rule in self.rules)

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        return np.logical_and.reduce([rule.prefix_mask(prefixes) for rule in self.rules])

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rules": [rule.to_dict() for rule in self.rules]}

    def describe(self) -> str:
        return " and ".join(rule.describe() for rule in self.rules)


@register_stop_rule
@dataclass(frozen=True)
class AgreementAtLeast(StopRule):
    """Stop once the leading answer holds at least ``share`` of the samples drawn (sequential
    majority; Aggarwal et al. 2023, "Adaptive-Consistency", its simplest stopping criterion).

    Example:
        >>> AgreementAtLeast(0.6)(Votes(("4", "4", "5"))), AgreementAtLeast(0.7)(Votes(("4", "4", "5")))
        (True, False)
    """

    kind: ClassVar[str] = "agreement"
    share: float = 0.75

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise TTCConfigError(f"AgreementAtLeast share must be in (0, 1]; got {self.share}.")

    def __call__(self, votes: Votes) -> bool:
        return votes.drawn > 0 and votes.leader_share() >= self.share

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        widths = np.arange(1, prefixes.codes.shape[1] + 1)
        # Same comparison as __call__ (count / width >= share), so replay and live agree exactly.
        return prefixes.leader_counts / widths >= self.share

    def describe(self) -> str:
        return f"agreement >= {self.share:g}"


@register_stop_rule
@dataclass(frozen=True)
class SamplesAtLeast(StopRule):
    """Stop once ``n`` samples are drawn.

    Example:
        >>> SamplesAtLeast(3)(Votes(("4", None, "5")))
        True
    """

    kind: ClassVar[str] = "samples"
    n: int = 1

    def __call__(self, votes: Votes) -> bool:
        return votes.drawn >= self.n

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        orders, width = prefixes.codes.shape
        return np.broadcast_to(np.arange(1, width + 1) >= self.n, (orders, width))

    def describe(self) -> str:
        return f"{self.n} samples"


@register_stop_rule
@dataclass(frozen=True)
class BayesianStop(StopRule):
    """Adaptive-Consistency's Beta criterion (Aggarwal et al. 2023, arXiv 2305.11860; authors'
    code Pranjal2041/AdaptiveConsistency, ``BetaStoppingCriteria``): stop once the posterior
    probability that the current leader is the true majority (leader vs runner-up counts,
    uniform prior) reaches ``threshold`` (paper: 0.95).

    Example:
        >>> BayesianStop(0.95)(Votes(("4", "4", "4"))), BayesianStop(0.95)(Votes(("4",) * 4))
        (False, True)
    """

    kind: ClassVar[str] = "bayesian"
    threshold: float = 0.95

    def __post_init__(self) -> None:
        if not 0.5 <= self.threshold <= 1:
            raise TTCConfigError(
                f"BayesianStop threshold must be in [0.5, 1]; got {self.threshold} (paper: 0.95)."
            )

    def __call__(self, votes: Votes) -> bool:
        return beta_should_stop(votes.answers, self.threshold)

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        counts = prefixes.counts
        if counts.shape[2] < 2:
            counts = np.concatenate([counts, np.zeros_like(counts[..., :1])], axis=2)
        top_two = -np.partition(-counts, 1, axis=2)[..., :2]
        width = counts.shape[1]
        table = np.array(
            [[leader_probability(a, b) if a >= b else 0.0 for b in range(width + 1)]
             for a in range(width + 1)]
        )  # fmt: skip
        return table[top_two[..., 0], top_two[..., 1]] >= self.threshold

    def describe(self) -> str:
        return f"P(leader) >= {self.threshold:g}"


@register_stop_rule
@dataclass(frozen=True)
class ConsensusAtLeast(StopRule):
    """DeepConf online's stop (Fu et al. 2025, Algorithm 2): the confidence-weighted consensus
    ``V(a*) / sum_a V(a)`` of the samples so far reaches ``tau`` (paper: 0.95). Needs each
    sample's confidence.

    Example:
        >>> ConsensusAtLeast(0.75)(Votes(("4", "4", "5"), confidences=(2.0, 1.0, 1.0)))
        True
    """

    kind: ClassVar[str] = "consensus"
    tau: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.tau <= 1:
            raise TTCConfigError(f"ConsensusAtLeast tau must be in (0, 1]; got {self.tau}.")

    def __call__(self, votes: Votes) -> bool:
        if votes.confidences is None:
            raise TTCConfigError(
                "ConsensusAtLeast weighs votes by confidence: the samples carry none. Ask the "
                "backend for log-probabilities (a strategy that needs confidence does)."
            )
        weights = [0.0 if c is None else float(c) for c in votes.confidences]
        return votes.drawn > 0 and consensus(votes.answers, weights) >= self.tau

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        if prefixes.confidences is None:
            raise TTCConfigError("ConsensusAtLeast needs the samples' confidences to replay.")
        weights = np.nan_to_num(np.asarray(prefixes.confidences, dtype=float), nan=0.0)
        sums = np.cumsum(prefixes.onehot * weights[..., None], axis=1)
        total = sums.sum(axis=2)
        share = np.divide(sums.max(axis=2), total, out=np.zeros_like(total), where=total > 0)
        return share >= self.tau

    def describe(self) -> str:
        return f"consensus >= {self.tau:g}"


@register_stop_rule
@dataclass(frozen=True)
class PosteriorStop(StopRule):
    """Stop, continue or give up by the expected gain of more samples (multi-stage allocation):
    after ``start`` samples and after every ``step`` more, a posterior over the question's
    answer distribution (:func:`langgraph_ttc.posterior.assess`: a Dirichlet-process model of
    the answers, the prior ``prior`` over single-sample accuracy, confidence as evidence with
    ``slope``/``center``) gives the expected accuracy gain of 1, 2, 4, ... chunks more, up to
    ``horizon`` samples in all. Drawing continues while the best gain per extra sample is at
    least ``cost``; a settled question stops, and so does a hopeless one ("give up": the
    answer is likely wrong and more samples are unlikely to fix it).

    ``question_prior``: the prior is each question's own, from the zero-probe difficulty
    predictor a calibrated policy carries (:class:`~langgraph_ttc.scaling.prior.DifficultyPrior`;
    the route node fills ``prior`` in from the question's text, the replay from the pool's).

    The same tally gives the same decision live and in replay (fixed random numbers).

    Example:
        >>> rule = PosteriorStop(cost=0.004, horizon=16, start=4, step=4)
        >>> rule(Votes(("4", "4", "4", "4"))), rule(Votes(("4", "5", "4", "6")))
        (True, False)
        >>> rule.decide(Votes(("4", "4", "4", "4")))
        'stop'
    """

    kind: ClassVar[str] = "posterior"
    cost: float = 0.01
    horizon: int = 16
    start: int = 4
    step: int = 4
    prior: tuple[float, ...] | None = None
    slope: float = 0.0
    center: float = 0.0
    question_prior: bool = False

    def __post_init__(self) -> None:
        if self.cost < 0 or self.horizon < 1 or self.start < 1 or self.step < 1:
            raise TTCConfigError(
                "PosteriorStop needs cost >= 0, horizon >= 1, start >= 1 and step >= 1; got "
                f"cost={self.cost}, horizon={self.horizon}, start={self.start}, step={self.step}."
            )
        if self.prior is not None:
            prior = tuple(float(p) for p in self.prior)
            if len(prior) != 20 or min(prior) < 0 or sum(prior) <= 0:
                raise TTCConfigError(
                    "PosteriorStop prior must be 20 non-negative weights over single-sample "
                    "accuracy (langgraph_ttc.posterior.Q_GRID); fit one with "
                    "langgraph_ttc.scaling.prior."
                )
            object.__setattr__(self, "prior", prior)  # lists from JSON: hashable again

    def on_schedule(self, drawn: int) -> bool:
        """Whether the rule looks at the tally after ``drawn`` samples."""
        return drawn >= self.start and (drawn - self.start) % self.step == 0

    def lookahead(self, drawn: int) -> tuple[int, ...]:
        """The look-aheads weighed after ``drawn`` samples: 1, 2, 4, ... chunks, and the rest
        up to ``horizon``."""
        room = self.horizon - drawn
        steps = {room} if room > 0 else set()
        m = self.step
        while m < room:
            steps.add(m)
            m *= 2
        return tuple(sorted(steps))

    def assess(self, votes: Votes) -> Assessment:
        """The posterior's view of ``votes`` (value of answering now, gains of more)."""
        return assess(
            votes.answers,
            votes.confidences,
            prior=self.prior,
            slope=self.slope,
            center=self.center,
            lookahead=self.lookahead(votes.drawn),
        )

    def decide(self, votes: Votes) -> str:
        """``"continue"``, ``"stop"`` (settled) or ``"give up"`` (likely wrong, not worth more)."""
        if votes.drawn >= self.horizon:
            return "stop"
        view = self.assess(votes)
        if view.best_rate() >= self.cost:
            return "continue"
        return "stop" if view.value >= 0.5 else "give up"

    def __call__(self, votes: Votes) -> bool:
        if not self.on_schedule(votes.drawn):
            return False
        return self.decide(votes) != "continue"

    def prefix_mask(self, prefixes: PrefixVotes) -> np.ndarray:
        orders, width = prefixes.codes.shape
        mask = np.zeros((orders, width), dtype=bool)
        for w in range(1, width + 1):  # only where the rule looks: the posterior is costly
            if self.on_schedule(w):
                mask[:, w - 1] = [self(prefixes.votes(o, w)) for o in range(orders)]
        return mask

    def describe(self) -> str:
        source = ", the question's prior" if self.question_prior else ""
        return f"expected gain < {self.cost:g}/sample (posterior{source}, up to {self.horizon})"


def stop_width(rule: StopRule, answers: Sequence[Hashable | None], start: int, step: int) -> int:
    """Where drawing in rounds stops: ``start`` samples, then ``step`` more per round, until
    ``rule`` fires on the samples so far or all of ``answers`` are drawn.

    Example:
        >>> stop_width(AgreementAtLeast(0.75), ["4", "5", "4", "4", "4"], start=2, step=1)
        4
    """
    width = min(start, len(answers))
    while width < len(answers) and not rule(Votes(tuple(answers[:width]))):
        width = min(width + step, len(answers))
    return width
