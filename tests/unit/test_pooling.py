"""The batch's own prior (empirical Bayes over its tallies): recovery, degenerate batches,
determinism, and its use by the batch allocator."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from langgraph_ttc.allocation import BatchAllocation, gain_rate, next_round
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.pooling import fit_pooled_prior, pooled_prior
from langgraph_ttc.posterior import BETA_GRID, Q_GRID, likelihood, tally
from langgraph_ttc.stopping import Votes


def simulate(rng: np.random.Generator, q: float, beta: float, m: int, nu: float = 0.05):
    """m samples of the posterior's own generative model: right w.p. q, else no answer w.p.
    nu, else a wrong answer from a Chinese restaurant process with concentration beta."""
    answers, tables = [], []
    for _ in range(m):
        if rng.random() < q:
            answers.append("right")
        elif rng.random() < nu:
            answers.append(None)
        else:
            u = rng.random() * (sum(tables) + beta)
            if u >= sum(tables):
                tables.append(1)
                answers.append(f"w{len(tables) - 1}")
            else:
                j = int(np.searchsorted(np.cumsum(tables), u, side="right"))
                tables[j] += 1
                answers.append(f"w{j}")
    return answers


def tallies_of(batch):
    out = []
    for answers in batch:
        counts, none, _ = tally(answers)
        out.append((counts, none, tuple(0.0 for _ in counts)))
    return out


def test_the_fit_recovers_the_difficulty_mix_and_concentrations_it_was_drawn_from():
    rng = np.random.default_rng(0)
    hard, easy = Q_GRID[2], Q_GRID[15]  # 0.125 and 0.775
    batch = [
        simulate(rng, hard if i % 3 == 0 else easy, BETA_GRID[0] if i % 2 else BETA_GRID[2], 16)
        for i in range(300)
    ]
    fit = fit_pooled_prior(tallies_of(batch), strength=0.0)
    q = np.array(fit.q)
    assert abs(q[Q_GRID < 0.4].sum() - 1 / 3) < 0.06  # a third of the questions are hard
    assert abs(float(q @ Q_GRID) - (hard + 2 * easy) / 3) < 0.03
    assert abs(fit.beta[0] - 0.5) < 0.1 and abs(fit.beta[2] - 0.5) < 0.1 and fit.beta[1] < 0.1
    assert fit.questions == 300 and np.isfinite(fit.log_likelihood)
    # A batch of hard questions only moves the prior the other way.
    hard_batch = [simulate(rng, hard, BETA_GRID[2], 16) for _ in range(100)]
    assert float(np.array(fit_pooled_prior(tallies_of(hard_batch)).q) @ Q_GRID) < 0.3


@pytest.mark.parametrize(
    "batch",
    [
        [["4", "4"]],  # one question
        [["4", "4", "4"]] * 5,  # all agree
        [["1", "2", "3", "4"]] * 5,  # all different
        [[None, None]] * 4,  # no answer parsed
        [[]] * 3,  # nothing drawn yet
        [],  # an empty batch
    ],
    ids=["one", "all-agree", "all-different", "no-answers", "nothing-drawn", "empty"],
)
def test_degenerate_batches_give_a_proper_prior(batch):
    base = tuple(np.linspace(1.0, 2.0, len(Q_GRID)))
    for strength in (0.0, 10.0):
        fit = pooled_prior([Votes(tuple(a)) for a in batch], base=base, strength=strength)
        for weights in (fit.q, fit.beta, *fit.priors):
            assert np.isfinite(weights).all() and min(weights) >= 0
            assert abs(sum(weights) - 1) < 1e-5
        assert len(fit.priors) == len(batch)
        if not any(batch):  # no evidence: the base as it is
            assert np.allclose(fit.q, np.array(base) / sum(base), atol=1e-6)
            assert fit.questions == 0 and fit.beta == pytest.approx((1 / 3,) * 3, abs=1e-6)
    # Priors with zeros, no shrinkage: still proper weights.
    spike = tuple(float(i == 3) for i in range(len(Q_GRID)))
    fit = pooled_prior([Votes(("4", "4"))] * 3 + [Votes(("1", "2"))],
                       priors=[spike, None, None, spike], base=spike, strength=0.0)  # fmt: skip
    assert all(np.isfinite(p).all() and abs(sum(p) - 1) < 1e-5 for p in fit.priors)
    # Shrinkage: one question hardly moves a strong base, and all-agree moves mass upward.
    one = pooled_prior([Votes(("4", "4"))], strength=10.0)
    assert np.abs(np.array(one.q) - 1 / len(Q_GRID)).max() < 0.02
    agree = pooled_prior([Votes(("4",) * 3)] * 20, strength=0.0)
    assert float(np.array(agree.q) @ Q_GRID) > 0.6


def test_the_fit_is_the_same_in_any_order_and_reweights_each_question_s_own_prior():
    rng = np.random.default_rng(1)
    batch = [Votes(tuple(simulate(rng, q, 1.0, 4))) for q in rng.uniform(0, 1, 30)]
    shuffled = batch[:]
    random.Random(2).shuffle(shuffled)
    assert pooled_prior(batch).q == pooled_prior(shuffled).q
    own = [tuple(np.exp(-((Q_GRID - c) ** 2) / 0.05)) for c in rng.uniform(0, 1, 30)]
    fit = pooled_prior(batch, priors=own, strength=5.0)
    ratio = np.array(fit.priors[0]) / np.array(own[0]) * sum(own[0])
    ratio2 = np.array(fit.priors[1]) / np.array(own[1]) * sum(own[1])
    # One reweighting for every question (up to each one's normalisation).
    assert np.allclose(ratio / ratio.sum(), ratio2 / ratio2.sum(), atol=1e-3)
    # Equal per-question priors are the shared prior.
    same = pooled_prior(batch, priors=[None] * 30)
    assert same.q == pooled_prior(batch).q and same.priors[0] == same.q


def test_bad_settings_are_named():
    with pytest.raises(TTCConfigError, match="strength"):
        fit_pooled_prior([], strength=-1.0)
    with pytest.raises(TTCConfigError, match="20 non-negative"):
        fit_pooled_prior([((2,), 0, (0.0,))], base=(1.0, 2.0))
    with pytest.raises(TTCConfigError, match="one prior per tally"):
        fit_pooled_prior([((2,), 0, (0.0,))], priors=[None, None])
    with pytest.raises(TTCConfigError, match="pooled"):
        BatchAllocation(pooled=-1.0)
    with pytest.raises(TTCConfigError, match="refit"):
        BatchAllocation(pooled=1.0, refit="always")
    assert likelihood((), 0, ()).shape == (len(Q_GRID), len(BETA_GRID))


def test_the_allocator_reads_every_question_s_gain_under_the_batch_s_prior():
    # The policy's prior says questions are easy; the batch is mostly scattered answers. The
    # batch's fit moves mass down, and the allocator ranks questions by the gains under it.
    easy = tuple(np.where(Q_GRID > 0.7, 1.0, 0.01))
    batch = [Votes((f"a{i}", f"b{i}", f"c{i}")) for i in range(10)]
    batch += [Votes(("4", "5", "4")), Votes(("4", "4", "4")), Votes(("7", "8", None))]
    pooled = BatchAllocation(budget=4, start=3, chunk=2, cap=9, per_round=1.0, prior=easy,
                             pooled=2.0)  # fmt: skip
    fit = pooled_prior(batch, base=easy, strength=2.0, samples=3)
    assert float(np.array(fit.q) @ Q_GRID) < float(np.array(easy) @ Q_GRID) / sum(easy)
    plain_rates = [gain_rate(v, pooled, easy) for v in batch]
    rates = [gain_rate(v, pooled, fit.priors[i], fit.beta) for i, v in enumerate(batch)]
    assert rates != plain_rates
    top = sorted(range(len(batch)), key=lambda i: (-rates[i], i))[:2]
    extra = next_round(batch, pooled, left=4)
    assert [i for i, e in enumerate(extra) if e] == sorted(top)
    rounds = dataclasses.replace(pooled, refit="rounds")
    assert next_round(batch, rounds, left=4) == next_round(batch, rounds, left=4)


def test_every_venue_builds_the_pooled_batch_the_same_way():
    from langgraph_ttc.batch import allocation_for

    allocation, _ = allocation_for(4, cap=16, pooled=5.0)
    assert allocation.pooled == 5.0 and allocation.refit == "probes"
    assert allocation_for(4, cap=16)[0].pooled is None  # opt-in


def test_the_batch_s_confidence_evidence_lands_on_its_own_scale():
    from langgraph_ttc.allocation import batch_evidence, final_answers
    from langgraph_ttc.pooling import pooled_evidence

    rng = np.random.default_rng(3)
    batch = []
    for q in rng.uniform(0.2, 0.9, 100):  # right samples N(7.6, 1), wrong N(6.6, 1)
        answers = simulate(rng, q, 1.0, 4)
        confs = [rng.normal(7.6 if a == "right" else 6.6, 1.0) for a in answers]
        batch.append(Votes(tuple(answers), tuple(float(c) for c in confs)))
    # The policy was fitted where confidences sat around 11: the batch's fit moves to its scale.
    fit = pooled_evidence(batch, slope=0.5, center=11.0)
    assert abs(fit.center - 7.1) < 0.3 and abs(fit.slope - 1.0) < 0.35
    assert min(fit.future[0]) < max(fit.future[0]) and np.mean(fit.future[0]) > 0
    assert np.mean(fit.future[1]) < 0
    assert pooled_evidence(batch, slope=0.0, center=11.0) is None  # no evidence to refit
    assert pooled_evidence([Votes(("4",), None)], slope=0.5, center=1.0) is None
    assert pooled_evidence([Votes(("4", "5"), (1.0, 1.0))] * 3, slope=0.5, center=1.0) is None
    # The answers read it where the vote is counts plus evidence; a named vote stays.
    allocation = BatchAllocation(slope=0.5, center=11.0, pooled=10.0, pool_evidence=True,
                                 refit="rounds")  # fmt: skip
    assert batch_evidence(batch, allocation) == fit
    probes = batch_evidence(batch, dataclasses.replace(allocation, refit="probes"))
    assert abs(probes.center - 7.1) < 0.4  # two samples a question are enough for the scale
    # On the policy's scale every sample here is evidence against its answer, so the answer
    # with fewer samples wins; on the batch's, two samples near its center beat one.
    split = [Votes(("a", "b", "b"), (7.5, 7.0, 7.0))] + batch
    evidence_vote = dataclasses.replace(allocation, vote="evidence_0.5@11.0")
    assert final_answers(split, evidence_vote)[0] == "b"
    assert final_answers(split, dataclasses.replace(allocation, vote="majority"))[0] == "b"
    assert final_answers(split, dataclasses.replace(allocation, pool_evidence=False))[0] == "a"
