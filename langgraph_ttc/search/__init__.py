"""Step-level search guided by a process scorer: beam search, lookahead, REBASE and DVTS.

Use them like any strategy::

    >>> from langgraph_ttc import BeamSearch, create_ttc_graph
    >>> from langgraph_ttc.testing import FakeBackend
    >>> from langgraph_ttc.verifiers import ProgrammaticVerifier
    >>> graph = create_ttc_graph(FakeBackend(), BeamSearch(n=4, m=2),
    ...                          verifier=ProgrammaticVerifier(lambda q, text: 0.5))
    >>> result = graph.invoke({"question": "What is 2 + 2?"})["ttc_result"]
    >>> result["strategy"], len(result["tree"]) > 1
    ('beam_search', True)

The search strategies themselves (:class:`~langgraph_ttc.strategies.BeamSearch`, ``Lookahead``,
``Rebase``, ``Dvts``) live with the other strategies; the graph is
:func:`langgraph_ttc.search_graph.build_search_graph`. The ``verifier`` is the process scorer: a :class:`ProcessScorer` (:class:`LLMStepJudge`,
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
from langgraph_ttc.search.segmentation import Segmentation, StepCut
from langgraph_ttc.search.tree import SearchNode, check_tree

__all__ = [
    "STEP_JUDGE_PROMPT",
    "LLMStepJudge",
    "PoolingPRM",
    "ProcessScorer",
    "RolloutValueScorer",
    "SearchNode",
    "Segmentation",
    "StepCut",
    "VerifierStepScorer",
    "as_process_scorer",
    "check_tree",
    "step_reward",
]
