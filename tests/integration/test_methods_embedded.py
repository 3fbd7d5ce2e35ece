"""GenSelect, RSA and particle filtering end to end on the real embedded model (small sizes).

They assert what the methods guarantee whatever the weak model writes: every call within the
budget and counted under its purpose (``select``, ``aggregate``), the knockout and the
population steps as planned, the vote read from the right candidates; never its accuracy.
"""

from __future__ import annotations

import pytest

from langgraph_ttc import Budget, create_ttc_graph
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.methods import RSA, GenSelect, ParticleFilter
from langgraph_ttc.methods.genselect import knockout_calls
from langgraph_ttc.search import check_tree
from langgraph_ttc.search.tree import ROOT_ID
from langgraph_ttc.tasks import ReasoningGymTask
from langgraph_ttc.verifiers import ProgrammaticVerifier

pytestmark = pytest.mark.integration

TOKENS = 24


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend.default()


@pytest.fixture(scope="module")
def task() -> ReasoningGymTask:
    config = {"min_terms": 2, "max_terms": 2, "max_digits": 1}
    return ReasoningGymTask("basic_arithmetic", size=1, seed=0, n_exemplars=2, config=config)


def test_genselect_on_the_embedded_model(backend, task):
    graph = create_ttc_graph(
        backend, GenSelect(n=6, group_size=2, max_tokens=TOKENS, seed=1), task=task
    )
    result = graph.invoke({"question": task.problems()[0].question})["ttc_result"]
    usage = result["usage"]
    answered = [c for c in result["candidates"] if c["ok"] and c["answer"] is not None]
    # 3 samples (then groups of 2 and 1, the winners meet: 2 selections at most) within 6.
    assert result["plan"]["width"] == 3 and usage["calls"] <= 6
    selections = usage["by_purpose"].get("select", {}).get("calls", 0)
    assert selections == knockout_calls(len(answered), 2)
    if len(answered) > 1:
        winner = max(answered, key=lambda c: c["selected"] or 0)
        assert result["answer"] == winner["answer"] and winner["selection"]


def test_rsa_on_the_embedded_model(backend, task):
    strategy = RSA(population=2, k=2, steps=1, max_tokens=TOKENS, seed=2)
    graph = create_ttc_graph(backend, strategy, budget=Budget(max_calls=4), task=task)
    result = graph.invoke({"question": task.problems()[0].question})["ttc_result"]
    by_purpose = result["usage"]["by_purpose"]
    assert by_purpose["generate"]["calls"] == 2 and by_purpose["aggregate"]["calls"] == 2
    last = [c["answer"] for c in result["candidates"] if c["step"] == 1]
    if any(a is not None for a in last):
        assert result["answer"] in last


def test_particle_filter_on_the_embedded_model(backend, task):
    problem = task.problems()[0]
    scorer = ProgrammaticVerifier(lambda q, text: 0.2 + 0.8 * task.score(problem, text))
    strategy = ParticleFilter(n=3, max_rounds=2, max_tokens=TOKENS, seed=3)
    graph = create_ttc_graph(
        backend, strategy, budget=Budget(max_calls=9), verifier=scorer, task=task
    )
    result = graph.invoke({"question": problem.question})["ttc_result"]
    assert result["usage"]["calls"] <= 9
    assert check_tree(result["tree"]) == []  # children == the widths resampling gave
    first = [n for n in result["tree"] if n["parent"] == ROOT_ID]
    assert len(first) == 3  # N particles to start
