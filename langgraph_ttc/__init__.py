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
    "AdaptiveConsistency": "langgraph_ttc.strategies",
    "BatchAllocation": "langgraph_ttc.allocation",
    "BatchAllocator": "langgraph_ttc.batch",
    "BayesianStop": "langgraph_ttc.stopping",
    "ConfidenceSpec": "langgraph_ttc.confidence",
    "ConfidenceVote": "langgraph_ttc.strategies",
    "ConsensusAtLeast": "langgraph_ttc.stopping",
    "DeepConfOnline": "langgraph_ttc.strategies",
    "AGGREGATORS": "langgraph_ttc.aggregators",
    "Adaptive": "langgraph_ttc.strategies",
    "Aggregate": "langgraph_ttc.aggregators",
    "Aggregator": "langgraph_ttc.aggregators",
    "AgreementAtLeast": "langgraph_ttc.stopping",
    "Ballots": "langgraph_ttc.aggregators",
    "Backend": "langgraph_ttc.backends",
    "BackendError": "langgraph_ttc.errors",
    "BackendUnavailable": "langgraph_ttc.errors",
    "BeamSearch": "langgraph_ttc.strategies",
    "BestOfN": "langgraph_ttc.strategies",
    "Budget": "langgraph_ttc.budget",
    "BudgetExhausted": "langgraph_ttc.errors",
    "BudgetForcingBackend": "langgraph_ttc.backends",
    "ChatModelBackend": "langgraph_ttc.backends",
    "Completion": "langgraph_ttc.backends",
    "Draw": "langgraph_ttc.backends",
    "Dvts": "langgraph_ttc.strategies",
    "FilterVote": "langgraph_ttc.strategies",
    "LLMJudge": "langgraph_ttc.verifiers",
    "LLMStepJudge": "langgraph_ttc.search",
    "Lookahead": "langgraph_ttc.strategies",
    "Majority": "langgraph_ttc.strategies",
    "Meter": "langgraph_ttc.budget",
    "OpenAICompatibleBackend": "langgraph_ttc.backends",
    "Plan": "langgraph_ttc.plan",
    "PlanSpec": "langgraph_ttc.policy",
    "Policy": "langgraph_ttc.policy",
    "PoolingPRM": "langgraph_ttc.search",
    "Prices": "langgraph_ttc.budget",
    "Problem": "langgraph_ttc.tasks",
    "ProcessScorer": "langgraph_ttc.search",
    "ProgrammaticVerifier": "langgraph_ttc.verifiers",
    "Rebase": "langgraph_ttc.strategies",
    "ReferenceVerifier": "langgraph_ttc.verifiers",
    "Revise": "langgraph_ttc.strategies",
    "RolloutValueScorer": "langgraph_ttc.search",
    "RunnableJudge": "langgraph_ttc.verifiers",
    "PosteriorStop": "langgraph_ttc.stopping",
    "SamplesAtLeast": "langgraph_ttc.stopping",
    "STRATEGIES": "langgraph_ttc.strategies",
    "SampleFailed": "langgraph_ttc.errors",
    "SamplingParams": "langgraph_ttc.backends",
    "Segmentation": "langgraph_ttc.search",
    "StopRule": "langgraph_ttc.stopping",
    "Strategy": "langgraph_ttc.strategies",
    "TTCChatModel": "langgraph_ttc.runnable",
    "TTCConfigError": "langgraph_ttc.errors",
    "TTCContext": "langgraph_ttc.nodes",
    "TTCError": "langgraph_ttc.errors",
    "TTCInput": "langgraph_ttc.state",
    "TTCInputError": "langgraph_ttc.errors",
    "TTCMiddleware": "langgraph_ttc.agents",
    "TTCOutput": "langgraph_ttc.state",
    "TTCState": "langgraph_ttc.state",
    "Task": "langgraph_ttc.tasks",
    "UnitTestVerifier": "langgraph_ttc.verifiers",
    "Usage": "langgraph_ttc.budget",
    "Verdict": "langgraph_ttc.verifiers",
    "Verifier": "langgraph_ttc.verifiers",
    "Votes": "langgraph_ttc.stopping",
    "WeightedBestOfN": "langgraph_ttc.strategies",
    "as_runnable": "langgraph_ttc.runnable",
    "best_of_n": "langgraph_ttc.aggregators",
    "build_ttc_graph": "langgraph_ttc.graph",
    "create_ttc_graph": "langgraph_ttc.graph",
    "filter_vote": "langgraph_ttc.aggregators",
    "get_aggregator": "langgraph_ttc.aggregators",
    "get_strategy": "langgraph_ttc.strategies",
    "load_task": "langgraph_ttc.tasks",
    "majority_vote": "langgraph_ttc.aggregators",
    "register_aggregator": "langgraph_ttc.aggregators",
    "resolve_backend": "langgraph_ttc.backends",
    "weighted_best_of_n": "langgraph_ttc.aggregators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_ttc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly  # noqa: I001
    from langgraph_ttc.agents import TTCMiddleware
    from langgraph_ttc.aggregators import (
        AGGREGATORS,
        Aggregate,
        Aggregator,
        Ballots,
        best_of_n,
        filter_vote,
        get_aggregator,
        majority_vote,
        register_aggregator,
        weighted_best_of_n,
    )
    from langgraph_ttc.allocation import BatchAllocation
    from langgraph_ttc.backends import (
        Backend,
        BudgetForcingBackend,
        ChatModelBackend,
        Completion,
        Draw,
        OpenAICompatibleBackend,
        SamplingParams,
        resolve_backend,
    )
    from langgraph_ttc.batch import BatchAllocator
    from langgraph_ttc.budget import Budget, Meter, Prices, Usage
    from langgraph_ttc.errors import (
        BackendError,
        BackendUnavailable,
        BudgetExhausted,
        SampleFailed,
        TTCConfigError,
        TTCError,
        TTCInputError,
    )
    from langgraph_ttc.graph import build_ttc_graph, create_ttc_graph
    from langgraph_ttc.nodes import TTCContext
    from langgraph_ttc.plan import Plan
    from langgraph_ttc.policy import PlanSpec, Policy
    from langgraph_ttc.runnable import TTCChatModel, as_runnable
    from langgraph_ttc.search import (
        LLMStepJudge,
        PoolingPRM,
        ProcessScorer,
        RolloutValueScorer,
        Segmentation,
    )
    from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
    from langgraph_ttc.stopping import (
        AgreementAtLeast,
        PosteriorStop,
        SamplesAtLeast,
        StopRule,
        Votes,
    )
    from langgraph_ttc.strategies import (
        STRATEGIES,
        Adaptive,
        BeamSearch,
        BestOfN,
        Dvts,
        FilterVote,
        Lookahead,
        Majority,
        Rebase,
        Revise,
        Strategy,
        WeightedBestOfN,
        get_strategy,
    )
    from langgraph_ttc.tasks import Problem, Task, load_task
    from langgraph_ttc.verifiers import (
        LLMJudge,
        ProgrammaticVerifier,
        ReferenceVerifier,
        RunnableJudge,
        UnitTestVerifier,
        Verdict,
        Verifier,
    )
