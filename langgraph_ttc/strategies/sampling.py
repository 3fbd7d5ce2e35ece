"""Parallel sampling strategies: draw samples, then vote or pick (Chen et al. 2024; Snell et
al. 2024, sec. 5.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.strategies.base import Strategy

__all__ = ["BestOfN", "FilterVote", "Majority", "WeightedBestOfN"]


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
