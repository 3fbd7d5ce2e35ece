"""Any stop rule can be chosen by a strategy (live) and searched by calibrate (replay), not
only the agreement share."""

from __future__ import annotations

import json

from langgraph_ttc import create_ttc_graph
from langgraph_ttc.cli import main
from langgraph_ttc.policy import Policy
from langgraph_ttc.scaling.calibrate import DEFAULT_STOP_RULES, calibrate, candidate_specs
from langgraph_ttc.scaling.replay import ReplayTable
from langgraph_ttc.scaling.synthetic import synthetic_pool
from langgraph_ttc.stopping import (
    AgreementAtLeast,
    BayesianStop,
    PosteriorStop,
    SamplesAtLeast,
    Votes,
)
from langgraph_ttc.strategies import SequentialVote, get_strategy
from langgraph_ttc.testing import FakeBackend, NoisyOracle


def test_a_strategy_draws_until_the_stop_rule_it_was_given():
    backend = FakeBackend(reply=NoisyOracle({"What is 2 + 3?": ("5", 1.0)}))
    graph = create_ttc_graph(backend, SequentialVote(n=16, start=2, stop_rule=BayesianStop(0.9)))
    result = graph.invoke({"question": "What is 2 + 3?"})["ttc_result"]
    # Unanimous answers: drawn one at a time from 2 until the Beta criterion passes 0.9.
    first = next(w for w in range(2, 17) if BayesianStop(0.9)(Votes(("5",) * w)))
    assert result["usage"]["calls"] == first < 16 and result["answer"] == "5"
    assert "P(leader) >= 0.9" in result["plan"]["reason"]
    from_cli = get_strategy("sequential", stop_rule={"kind": "samples", "n": 3})
    assert from_cli.plan().stop_rule == SamplesAtLeast(3)


def test_calibrate_searches_the_stop_rules_it_is_given(tmp_path):
    pool = synthetic_pool({"easy": 6, "medium": 6}, k=8, critiques=False, scores=False)
    table = ReplayTable(pool.problems, probes=2, n_orders=2)

    def searched_rules():  # the router's posterior stops are planned apart (PosteriorStop)
        return {
            s.stop_rule
            for s in candidate_specs(8, table)
            if s.stop_rule is not None and not isinstance(s.stop_rule, PosteriorStop)
        }

    default = searched_rules()
    assert default == set(DEFAULT_STOP_RULES)
    rules = [BayesianStop(0.9), AgreementAtLeast(0.75) | SamplesAtLeast(6)]
    result = calibrate(pool, [8], probes=2, n_orders=2, stop_rules=rules)
    assert result.policy.meta["stop_rules"] == [r.to_dict() for r in rules]
    table.stop_rules = tuple(rules)
    assert searched_rules() == set(rules)
    out = tmp_path / "policy.json"
    pool_path = tmp_path / "pool.sqlite"
    from langgraph_ttc.scaling.pool import build_pool
    from langgraph_ttc.tasks import load_task

    task = load_task("rg:basic_arithmetic", size=8, seed=3)
    oracle = NoisyOracle({p.question: (p.reference, 0.6) for p in task.problems()})
    build_pool(task, FakeBackend(reply=oracle), pool_path, k_max=8, progress=False)
    code = main(
        ["calibrate", "--pool", str(pool_path), "--budgets", "4,8", "--probes", "2",
         "--orders", "2", "--out", str(out), "--stop-rule", '{"kind": "bayesian", "threshold": 0.9}']
    )  # fmt: skip
    assert code == 0
    saved = Policy.load(out)
    assert saved.meta["stop_rules"] == [{"kind": "bayesian", "threshold": 0.9}]
    assert json.loads(out.read_text())["meta"]["budgets"] == [4, 8]
