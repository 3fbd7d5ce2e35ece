"""Strategy configs: frozen dataclasses with documented defaults, each with a registry name.

A strategy decides the *plan* of a run: how many parallel chains (``width``), how many attempts
per chain (``depth``), whether candidates are critiqued or verified, and how they are aggregated.

Example:
    >>> get_strategy("filter_vote", n=8).plan(calls_left=None).get("width")
    4
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import ClassVar, Literal

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.state import Plan

FailurePolicy = Literal["partial", "raise"]


@dataclass(frozen=True)
class Strategy:
    """Shared knobs. ``on_failure``: ``"partial"`` answers from the samples that succeeded (failed
    ones are listed in the result); ``"raise"`` raises :class:`~langgraph_ttc.errors.SampleFailed`."""

    name: ClassVar[str] = "strategy"
    nodes: ClassVar[tuple[str, ...]] = ("generate",)
    aggregator: ClassVar[str] = "majority"
    needs_verifier: ClassVar[bool] = False

    n: int = 8
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    on_failure: FailurePolicy = "partial"

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise TTCConfigError(f"{self.name}: n must be an integer >= 1; got {self.n!r}.")
        if self.temperature < 0:
            raise TTCConfigError(f"{self.name}: temperature must be >= 0; got {self.temperature}.")
        if self.max_tokens < 1:
            raise TTCConfigError(f"{self.name}: max_tokens must be >= 1; got {self.max_tokens}.")
        if self.on_failure not in ("partial", "raise"):
            raise TTCConfigError(
                f"on_failure must be 'partial' or 'raise'; got {self.on_failure!r}."
            )

    def calls_per_candidate(self, verifier_uses_model: bool = False) -> int:
        return 1 + (1 if self.needs_verifier and verifier_uses_model else 0)

    def plan(self, calls_left: int | None, verifier_uses_model: bool = False) -> Plan:
        """The plan for this strategy given the calls the budget still allows."""
        width = self.n
        if calls_left is not None:
            width = min(width, calls_left // self.calls_per_candidate(verifier_uses_model))
        return Plan(
            width=max(width, 0),
            depth=1,
            aggregator=self.aggregator,
            critique="critique" in self.nodes,
            verify="verify" in self.nodes,
            stop=False,
            reason=self.name,
        )


@dataclass(frozen=True)
class Majority(Strategy):
    """Vote(x, K) of Chen et al. 2024: ``n`` samples, the most frequent answer wins.

    Example:
        >>> Majority(n=16).plan(calls_left=None)["width"]
        16
    """

    name: ClassVar[str] = "majority"


@dataclass(frozen=True)
class FilterVote(Strategy):
    """Filter-Vote(x, K) of Chen et al. 2024: ``n`` is the whole call budget K, so K/2 samples are
    drawn and each is judged by one self-critique call; votes go to answers judged correct, or to
    all answers if none survives.

    Example:
        >>> FilterVote(n=8).plan(calls_left=None)["width"]
        4
    """

    name: ClassVar[str] = "filter_vote"
    nodes: ClassVar[tuple[str, ...]] = ("generate", "critique")
    aggregator: ClassVar[str] = "filter_vote"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 2:
            raise TTCConfigError(
                f"filter_vote: n is the whole call budget (n/2 samples + n/2 critiques), so it "
                f"needs n >= 2; got {self.n}. Use majority for a single call."
            )

    def plan(self, calls_left: int | None, verifier_uses_model: bool = False) -> Plan:
        calls = self.n if calls_left is None else min(self.n, calls_left)
        plan = super().plan(None)
        plan["width"] = calls // 2 if calls >= 2 else 0
        return plan


@dataclass(frozen=True)
class BestOfN(Strategy):
    """Best-of-N: ``n`` samples scored by a verifier; the highest score wins.

    A model-based verifier (LLM judge) costs one call per sample; the plan makes room for it.
    """

    name: ClassVar[str] = "best_of_n"
    nodes: ClassVar[tuple[str, ...]] = ("generate", "verify")
    aggregator: ClassVar[str] = "best_of_n"
    needs_verifier: ClassVar[bool] = True


@dataclass(frozen=True)
class WeightedBestOfN(BestOfN):
    """Best-of-N weighted (Snell et al. 2024, sec. 5.1): verifier scores summed per final answer."""

    name: ClassVar[str] = "weighted_best_of_n"
    aggregator: ClassVar[str] = "weighted_best_of_n"


@dataclass(frozen=True)
class Revise(Strategy):
    """Sequential revisions (Snell et al. 2024, sec. 6): ``width`` chains of ``depth`` attempts.

    Each revision sees the most recent ``context`` attempts of its chain (paper: 4) and feedback:
    the verifier's score when a verifier is given, else RISE's "The answer is incorrect. Please
    try again." (Qu et al. 2024). The answer is chosen across *all* attempts of all chains
    (weighted best-of-N with a verifier, majority without), never the last revision blindly.
    ``n`` is ignored; the call count is ``width * depth`` (plus verifier calls).

    Example:
        >>> Revise(width=2, depth=4).plan(calls_left=None)["depth"]
        4
    """

    name: ClassVar[str] = "revise"
    nodes: ClassVar[tuple[str, ...]] = ("generate", "revise")

    width: int = 2
    depth: int = 4
    context: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for knob in ("width", "depth", "context"):
            if getattr(self, knob) < 1:
                raise TTCConfigError(f"revise: {knob} must be >= 1; got {getattr(self, knob)}.")

    def plan(self, calls_left: int | None, verifier_uses_model: bool = False) -> Plan:
        per_attempt = 2 if verifier_uses_model else 1
        width, depth = self.width, self.depth
        if calls_left is not None:
            attempts = calls_left // per_attempt
            width = min(width, attempts)
            depth = min(depth, attempts // width) if width else 0
        return Plan(
            width=width,
            depth=depth,
            aggregator="revise",
            critique=False,
            verify=False,
            stop=False,
            reason=f"revise {width}x{depth}",
        )


@dataclass(frozen=True)
class Adaptive(Strategy):
    """Router + policy: a few probe samples estimate difficulty; the policy picks the plan.

    ``n`` is the call budget per question (probes included); with ``n`` below ``probes`` the
    router spends the whole budget on probes and answers by their majority. ``policy`` is a
    :class:`~langgraph_ttc.policy.Policy`, a path to a policy JSON file (``langgraph-ttc
    calibrate``), or ``None`` for the default policy. Probes are kept as candidates, never wasted.

    Example:
        >>> Adaptive(n=2, probes=4).plan(calls_left=None)["width"]
        2
    """

    name: ClassVar[str] = "adaptive"
    nodes: ClassVar[tuple[str, ...]] = ("route", "generate", "critique", "verify", "revise")

    n: int = 16
    probes: int = 4
    policy: object = field(default=None, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.probes < 1:
            raise TTCConfigError(f"adaptive: probes must be >= 1; got {self.probes}.")

    def plan(self, calls_left: int | None, verifier_uses_model: bool = False) -> Plan:
        # The real plan is made by the route node after probing; this is the probe step.
        probes = min(self.probes, self.n)
        if calls_left is not None:
            probes = min(probes, calls_left)
        return Plan(
            width=probes,
            depth=1,
            aggregator="majority",
            critique=False,
            verify=False,
            stop=False,
            reason="probe",
        )


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (Majority, FilterVote, BestOfN, WeightedBestOfN, Revise, Adaptive)
}

# Step-level searches live in their own package; it needs Strategy (defined above) first.
from langgraph_ttc.search.strategies import BeamSearch, Dvts, Lookahead, Rebase  # noqa: E402

STRATEGIES.update({cls.name: cls for cls in (BeamSearch, Lookahead, Rebase, Dvts)})


def get_strategy(strategy: str | Strategy, **overrides) -> Strategy:
    """A strategy config from its registry name (or a config), with fields overridden.

    Unknown names raise :class:`TTCConfigError` listing the valid ones. Overrides that the
    strategy does not have are ignored when ``None``, and rejected otherwise.

    Example:
        >>> get_strategy("majority", n=4)
        Majority(n=4, temperature=0.7, max_tokens=256, seed=None, on_failure='partial')
    """
    if isinstance(strategy, Strategy):
        base = strategy
    else:
        if strategy not in STRATEGIES:
            raise TTCConfigError(
                f"Unknown strategy {strategy!r}. Valid strategies: {', '.join(STRATEGIES)}."
            )
        base = STRATEGIES[strategy]()
    known = {f.name for f in fields(base)}
    unknown = [k for k, v in overrides.items() if v is not None and k not in known]
    if unknown:
        raise TTCConfigError(
            f"Strategy {base.name!r} has no option(s) {unknown}; it has {sorted(known)}."
        )
    return replace(base, **{k: v for k, v in overrides.items() if v is not None and k in known})
