"""Each step-level search end to end on the real embedded model (small N, short steps).

These assert invariants (calls within budget, every call counted by purpose, a consistent tree
with the widths as allocated, parsed scores in [0, 1]), never the weak model's accuracy.
"""

from __future__ import annotations

import pytest

from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.search import LLMStepJudge, check_tree
from langgraph_ttc.strategies import BeamSearch, Dvts, Lookahead, Rebase
from langgraph_ttc.tasks import ReasoningGymTask
from langgraph_ttc.verifiers import ProgrammaticVerifier

pytestmark = pytest.mark.integration

STEP_TOKENS = 24
BUDGET = 16


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend.default()


@pytest.fixture(scope="module")
def task() -> ReasoningGymTask:
    config = {"min_terms": 2, "max_terms": 2, "max_digits": 1}
    return ReasoningGymTask("basic_arithmetic", size=1, seed=0, n_exemplars=2, config=config)


def free_scorer(task: ReasoningGymTask) -> ProgrammaticVerifier:
    """A scorer that costs no calls: does the partial solution already hold the right answer."""
    problem = task.problems()[0]
    return ProgrammaticVerifier(lambda q, text: 0.2 + 0.8 * task.score(problem, text))


# The LLM step judge (the default scorer) runs on the real model in beam search; the other
# searches use a free scorer so the file stays quick on two shared cores.
CASES = [
    ("beam_search", BeamSearch(n=4, m=2, max_rounds=2, max_tokens=STEP_TOKENS, seed=1), "judge"),
    ("rebase", Rebase(n=4, max_rounds=2, max_tokens=STEP_TOKENS, seed=2), "free"),
    ("lookahead", Lookahead(n=2, m=2, k=1, max_rounds=2, max_tokens=STEP_TOKENS, seed=3), "free"),
    ("dvts", Dvts(n=4, m=2, max_rounds=2, max_tokens=STEP_TOKENS, seed=4), "free"),
]


@pytest.mark.parametrize("name,strategy,scorer", CASES, ids=[c[0] for c in CASES])
def test_search_on_the_embedded_model(backend, task, name, strategy, scorer):
    verifier = LLMStepJudge(max_tokens=12) if scorer == "judge" else free_scorer(task)
    graph = create_ttc_graph(
        backend, strategy, budget=Budget(max_calls=BUDGET), verifier=verifier, task=task
    )
    out = graph.invoke({"question": task.problems()[0].question})
    result = out["ttc_result"]
    usage, tree = result["usage"], result["tree"]

    assert result["strategy"] == name and result["search"]["segmentation"] == "newline"
    assert 0 < usage["calls"] <= BUDGET
    assert usage["calls"] == sum(p["calls"] for p in usage["by_purpose"].values())
    assert usage["completion_tokens"] > 0
    assert check_tree(tree) == []  # every parent exists; children == allocated width
    assert tree[0]["width"] == strategy.n
    steps = [n for n in tree if n["parent"] is not None]
    assert any(n["text"] for n in steps), "no step text from the model"
    assert all(n["score"] is not None and 0.0 <= n["score"] <= 1.0 for n in steps)
    assert all(n["depth"] <= strategy.max_rounds for n in steps)
    generated = usage["by_purpose"]["generate"]["calls"]
    assert generated >= len(steps)  # lookahead adds its greedy rollout steps
    if scorer == "judge":
        judged = [n for n in steps if n["ok"] and n["text"] and not n["duplicate_of"]]
        assert usage["by_purpose"]["verify"]["calls"] == len(judged)
    else:
        assert "verify" not in usage["by_purpose"]
    assert out["messages"][-1].type == "ai"
