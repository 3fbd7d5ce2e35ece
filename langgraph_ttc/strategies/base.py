"""What every strategy config shares: the knobs, and the plan it makes from a call budget.

A strategy is a frozen dataclass with documented defaults and a short registry name. Its
:meth:`Strategy.plan` is the one place its :class:`~langgraph_ttc.plan.Plan` is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.verifiers import Verifier

__all__ = ["FailurePolicy", "Strategy"]

FailurePolicy = Literal["partial", "raise"]


@dataclass(frozen=True)
class Strategy:
    """Shared knobs.

    Attributes:
        n: the call budget per question: samples plus the critiques and judge calls they need
            (so ``FilterVote(n=8)`` is 4 samples and 4 critiques). Step-level searches read it
            as the search width N of the papers.
        temperature: sampling temperature.
        max_tokens: most tokens per sample (per step for searches).
        seed: fixes the run's seeds (``None``: a fresh seed per run).
        on_failure: ``"partial"`` answers from the samples that succeeded (failed ones are
            listed in the result); ``"raise"`` raises :class:`~langgraph_ttc.errors.SampleFailed`.
        thinking_budget: most tokens a reasoning model may think per sample, on top of
            ``max_tokens`` for the answer (``None``: the backend's default room; see
            :mod:`langgraph_ttc.backends.reasoning` for how each backend honours it).
    """

    name: ClassVar[str] = "strategy"
    aggregator: ClassVar[str] = "majority"
    needs_verifier: ClassVar[bool] = False  # derived from the aggregator's needs
    needs_confidence: ClassVar[bool] = False  # likewise: the samples' token confidence

    n: int = 8
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    on_failure: FailurePolicy = "partial"
    thinking_budget: int | None = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        needs = get_aggregator(cls.aggregator).needs
        cls.needs_verifier = "scores" in needs
        cls.needs_confidence = "confidences" in needs or cls.__dict__.get("needs_confidence", False)

    def __post_init__(self) -> None:
        if self.n is not None and (not isinstance(self.n, int) or self.n < 1):
            raise TTCConfigError(f"{self.name}: n must be an integer >= 1; got {self.n!r}.")
        if self.temperature < 0:
            raise TTCConfigError(f"{self.name}: temperature must be >= 0; got {self.temperature}.")
        if self.max_tokens < 1:
            raise TTCConfigError(f"{self.name}: max_tokens must be >= 1; got {self.max_tokens}.")
        if self.thinking_budget is not None and (
            isinstance(self.thinking_budget, bool)
            or not isinstance(self.thinking_budget, int)
            or self.thinking_budget < 0
        ):
            raise TTCConfigError(
                f"{self.name}: thinking_budget must be a whole number of tokens >= 0 or None; "
                f"got {self.thinking_budget!r}."
            )
        if self.on_failure not in ("partial", "raise"):
            raise TTCConfigError(
                f"on_failure must be 'partial' or 'raise'; got {self.on_failure!r}."
            )

    def calls(self, calls_left: int | None) -> int | None:
        """The calls this run may spend: ``n``, capped by what the budget has left."""
        if calls_left is None:
            return self.n
        return calls_left if self.n is None else min(self.n, calls_left)

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        """The plan for this strategy given the calls the budget still allows: as many samples
        as the call budget pays for, each with what the aggregator needs (a critique, judge
        calls).

        Example:
            >>> from langgraph_ttc.strategies import FilterVote, Majority
            >>> Majority(n=8).plan().width, FilterVote(n=8).plan(calls_left=5).width
            (8, 2)
        """
        verify_calls = 0 if verifier is None else verifier.calls_per_answer
        per_sample = get_aggregator(self.aggregator).attempt_calls(verify_calls)
        width = (self.calls(calls_left) or 0) // per_sample
        return Plan(width=width, aggregator=self.aggregator, reason=self.name)

    def describe(self) -> str:
        return f"{self.name} n={self.n}"
