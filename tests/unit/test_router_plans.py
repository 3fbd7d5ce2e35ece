"""The router's plans for equal calls: the evidence vote, posterior horizons below the budget,
one plan unless per-bin plans gain more, and larger budgets inheriting smaller ones' plans."""

from __future__ import annotations

import numpy as np
import pytest

from langgraph_ttc.aggregators import Ballots, EvidenceVote, get_aggregator
from langgraph_ttc.aggregators.base import BallotTable
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.policy import PlanSpec, Policy
from langgraph_ttc.scaling.calibrate import _inherit, calibrate, candidate_specs
from langgraph_ttc.scaling.replay import ReplayTable
from langgraph_ttc.scaling.synthetic import banded_pool
from langgraph_ttc.stopping import PosteriorStop


def test_the_evidence_vote_is_counts_plus_confidence_evidence_by_name():
    vote = get_aggregator("evidence_0.5@10")
    assert isinstance(vote, EvidenceVote) and (vote.slope, vote.center) == (0.5, 10.0)
    # Two votes at confidence 8 (weight 0 each) lose to one at 14 (weight 3).
    ballots = Ballots(("a", "b", "b"), confidences=(14.0, 8.0, 8.0))
    assert vote.vote(ballots).answer == "a"
    assert get_aggregator("majority").vote(ballots).answer == "b"
    # Without confidences it is the majority.
    assert vote.vote(Ballots(("a", "b", "b"))).answer == "b"
    with pytest.raises(TTCConfigError, match="Unknown aggregator"):
        get_aggregator("evidence_x")


def test_the_evidence_vote_replays_as_it_votes():
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 3, size=(6, 9))
    confidences = rng.normal(10.0, 2.0, size=(6, 9))
    vote = EvidenceVote(0.6, 10.5)
    winners = vote.prefix_winners(BallotTable(codes=codes, confidences=confidences))
    for o in range(6):
        for w in range(1, 10):
            answers = tuple(None if c < 0 else int(c) for c in codes[o, :w])
            got = vote.vote(Ballots(answers, confidences=tuple(confidences[o, :w])))
            assert (-1 if got.index is None else got.index) == winners[o, w - 1]


def test_calibration_offers_the_evidence_vote_and_posterior_horizons_below_the_budget():
    pool = banded_pool(16, 16, seed=4, confidence_auroc=0.8)
    table = ReplayTable(pool.problems, probes=2, n_orders=2)
    specs = candidate_specs(16, table)
    horizons = {s.stop_rule.horizon for s in specs if isinstance(s.stop_rule, PosteriorStop)}
    assert horizons == {4, 8, 16}
    assert any(s.aggregator.startswith("evidence_") for s in specs if s.stop)


def test_a_larger_budget_inherits_the_plans_of_a_smaller_one_that_gained_more():
    small, large = PlanSpec(width=4), PlanSpec(width=16)
    policy = Policy(plans={1: {8: small, 16: large}})
    cells = [{"bin": 1, "budget": 8, "plan": "a"}, {"bin": 1, "budget": 16, "plan": "b"}]
    cv = [
        {"budget": 8, "cv_gain": 0.05, "cv_gain_one_plan": 0.04, "cv_accuracy": 0.6},
        {"budget": 16, "cv_gain": 0.01, "cv_gain_one_plan": 0.02, "cv_accuracy": 0.61},
    ]
    _inherit(policy, cells, cv, floor=4)
    assert policy.plans[1][16] is small
    assert cv[1]["inherits"] == 8 and cv[1]["budget"] == 16 and cv[1]["cv_accuracy"] == 0.6
    assert cells[1]["plan"].endswith("(as budget 8)")


def test_an_equal_calls_policy_never_gains_less_at_a_larger_budget():
    pool = banded_pool(40, 16, seed=6)
    result = calibrate(pool, [4, 8, 16], probes=2, n_orders=2, objective="equal_calls")
    gains = [max(r["cv_gain"], r["cv_gain_one_plan"]) for r in result.cross_validation]
    assert gains == sorted(gains)
