"""Step-level search guided by a process scorer: beam search, lookahead, REBASE and DVTS.

Use them like any strategy::

    >>> from langgraph_ttc import create_ttc_graph
    >>> from langgraph_ttc.search import BeamSearch
    >>> from langgraph_ttc.testing import FakeBackend
    >>> from langgraph_ttc.verifiers import ProgrammaticVerifier
    >>> graph = create_ttc_graph(FakeBackend(), BeamSearch(n=4, m=2),
    ...                          verifier=ProgrammaticVerifier(lambda q, text: 0.5))
    >>> result = graph.invoke({"question": "What is 2 + 2?"})["ttc_result"]
    >>> result["strategy"], len(result["tree"]) > 1
    ('beam_search', True)

The ``verifier`` is the process scorer: a :class:`ProcessScorer` (:class:`LLMStepJudge`,
:class:`RolloutValueScorer`, :class:`PoolingPRM`) or any outcome verifier, applied to the
partial solution. Without one, the generator judges its own steps (:class:`LLMStepJudge`).
"""

from langgraph_ttc.search.prm import PoolingPRM, step_reward
from langgraph_ttc.search.scorers import (
    STEP_JUDGE_PROMPT,
    LLMStepJudge,
    ProcessScorer,
    RolloutValueScorer,
    VerifierStepScorer,
    as_process_scorer,
)
from langgraph_ttc.search.segmentation import Segmentation, StepCut, split_sentences
from langgraph_ttc.search.selection import (
    beam_shape,
    beam_widths,
    dvts_widths,
    fit_widths,
    rebase_widths,
    reduce_scores,
    softmax,
)
from langgraph_ttc.search.strategies import BeamSearch, Dvts, Lookahead, Rebase, StepSearch
from langgraph_ttc.search.tree import SearchNode, check_tree

__all__ = [
    "STEP_JUDGE_PROMPT",
    "BeamSearch",
    "Dvts",
    "LLMStepJudge",
    "Lookahead",
    "PoolingPRM",
    "ProcessScorer",
    "Rebase",
    "RolloutValueScorer",
    "SearchNode",
    "Segmentation",
    "StepCut",
    "StepSearch",
    "VerifierStepScorer",
    "as_process_scorer",
    "beam_shape",
    "beam_widths",
    "build_search_graph",
    "check_tree",
    "dvts_widths",
    "fit_widths",
    "rebase_widths",
    "reduce_scores",
    "softmax",
    "split_sentences",
    "step_reward",
]


def __getattr__(name: str):
    # The graph module imports the node machinery, which imports the strategy registry; loading
    # it lazily lets langgraph_ttc.strategies import this package's strategies without a cycle.
    if name == "build_search_graph":
        from langgraph_ttc.search.graph import build_search_graph

        return build_search_graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
