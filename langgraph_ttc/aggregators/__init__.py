"""Aggregators: how the final answer is chosen from the candidates, one object per method.

Each registered :class:`Aggregator` carries its vote (a pure function of the candidates'
answers, scores, verdicts or confidences), what it needs the candidates to carry, what one
attempt costs in calls, its vectorised replay over pool samples and its exact (or Monte Carlo)
estimator at k samples. The aggregate node, the strategies, the router's budget arithmetic, the
replay, calibrate, compare and the scaling curves all read this registry, so a live run and its
replay cannot drift apart. Adding an aggregator is one module plus :func:`register_aggregator`;
a vote that calls the model when it aggregates (GenSelect, RSA) says so in ``not_replayable``
and names its own stages, and the pool tools skip it with that reason (:func:`replayable`).

Example:
    >>> get_aggregator("filter_vote").vote(Ballots(("4", "5", "5"), verdicts=(True, False, False)))
    Aggregate(answer='4', index=0, tally={'4': 1.0}, confidence=1.0, method='filter_vote')
    >>> sorted(replayable()[0])  # doctest: +NORMALIZE_WHITESPACE
    ['best_of_n', 'confidence_weighted', 'deepconf_high', 'deepconf_low', 'filter_vote',
     'majority', 'weighted_best_of_n']
    >>> sorted(replayable()[1])  # the methods that call the model to aggregate
    ['genselect', 'rsa']
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from langgraph_ttc.aggregators.base import (
    Aggregate,
    Aggregator,
    Ballots,
    BallotTable,
    tied,
    weighted_vote,
)
from langgraph_ttc.aggregators.best_of_n import (
    BestOfNAggregator,
    WeightedBestOfNAggregator,
    best_of_n,
    best_of_n_at_k,
    weighted_best_of_n,
    weighted_best_of_n_at_k,
)
from langgraph_ttc.aggregators.confidence import ConfidenceWeighted, DeepConfOffline, EvidenceVote
from langgraph_ttc.aggregators.filter_vote import (
    FilterVoteAggregator,
    filter_vote,
    filter_vote_at_k,
)
from langgraph_ttc.aggregators.majority import MajorityAggregator, majority_at_k, majority_vote
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plugins import load_methods

__all__ = [
    "AGGREGATORS",
    "Aggregate",
    "Aggregator",
    "BestOfNAggregator",
    "ConfidenceWeighted",
    "DeepConfOffline",
    "EvidenceVote",
    "FilterVoteAggregator",
    "MajorityAggregator",
    "WeightedBestOfNAggregator",
    "BallotTable",
    "Ballots",
    "best_of_n",
    "best_of_n_at_k",
    "filter_vote",
    "filter_vote_at_k",
    "get_aggregator",
    "majority_at_k",
    "majority_vote",
    "register_aggregator",
    "replayable",
    "tied",
    "weighted_best_of_n",
    "weighted_best_of_n_at_k",
    "weighted_vote",
]

AGGREGATORS: dict[str, Aggregator] = {}
# Parameterised families (``deepconf_<eta>``): made on demand by name, never registered when
# read, so reading a strategy's vote changes no global table.
_FAMILIES: dict[str, Callable[[str], Aggregator]] = {}


def register_aggregator(aggregator: Aggregator) -> Aggregator:
    """Add ``aggregator`` to the registry under its ``name`` (replacing one of that name)."""
    if not aggregator.name:
        raise TTCConfigError(f"{type(aggregator).__name__} needs a name to be registered.")
    AGGREGATORS[aggregator.name] = aggregator
    return aggregator


def get_aggregator(name: str | Aggregator) -> Aggregator:
    """The registered aggregator called ``name`` (an :class:`Aggregator` is returned as is).

    Example:
        >>> get_aggregator("majority").attempt_calls()
        1
    """
    if isinstance(name, Aggregator):
        return name
    if name in AGGREGATORS:
        return AGGREGATORS[name]
    load_methods()  # a method's aggregator registers when its module is imported
    if name in AGGREGATORS:
        return AGGREGATORS[name]
    prefix, _, rest = str(name).rpartition("_")
    if prefix in _FAMILIES:
        with contextlib.suppress(ValueError):
            return _FAMILIES[prefix](rest)
    raise TTCConfigError(f"Unknown aggregator {name!r}; use one of {sorted(AGGREGATORS)}.")


def replayable(names: Iterable[str] | None = None) -> tuple[tuple[str, ...], dict[str, str]]:
    """Of ``names`` (default: every registered aggregator), those a pool of independent samples
    can replay, and for the others why not (read from the registry at call time, so methods
    registered later count).

    Example:
        >>> names, skipped = replayable(["majority", "filter_vote"])
        >>> names, skipped
        (('majority', 'filter_vote'), {})
    """
    load_methods()
    chosen = list(AGGREGATORS) if names is None else list(names)
    ok = tuple(n for n in chosen if not get_aggregator(n).not_replayable)
    return ok, {n: get_aggregator(n).not_replayable for n in chosen if n not in ok}


def _deepconf(eta: str) -> Aggregator:
    value = float(eta)
    if not 0 < value <= 100:
        raise ValueError(eta)
    return DeepConfOffline(value)


_FAMILIES["deepconf"] = _deepconf
_FAMILIES["evidence"] = EvidenceVote.from_name  # evidence_<slope>@<center>, fitted on pools


for _aggregator in (
    MajorityAggregator(),
    FilterVoteAggregator(),
    BestOfNAggregator(),
    WeightedBestOfNAggregator(),
    ConfidenceWeighted(),
    DeepConfOffline(10),  # DeepConf-low
    DeepConfOffline(90),  # DeepConf-high
):
    register_aggregator(_aggregator)
