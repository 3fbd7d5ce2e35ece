"""langgraph-ttc: test-time compute for LangGraph.

Spend more model calls at answer time, and spend them well: parallel samples, self-critique
(filter-vote), sequential revisions, verifiers, and a difficulty router, as LangGraph nodes.

Example:
    >>> from langgraph_ttc import create_ttc_graph
    >>> from langgraph_ttc.testing import FakeBackend
    >>> graph = create_ttc_graph(FakeBackend(), "majority", n=4)
    >>> graph.invoke({"question": "What is 2+2?"})["ttc_result"]["strategy"]
    'majority'
"""

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
from langgraph_ttc.backends import (
    Backend,
    ChatModelBackend,
    Completion,
    Draw,
    OpenAICompatibleBackend,
    SamplingParams,
    resolve_backend,
)
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
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.runnable import TTCChatModel, as_runnable
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.plan import Plan
from langgraph_ttc.search import (
    LLMStepJudge,
    PoolingPRM,
    ProcessScorer,
    RolloutValueScorer,
    Segmentation,
)
from langgraph_ttc.state import TTCInput, TTCOutput, TTCState
from langgraph_ttc.stopping import AgreementAtLeast, SamplesAtLeast, StopRule, Votes
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

__version__ = "0.1.0"

__all__ = [
    "AGGREGATORS",
    "Adaptive",
    "Aggregate",
    "Aggregator",
    "AgreementAtLeast",
    "Ballots",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "BeamSearch",
    "BestOfN",
    "Budget",
    "BudgetExhausted",
    "ChatModelBackend",
    "Completion",
    "Draw",
    "Dvts",
    "FilterVote",
    "LLMJudge",
    "LLMStepJudge",
    "Lookahead",
    "Majority",
    "Meter",
    "OpenAICompatibleBackend",
    "Plan",
    "PlanSpec",
    "Policy",
    "PoolingPRM",
    "Prices",
    "Problem",
    "ProcessScorer",
    "ProgrammaticVerifier",
    "Rebase",
    "ReferenceVerifier",
    "Revise",
    "RolloutValueScorer",
    "RunnableJudge",
    "SamplesAtLeast",
    "STRATEGIES",
    "SampleFailed",
    "SamplingParams",
    "Segmentation",
    "StopRule",
    "Strategy",
    "TTCChatModel",
    "TTCConfigError",
    "TTCContext",
    "TTCError",
    "TTCInput",
    "TTCInputError",
    "TTCOutput",
    "TTCState",
    "Task",
    "UnitTestVerifier",
    "Usage",
    "Verdict",
    "Verifier",
    "Votes",
    "WeightedBestOfN",
    "as_runnable",
    "best_of_n",
    "build_ttc_graph",
    "create_ttc_graph",
    "filter_vote",
    "get_aggregator",
    "get_strategy",
    "load_task",
    "majority_vote",
    "register_aggregator",
    "resolve_backend",
    "weighted_best_of_n",
]
