"""Strategy configs: frozen dataclasses with documented defaults, each with a registry name.

A strategy decides the *plan* of a run (:class:`~langgraph_ttc.plan.Plan`): how many parallel
chains, how many attempts per chain, what each attempt needs (a critique, a verifier score) and
how the answer is chosen. One module per family: parallel sampling, revisions, the router and
the step-level searches. A method of one's own adds its config with :func:`register_strategy`
(the CLI, curves and ``create_ttc_graph`` read this registry, never a copy).

Example:
    >>> get_strategy("filter_vote", n=8).plan().width
    4
"""

from __future__ import annotations

from dataclasses import fields, replace

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plugins import load_methods
from langgraph_ttc.strategies.adaptive import Adaptive
from langgraph_ttc.strategies.base import FailurePolicy, Strategy
from langgraph_ttc.strategies.confidence import ConfidenceVote
from langgraph_ttc.strategies.revise import Revise
from langgraph_ttc.strategies.sampling import (
    BestOfN,
    FilterVote,
    Majority,
    SequentialVote,
    WeightedBestOfN,
)
from langgraph_ttc.strategies.search import BeamSearch, Dvts, Lookahead, Rebase, StepSearch

__all__ = [
    "STRATEGIES",
    "Adaptive",
    "BeamSearch",
    "BestOfN",
    "ConfidenceVote",
    "Dvts",
    "FailurePolicy",
    "FilterVote",
    "Lookahead",
    "Majority",
    "Rebase",
    "Revise",
    "SequentialVote",
    "StepSearch",
    "Strategy",
    "WeightedBestOfN",
    "get_strategy",
    "register_strategy",
    "strategy_names",
]

STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy config class to the registry under its ``name`` (usable as a class
    decorator; a later class of the same name replaces the earlier).

    Example:
        >>> from dataclasses import dataclass
        >>> @register_strategy
        ... @dataclass(frozen=True)
        ... class Quick(Majority):
        ...     name = "quick_majority"
        ...     n: int = 3
        >>> get_strategy("quick_majority").plan().width
        3
        >>> del STRATEGIES["quick_majority"]
    """
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TTCConfigError(f"register_strategy takes a Strategy subclass; got {cls!r}.")
    if not cls.name or cls.name == Strategy.name:
        raise TTCConfigError(f"{cls.__name__} needs a class attribute name to be registered.")
    STRATEGIES[cls.name] = cls
    return cls


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy name, the built-in methods and plugins included.

    Example:
        >>> {"majority", "genselect", "rsa"} <= set(strategy_names())
        True
    """
    load_methods()
    return tuple(STRATEGIES)


for _cls in (
    Majority,
    FilterVote,
    BestOfN,
    WeightedBestOfN,
    Revise,
    Adaptive,
    BeamSearch,
    Lookahead,
    Rebase,
    Dvts,
    ConfidenceVote,
    SequentialVote,
):
    register_strategy(_cls)


def get_strategy(strategy: str | Strategy, **overrides) -> Strategy:
    """A strategy config from its registry name (or a config), with fields overridden.

    Unknown names raise :class:`TTCConfigError` listing the valid ones. Overrides that the
    strategy does not have are ignored when ``None``, and rejected otherwise.

    Example:
        >>> get_strategy("majority", n=4)  # doctest: +NORMALIZE_WHITESPACE
        Majority(n=4, temperature=0.7, max_tokens=256, seed=None, on_failure='partial',
                 thinking_budget=None)
    """
    if isinstance(strategy, Strategy):
        base = strategy
    else:
        if strategy not in STRATEGIES:
            load_methods()  # the built-in methods and plugins register when imported
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
