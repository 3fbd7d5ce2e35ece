"""Strategy plans, the registry, policies and difficulty bins."""

from __future__ import annotations

import pytest

from langgraph_ttc.difficulty import agreement, bin_of
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.strategies import (
    Adaptive,
    BestOfN,
    FilterVote,
    Revise,
    get_strategy,
    strategy_names,
)
from langgraph_ttc.verifiers import LLMJudge


def test_registry_names():
    # The core strategies in their order, then the methods (langgraph_ttc/methods/), which
    # register when their modules load.
    assert list(strategy_names())[:12] == [
        "majority",
        "filter_vote",
        "best_of_n",
        "weighted_best_of_n",
        "revise",
        "adaptive",
        "beam_search",
        "lookahead",
        "rebase",
        "dvts",
        "confidence_vote",
        "sequential",
    ]
    methods = {"deepconf_online", "adaptive_consistency", "genselect", "rsa", "particle_filter"}
    assert methods <= set(strategy_names()[12:])


def test_filter_vote_counts_critiques_in_the_budget():
    assert FilterVote(n=8).plan(None).width == 4
    assert FilterVote(n=8).plan(calls_left=5).width == 2


def test_n_is_the_call_budget_so_best_of_n_makes_room_for_judge_calls():
    judge = LLMJudge()
    assert BestOfN(n=8).plan(calls_left=10, verifier=judge).width == 4  # 4 samples + 4 judges
    assert BestOfN(n=8).plan(calls_left=6, verifier=judge).width == 3
    assert BestOfN(n=8).plan(calls_left=10).width == 8  # a programmatic verifier is free
    assert BestOfN(n=8).plan(verifier=judge).worst_case_calls(judge.calls_per_answer) == 8


def test_revise_plan_fits_the_budget():
    plan = Revise(width=4, depth=4).plan(calls_left=8)
    assert plan.width * plan.depth <= 8
    judged = Revise(width=2, depth=4).plan(verifier=LLMJudge())
    # Snell et al. 2024, sec. 6: with a verifier, select across all attempts by its scores.
    assert judged.aggregator == "weighted_best_of_n" and judged.verify


@pytest.mark.parametrize("bad", [{"n": 0}, {"n": -3}, {"temperature": -1.0}, {"max_tokens": 0}])
def test_bad_strategy_options_are_rejected(bad):
    with pytest.raises(TTCConfigError):
        get_strategy("majority", **bad)


def test_unknown_options_are_named():
    with pytest.raises(TTCConfigError, match="no option"):
        get_strategy("majority", width=3)


def test_adaptive_needs_a_probe_and_clamps_probes_to_n():
    with pytest.raises(TTCConfigError, match="probes"):
        Adaptive(n=2, probes=0)
    assert Adaptive(n=2, probes=4).plan(calls_left=None).width == 2


def test_agreement_and_bins():
    assert agreement(["1", "1", "2", None]) == 0.5
    assert agreement([None, None]) == 0.0
    assert [bin_of(a) for a in (1.0, 0.75, 0.5, 0.4, 0.25, 0.0)] == [1, 1, 2, 3, 4, 5]


def test_policy_json_round_trip(tmp_path):
    policy = Policy(
        plans={
            1: {0: PlanSpec(stop=True)},
            3: {0: PlanSpec(fraction=0.5), 16: PlanSpec(width=12, aggregator="filter_vote")},
        },
        meta={"model": "m", "task": "t"},
    )
    path = tmp_path / "p.json"
    policy.save(path)
    loaded = Policy.load(path)
    assert loaded == policy
    assert loaded.spec(3, 8) == PlanSpec(fraction=0.5)
    assert loaded.spec(3, 32).width == 12


def test_policy_plans_stay_within_calls_left():
    for spec in (
        PlanSpec(fraction=1.0),
        PlanSpec(width=40),
        PlanSpec(fraction=1.0, depth=3),
        PlanSpec(aggregator="filter_vote"),
    ):
        plan = spec.resolve(probes=4, calls_left=12)
        extra = plan.width - 4
        cost = extra * plan.depth * (2 if plan.critique else 1)
        assert cost <= 12 + 4 * (plan.depth - 1), spec


def test_bad_policy_files_are_explained(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{}")
    with pytest.raises(TTCConfigError, match="calibrate"):
        Policy.load(path)
