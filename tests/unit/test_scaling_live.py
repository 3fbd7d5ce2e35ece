"""Live runners: sequential and adaptive strategies measured at each budget."""

from __future__ import annotations

import json

import pytest

from langgraph_ttc.scaling import run_curves
from langgraph_ttc.scaling.live import graph_runner, strategy_at_budget
from langgraph_ttc.tasks import JsonlTask
from langgraph_ttc.testing import FakeBackend, NoisyOracle

QUESTIONS = {
    "What is 3 + 5?": ("8", 0.6),
    "What is 1 + 1?": ("2", 1.0),
    "What is 9 * 9?": ("81", 0.1),
}


@pytest.fixture
def task(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"id": str(i), "question": q, "answer": a})
            for i, (q, (a, _)) in enumerate(QUESTIONS.items())
        )
    )
    return JsonlTask(path)


@pytest.mark.parametrize("k", [1, 2, 5, 16])
def test_revise_at_budget_spends_at_most_k(k):
    strategy = strategy_at_budget("revise", k)
    assert strategy.width * strategy.depth <= k
    assert strategy.depth <= 4


def test_live_runner_scores_each_problem_within_budget(task):
    backend = FakeBackend(reply=NoisyOracle(QUESTIONS))
    for name in ("revise", "adaptive", "majority"):
        result = graph_runner(name)(task, backend, 4)
        assert len(result.correct) == 3
        assert result.correct[1] == 1.0  # the always-right question
        assert 0 < result.mean_calls <= 4 and result.mean_tokens > 0


def test_run_curves_plots_live_strategies_on_the_same_axes(task, tmp_path):
    backend = FakeBackend(reply=NoisyOracle(QUESTIONS), honours_n=False)
    summary = run_curves(
        task,
        backend,
        tmp_path / "out",
        k_max=4,
        strategies=["coverage", "majority"],
        live={"revise": graph_runner("revise")},
        progress=False,
        n_boot=50,
        plot=False,
    )
    live = summary["live"]["revise"]
    assert [p["k"] for p in live] == [p["k"] for p in summary["strategies"]["majority"]]
    assert all(0 <= p["accuracy"] <= 1 and p["mean_calls"] <= p["k"] for p in live)


def test_the_methods_that_aggregate_with_the_model_run_live_in_curves(task, tmp_path):
    """GenSelect, RSA and particle filtering cannot be replayed from a pool: curves runs them
    live at each budget, within it."""
    backend = FakeBackend(reply=NoisyOracle(QUESTIONS))
    live = {name: graph_runner(name) for name in ("genselect", "rsa", "particle_filter")}
    summary = run_curves(
        task,
        backend,
        tmp_path / "out",
        k_max=4,
        strategies=["coverage", "majority"],
        live=live,
        progress=False,
        n_boot=20,
        plot=False,
    )
    assert set(summary["live"]) == set(live)
    for name, points in summary["live"].items():
        assert [p["k"] for p in points] == [p["k"] for p in summary["strategies"]["majority"]]
        assert all(0 <= p["accuracy"] <= 1 and p["mean_calls"] <= p["k"] for p in points), name
