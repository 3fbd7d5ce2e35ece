"""langgraph-ttc: test-time compute for LangGraph.

Spend more model calls at answer time, and spend them well: parallel samples, self-critique
(filter-vote), sequential revisions, verifiers, and a difficulty router, as LangGraph nodes.

Example:
    >>> from langgraph_ttc import create_ttc_graph
    >>> from langgraph_ttc.testing import FakeBackend
    >>> graph = create_ttc_graph(FakeBackend(), "majority", n=4)
    >>> graph.invoke({"question": "What is 2+2?"})["ttc_result"]["strategy"]
    'majority'

Everything below is imported on first use (``langgraph_ttc.create_ttc_graph`` loads the graph
machinery then), so ``import langgraph_ttc`` and the command line stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from langgraph_ttc._version import __version__

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Adaptive": "langgraph_ttc.strategies",
    "AdaptiveConsistency": "langgraph_ttc.methods",
    "AgreementAtLeast": "langgraph_ttc.stopping",
    "BatchAllocation": "langgraph_ttc.allocation",
    "BatchAllocator": "langgraph_ttc.batch",
    "BayesianStop": "langgraph_ttc.stopping",
    "BeamSearch": "langgraph_ttc.strategies",
    "BestOfN": "langgraph_ttc.strategies",
    "Budget": "langgraph_ttc.budget",
    "BudgetExhausted": "langgraph_ttc.errors",
    "ConfidenceSpec": "langgraph_ttc.confidence",
    "ConfidenceVote": "langgraph_ttc.strategies",
    "ConsensusAtLeast": "langgraph_ttc.stopping",
    "DeepConfOnline": "langgraph_ttc.methods",
    "FilterVote": "langgraph_ttc.strategies",
    "GenSelect": "langgraph_ttc.methods",
    "LLMJudge": "langgraph_ttc.verifiers",
    "Majority": "langgraph_ttc.strategies",
    "ParticleFilter": "langgraph_ttc.methods",
    "PosteriorStop": "langgraph_ttc.stopping",
    "ProgrammaticVerifier": "langgraph_ttc.verifiers",
    "RSA": "langgraph_ttc.methods",
    "Rebase": "langgraph_ttc.strategies",
    "ReferenceVerifier": "langgraph_ttc.verifiers",
    "Revise": "langgraph_ttc.strategies",
    "SamplesAtLeast": "langgraph_ttc.stopping",
    "SequentialVote": "langgraph_ttc.strategies",
    "TTCChatModel": "langgraph_ttc.runnable",
    "TTCConfigError": "langgraph_ttc.errors",
    "TTCError": "langgraph_ttc.errors",
    "TTCMiddleware": "langgraph_ttc.agents",
    "WeightedBestOfN": "langgraph_ttc.strategies",
    "as_runnable": "langgraph_ttc.runnable",
    "create_ttc_graph": "langgraph_ttc.graph",
    "get_strategy": "langgraph_ttc.strategies",
    "load_plugin": "langgraph_ttc.plugins",
    "load_task": "langgraph_ttc.tasks",
    "register_strategy": "langgraph_ttc.strategies",
    "resolve_backend": "langgraph_ttc.backends",
}
# Still importable from the top level (old code keeps working), but not advertised: import
# them from their sub-package (langgraph_ttc.backends, .aggregators, .policy, .search, ...).
_ELSEWHERE: dict[str, str] = {
    "AGGREGATORS": "langgraph_ttc.aggregators",
    "Aggregate": "langgraph_ttc.aggregators",
    "Aggregator": "langgraph_ttc.aggregators",
    "Backend": "langgraph_ttc.backends",
    "BackendError": "langgraph_ttc.errors",
    "BackendUnavailable": "langgraph_ttc.errors",
    "Ballots": "langgraph_ttc.aggregators",
    "BudgetForcingBackend": "langgraph_ttc.backends",
    "ChatModelBackend": "langgraph_ttc.backends",
    "Completion": "langgraph_ttc.backends",
    "Draw": "langgraph_ttc.backends",
    "Dvts": "langgraph_ttc.strategies",
    "LLMStepJudge": "langgraph_ttc.search",
    "Lookahead": "langgraph_ttc.strategies",
    "Meter": "langgraph_ttc.budget",
    "OpenAICompatibleBackend": "langgraph_ttc.backends",
    "Plan": "langgraph_ttc.plan",
    "PlanSpec": "langgraph_ttc.policy",
    "Policy": "langgraph_ttc.policy",
    "PoolingPRM": "langgraph_ttc.search",
    "Prices": "langgraph_ttc.budget",
    "Problem": "langgraph_ttc.tasks",
    "ProcessScorer": "langgraph_ttc.search",
    "RolloutValueScorer": "langgraph_ttc.search",
    "RunnableJudge": "langgraph_ttc.verifiers",
    "STRATEGIES": "langgraph_ttc.strategies",
    "SampleFailed": "langgraph_ttc.errors",
    "SamplingParams": "langgraph_ttc.backends",
    "Segmentation": "langgraph_ttc.search",
    "StopRule": "langgraph_ttc.stopping",
    "Strategy": "langgraph_ttc.strategies",
    "TTCContext": "langgraph_ttc.nodes",
    "TTCInput": "langgraph_ttc.state",
    "TTCInputError": "langgraph_ttc.errors",
    "TTCOutput": "langgraph_ttc.state",
    "TTCState": "langgraph_ttc.state",
    "Task": "langgraph_ttc.tasks",
    "UnitTestVerifier": "langgraph_ttc.verifiers",
    "Usage": "langgraph_ttc.budget",
    "Verdict": "langgraph_ttc.verifiers",
    "Verifier": "langgraph_ttc.verifiers",
    "Votes": "langgraph_ttc.stopping",
    "best_of_n": "langgraph_ttc.aggregators",
    "filter_vote": "langgraph_ttc.aggregators",
    "get_aggregator": "langgraph_ttc.aggregators",
    "majority_vote": "langgraph_ttc.aggregators",
    "register_aggregator": "langgraph_ttc.aggregators",
    "weighted_best_of_n": "langgraph_ttc.aggregators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name) or _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_ttc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly  # noqa: I001
    from langgraph_ttc.agents import TTCMiddleware
    from langgraph_ttc.allocation import BatchAllocation
    from langgraph_ttc.backends import resolve_backend
    from langgraph_ttc.batch import BatchAllocator
    from langgraph_ttc.budget import Budget
    from langgraph_ttc.confidence import ConfidenceSpec
    from langgraph_ttc.errors import BudgetExhausted, TTCConfigError, TTCError
    from langgraph_ttc.graph import create_ttc_graph
    from langgraph_ttc.methods import (
        RSA,
        AdaptiveConsistency,
        DeepConfOnline,
        GenSelect,
        ParticleFilter,
    )
    from langgraph_ttc.plugins import load_plugin
    from langgraph_ttc.runnable import TTCChatModel, as_runnable
    from langgraph_ttc.stopping import (
        AgreementAtLeast,
        BayesianStop,
        ConsensusAtLeast,
        PosteriorStop,
        SamplesAtLeast,
    )
    from langgraph_ttc.strategies import (
        Adaptive,
        BeamSearch,
        BestOfN,
        ConfidenceVote,
        FilterVote,
        Majority,
        Rebase,
        Revise,
        SequentialVote,
        WeightedBestOfN,
        get_strategy,
        register_strategy,
    )
    from langgraph_ttc.tasks import load_task
    from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier, ReferenceVerifier
