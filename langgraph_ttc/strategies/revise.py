"""Sequential revisions (Snell et al. 2024, sec. 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["Revise"]


@dataclass(frozen=True)
class Revise(Strategy):
    """``width`` chains of ``depth`` attempts; each revision sees the most recent ``context``
    attempts of its chain (paper: 4) and feedback: the verifier's score when a verifier is given,
    else RISE's "The answer is incorrect. Please try again." (Qu et al. 2024).

    The answer is chosen across *all* attempts of all chains, never the last revision blindly
    (about 38% of correct answers are broken by the next revision): weighted best-of-N when a
    verifier scores every attempt, else a flat majority. ``n`` (default: no cap) caps the calls;
    the shape shrinks to fit it and the budget.

    Example:
        >>> plan = Revise(width=2, depth=4).plan()
        >>> plan.width, plan.depth, plan.aggregator
        (2, 4, 'majority')
        >>> Revise(width=2, depth=4, n=4).plan().depth
        2
    """

    name: ClassVar[str] = "revise"

    n: int | None = None
    width: int = 2
    depth: int = 4
    context: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for knob in ("width", "depth", "context"):
            if getattr(self, knob) < 1:
                raise TTCConfigError(f"revise: {knob} must be >= 1; got {getattr(self, knob)}.")

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        # Snell et al. 2024, sec. 6: select across the chains by verifier when there is one.
        aggregator = "majority" if verifier is None else "weighted_best_of_n"
        per_attempt = get_aggregator(aggregator).attempt_calls(
            0 if verifier is None else verifier.calls_per_answer
        )
        width, depth = self.width, self.depth
        calls = self.calls(calls_left)
        if calls is not None:
            attempts = calls // per_attempt
            width = min(width, attempts)
            depth = min(depth, attempts // width) if width else 1
        return Plan(
            width=width,
            depth=max(depth, 1),
            aggregator=aggregator,
            reason=f"revise {width}x{depth}",
        )

    def describe(self) -> str:
        return f"{self.name} {self.width}x{self.depth}"
