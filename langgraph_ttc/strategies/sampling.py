"""Parallel sampling strategies: draw samples, then vote or pick (Chen et al. 2024; Snell et
al. 2024, sec. 5.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.stopping import AgreementAtLeast, StopRule, stop_rule_from_dict
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["BestOfN", "FilterVote", "Majority", "SequentialVote", "WeightedBestOfN"]


@dataclass(frozen=True)
class Majority(Strategy):
    """Vote(x, K) of Chen et al. 2024: ``n`` samples, the most frequent answer wins.

    Example:
        >>> Majority(n=16).plan().width
        16
    """

    name: ClassVar[str] = "majority"


@dataclass(frozen=True)
class FilterVote(Strategy):
    """Filter-Vote(x, K) of Chen et al. 2024: ``n`` is the whole call budget K, so K/2 samples are
    drawn and each is judged by one self-critique call; votes go to answers judged correct, or to
    all answers if none survives.

    Example:
        >>> FilterVote(n=8).plan().width
        4
    """

    name: ClassVar[str] = "filter_vote"
    aggregator: ClassVar[str] = "filter_vote"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 2:
            raise TTCConfigError(
                f"filter_vote: n is the whole call budget (n/2 samples + n/2 critiques), so it "
                f"needs n >= 2; got {self.n}. Use majority for a single call."
            )


@dataclass(frozen=True)
class BestOfN(Strategy):
    """Best-of-N: samples scored by a verifier; the highest score wins. ``n`` is the call
    budget: with an LLM judge (one call per sample) ``n=8`` is 4 samples and 4 judge calls; with
    a programmatic verifier, 8 samples.

    Example:
        >>> from langgraph_ttc.verifiers import LLMJudge
        >>> BestOfN(n=8).plan(verifier=LLMJudge()).width
        4
    """

    name: ClassVar[str] = "best_of_n"
    aggregator: ClassVar[str] = "best_of_n"


@dataclass(frozen=True)
class WeightedBestOfN(BestOfN):
    """Best-of-N weighted (Snell et al. 2024, sec. 5.1): verifier scores summed per final answer."""

    name: ClassVar[str] = "weighted_best_of_n"
    aggregator: ClassVar[str] = "weighted_best_of_n"


@dataclass(frozen=True)
class SequentialVote(Strategy):
    """Majority drawn in rounds until a stop rule fires (Aggarwal et al. 2023's
    Adaptive-Consistency in its sequential form): ``start`` samples, then ``step`` more per
    round, until ``stop_rule`` fires on the samples so far or ``n`` are drawn. Any registered
    stop rule (or its JSON dict, as ``--option stop_rule='{"kind": "bayesian"}'`` gives it):
    ``AgreementAtLeast(0.75)``, ``BayesianStop(0.95)``, ``ConsensusAtLeast(0.95)``, compositions
    with ``|`` and ``&``, or one of your own (:func:`~langgraph_ttc.stopping.register_stop_rule`).

    Example:
        >>> plan = SequentialVote(n=16, start=4, step=2).plan()
        >>> plan.width, plan.max_width, plan.step, plan.stop_rule.describe()
        (4, 16, 2, 'agreement >= 0.75')
        >>> SequentialVote(stop_rule={"kind": "bayesian", "threshold": 0.9}).stop_rule.describe()
        'P(leader) >= 0.9'
    """

    name: ClassVar[str] = "sequential"

    n: int = 16
    start: int = 4
    step: int = 1
    stop_rule: StopRule | Any = AgreementAtLeast(0.75)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.stop_rule, dict):
            object.__setattr__(self, "stop_rule", stop_rule_from_dict(dict(self.stop_rule)))
        if not isinstance(self.stop_rule, StopRule):
            raise TTCConfigError(
                f"sequential: stop_rule must be a StopRule or its dict; got {self.stop_rule!r}."
            )
        if self.start < 1 or self.step < 1:
            raise TTCConfigError(
                f"sequential: start and step must be >= 1; got {self.start}, {self.step}."
            )

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        cap = self.calls(calls_left) or 0
        return Plan(
            width=min(self.start, cap),
            max_width=cap,
            step=self.step,
            stop_rule=self.stop_rule,
            aggregator=self.aggregator,
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"sequential n={self.n} until {self.stop_rule.describe()}"
