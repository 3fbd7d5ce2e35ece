"""A posterior over one question's answer distribution, and the expected gain of more samples.

The router's old decision (one plan after 4 probes) cannot tell a hard-but-solvable question
from a hopeless one: both show low agreement. This model reads the whole tally after every
chunk of samples and says what more samples are worth.

Generative model of one question's samples (a Dirichlet-process mixture, the Ewens sampling
formula for the wrong answers):

* each sample is correct with probability ``q`` (the question's single-sample accuracy); the
  prior over ``q`` lives on a grid (:data:`Q_GRID`); it is fitted on pools, and per question it
  can come from a zero-probe difficulty predictor (:mod:`langgraph_ttc.scaling.prior`; Snell et
  al. 2024 App. C, Predictive Scheduling arXiv 2602.01237);
* a wrong sample gives no answer with probability ``none`` (estimated from the tally), else a
  wrong answer from a Chinese restaurant process with concentration ``beta``: small ``beta``
  means a popular wrong answer, large ``beta`` scattered ones (a grid, :data:`BETA_GRID`);
* with per-sample confidences, each sample's confidence ``c`` adds evidence
  ``slope * (c - center)`` (log-likelihood ratio of right vs wrong, a logistic fit on pools).

Hypotheses: "answer ``a`` is the correct one" for each answer seen, or "the correct answer has
not been seen yet". Their posterior (summed over ``q`` and ``beta``) gives the value of
answering now (the posterior probability that the best-supported answer is right), and a
Monte Carlo over the posterior predictive (fixed random numbers: the same tally always gives
the same numbers, live and in replay) gives the expected accuracy after ``m`` more samples.
A question is worth continuing when the best expected gain per extra call beats a price
(``cost``); a hopeless question (the correct answer likely unseen, more samples unlikely to
surface it as the leader) and a settled one both stop: the first is "give up".
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "BETA_GRID",
    "Q_GRID",
    "Assessment",
    "assess",
    "evidence",
    "hypotheses",
    "likelihood",
    "tally",
]

Q_GRID = np.round(np.linspace(0.025, 0.975, 20), 4)
"""Single-sample accuracies the posterior weighs (20 points)."""
BETA_GRID = (0.2, 1.0, 5.0)
"""Concentrations of the wrong answers: popular, middling, scattered."""
PARTICLES = 256
"""Monte Carlo draws from the posterior predictive."""
_UNIFORMS = np.random.default_rng(20250613).random((3, PARTICLES, 256))  # fixed: deterministic
_EVIDENCE_UNIFORMS = np.random.default_rng(20250614).random((PARTICLES, 256))  # ditto


@dataclass(frozen=True)
class Assessment:
    """What the posterior says about one tally.

    Attributes:
        value: posterior probability that the best-supported answer is right (answer now).
        unseen: posterior probability that the correct answer is not among those seen.
        gains: ``(m, expected accuracy gain after m more samples)`` for each look-ahead.
    """

    value: float
    unseen: float
    gains: tuple[tuple[int, float], ...]

    def best_rate(self) -> float:
        """The largest expected gain per extra sample over the look-aheads (0 with none)."""
        return max((g / m for m, g in self.gains if m > 0), default=0.0)


def tally(
    answers: Sequence[Hashable | None], confidences: Sequence[float | None] | None = None
) -> tuple[tuple[int, ...], int, tuple[tuple[float, ...], ...]]:
    """(counts per distinct answer in order of first appearance, answerless samples, the
    confidences of each answer's samples; none unless every sample has one).

    Example:
        >>> tally(["4", None, "5", "4"], [0.9, 0.1, 0.5, 0.7])
        ((2, 1), 1, ((0.9, 0.7), (0.5,)))
    """
    if confidences is not None and any(
        c is None or (isinstance(c, float) and math.isnan(c)) for c in confidences
    ):
        confidences = None  # as a live run's votes: confidences for all samples, or none
    index: dict[Hashable, int] = {}
    counts: list[int] = []
    confs: list[list[float]] = []
    none = 0
    for i, answer in enumerate(answers):
        if answer is None:
            none += 1
            continue
        j = index.setdefault(answer, len(index))
        if j == len(counts):
            counts.append(0)
            confs.append([])
        counts[j] += 1
        if confidences is not None:
            confs[j].append(float(confidences[i]))
    return tuple(counts), none, tuple(tuple(c) for c in confs)


def evidence(confs: Sequence[Sequence[float]], slope: float, center: float) -> tuple[float, ...]:
    """Each answer's log-likelihood ratio (right vs wrong) from its samples' confidences,
    rounded to 1e-3 so that equal tallies give equal numbers on every path.

    Example:
        >>> evidence([(0.9, 0.7), (0.5,)], slope=2.0, center=0.6)
        (0.8, -0.2)
    """
    if slope == 0.0:
        return tuple(0.0 for _ in confs)
    return tuple(round(sum(slope * (c - center) for c in cs), 3) for cs in confs)


_gammaln = np.vectorize(math.lgamma, otypes=[float])  # no scipy in the core install


def _log_ewens(sizes: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """log P(a sequence of wrong answers with cluster ``sizes``) under CRP(``beta``), for each
    beta (sizes: (hypotheses, clusters) with zeros for absent clusters)."""
    k = (sizes > 0).sum(axis=1)[:, None]
    m = sizes.sum(axis=1)[:, None]
    per = np.where(sizes > 0, _gammaln(np.maximum(sizes, 1)), 0.0).sum(axis=1)[:, None]
    return k * np.log(beta) + per + _gammaln(beta) - _gammaln(beta + m)


def _log_likelihood(counts, none, llr):
    """log P(tally | hypothesis, q, beta) up to a constant of the tally, (K+1, Q, B), and the
    none rate: hypotheses 0..K-1 = answer j is right, K = the right answer is unseen."""
    counts_a = np.array(counts, dtype=float)
    k = len(counts_a)
    n_answered = counts_a.sum()
    n = n_answered + none
    nu = min(max((none + 0.5) / (n + 1.0), 0.01), 0.99)  # answerless share of wrong samples
    beta = np.array(BETA_GRID)
    q = Q_GRID
    # Wrong clusters per hypothesis: all clusters except the right one (or all, if unseen).
    sizes = np.tile(counts_a, (k + 1, 1))
    if k:
        sizes[np.arange(k), np.arange(k)] = 0.0
    right = np.concatenate([counts_a, [0.0]])  # votes for the right answer per hypothesis
    wrong_answered = n_answered - right
    log_q = right[:, None] * np.log(q)[None, :] + (n - right)[:, None] * np.log1p(-q)[None, :]
    log_wrong = wrong_answered * math.log1p(-nu)  # the (1 - none) factor of answered wrongs
    ewens = _log_ewens(sizes, beta)  # (K+1, B)
    llr_a = np.concatenate([np.asarray(llr, dtype=float), [0.0]])
    log_l = log_q[:, :, None] + (log_wrong + llr_a)[:, None, None] + ewens[:, None, :]
    return log_l, nu


def likelihood(counts, none, llr) -> np.ndarray:
    """P(tally | q, beta) over the grids (:data:`Q_GRID` x :data:`BETA_GRID`), summed over
    which answer is right, scaled so that its largest entry is 1 (a constant of the tally,
    which no fit of a prior over ``q`` and ``beta`` depends on); the evidence a pooled
    (empirical-Bayes) prior is fitted to (:mod:`langgraph_ttc.pooling`).

    Example:
        >>> counts, none, confs = tally(["4", "4", "4"])
        >>> grid = likelihood(counts, none, ())
        >>> grid.shape, bool(grid[-1].sum() > grid[0].sum())  # all agree: q is high
        ((20, 3), True)
    """
    return _likelihood(tuple(counts), int(none), tuple(float(e) for e in llr)).copy()


@lru_cache(maxsize=200_000)
def _likelihood(counts, none, llr) -> np.ndarray:
    log_l, _ = _log_likelihood(counts, none, llr)
    grid = np.exp(log_l - log_l.max()).sum(axis=0)
    return grid / grid.max()


def hypotheses(counts, none, llr, prior=None, beta_prior=None) -> np.ndarray:
    """The posterior probability that each seen answer is the right one, and (last) that the
    right answer is unseen: ``K + 1`` numbers summing to 1.

    Example:
        >>> counts, none, _ = tally(["4", "4", "5"])
        >>> post = hypotheses(counts, none, (0.0, 0.0))
        >>> post.shape, bool(post[0] > post[1])
        ((3,), True)
    """
    prior_t = np.full(len(Q_GRID), 1.0 / len(Q_GRID)) if prior is None else prior
    weights, _ = _posterior(tuple(counts), int(none), tuple(llr), prior_t, beta_prior)
    return weights.sum(axis=(1, 2))


def _posterior(counts, none, llr, prior, beta_prior=None):
    """Joint posterior over (hypothesis, q, beta): hypotheses 0..K-1 = answer j is right,
    K = the right answer is unseen. Returns (weights (K+1, Q, B), none rate)."""
    log_l, nu = _log_likelihood(counts, none, llr)
    log_w = log_l + np.log(np.asarray(prior, dtype=float) + 1e-300)[None, :, None]
    if beta_prior is not None:  # a pooled prior over the wrong answers' concentration
        log_w = log_w + np.log(np.asarray(beta_prior, dtype=float) + 1e-300)[None, None, :]
    log_w -= log_w.max()
    w = np.exp(log_w)
    return w / w.sum(), nu


def assess(
    answers: Sequence[Hashable | None],
    confidences: Sequence[float | None] | None = None,
    *,
    prior: Sequence[float] | None = None,
    slope: float = 0.0,
    center: float = 0.0,
    lookahead: Sequence[int] = (1,),
    future: tuple[Sequence[float], Sequence[float]] | None = None,
    beta_prior: Sequence[float] | None = None,
) -> Assessment:
    """The posterior's view of the samples so far: the value of answering now and the expected
    accuracy gain of ``m`` more samples for each ``m`` in ``lookahead``.

    ``future``: the confidence evidence a future right and a future wrong sample bring (two
    tuples of equally likely values, :func:`langgraph_ttc.scaling.prior.evidence_profile`).
    The vote adds every sample's evidence, the future ones' too; without ``future`` the
    look-ahead counts future samples' votes only, which misjudges what more samples are worth
    under a confidence vote (with evidence as strong as a vote or more, the gains it predicts
    hardly rank questions by what they truly gain).

    ``beta_prior``: weights over :data:`BETA_GRID` (default equal), e.g. a batch's pooled fit.

    Example:
        >>> easy = assess(["4", "4", "4", "4"], lookahead=(4,))
        >>> easy.value > 0.8, easy.gains[0][1] < 0.01
        (True, True)
        >>> split = assess(["4", "5", "4", "5"], lookahead=(4,))
        >>> split.gains[0][1] > 0.05
        True
    """
    counts, none, confs = tally(answers, confidences)
    llr = evidence(confs, slope, center)
    prior_t = tuple(np.full(len(Q_GRID), 1.0 / len(Q_GRID))) if prior is None else tuple(prior)
    steps = tuple(sorted({min(int(m), _UNIFORMS.shape[2]) for m in lookahead if m > 0}))
    profile = None
    if future is not None and slope != 0.0:
        profile = tuple(tuple(round(float(e), 3) for e in side) for side in future)
        if len(profile) != 2 or not all(profile):
            raise ValueError("future must be (right values, wrong values), both non-empty.")
    prior_r = tuple(round(float(p), 6) for p in prior_t)
    beta_r = None
    if beta_prior is not None:
        beta_r = tuple(round(float(b), 6) for b in beta_prior)
        if len(beta_r) != len(BETA_GRID) or min(beta_r) < 0 or sum(beta_r) <= 0:
            raise ValueError(f"beta_prior must be {len(BETA_GRID)} non-negative weights.")
    return _assess(counts, none, llr, prior_r, steps, profile, beta_r)


@lru_cache(maxsize=200_000)
def _assess(counts, none, llr, prior, steps, future=None, beta_prior=None) -> Assessment:
    weights, nu = _posterior(counts, none, llr, prior, beta_prior)
    k = len(counts)
    by_hypothesis = weights.sum(axis=(1, 2))
    scores_now = np.array(counts, dtype=float) + np.asarray(llr, dtype=float)
    value = float(by_hypothesis[int(np.argmax(scores_now))]) if k else 0.0
    unseen = float(by_hypothesis[k])
    if not steps:
        return Assessment(value, unseen, ())
    gains = _simulate(counts, llr, weights, nu, steps, future)
    return Assessment(value, unseen, tuple(zip(steps, gains, strict=True)))


def _simulate(counts, llr, weights, nu, steps, future=None) -> list[float]:
    """Expected accuracy gain of the best-supported answer after each ``m`` in ``steps`` more
    samples, by Monte Carlo with common random numbers over the posterior predictive; with
    ``future``, each future sample also brings the evidence of a right or wrong sample."""
    k = len(counts)
    horizon = max(steps)
    flat = weights.ravel()
    cdf = np.cumsum(flat)
    picks = np.minimum(np.searchsorted(cdf, _UNIFORMS[0, :, 0] * cdf[-1]), len(flat) - 1)
    h, qi, bi = np.unravel_index(picks, weights.shape)
    q = Q_GRID[qi]
    beta = np.array(BETA_GRID)[bi]
    size = k + 1 + horizon  # seen answers, the unseen right answer, new wrong answers
    tallies = np.zeros((PARTICLES, size))
    tallies[:, :k] = counts
    bonus = np.zeros((PARTICLES, size))  # confidence evidence per answer, seen and to come
    bonus[:, :k] = llr
    if future is not None:
        right_e, wrong_e = (np.asarray(side, dtype=float) for side in future)
    right = np.where(h < k, h, k)  # column of the right answer
    is_right_col = np.arange(size)[None, :] == right[:, None]
    new_col = np.full(PARTICLES, k + 1)  # next column for a new wrong answer
    rows = np.arange(PARTICLES)

    def accuracy() -> float:
        scores = np.where(tallies > 0, tallies + bonus, -np.inf)
        leader = np.argmax(scores, axis=1)  # ties: the first seen, as majority votes
        answered = tallies[rows, leader] > 0
        return float(((leader == right) & answered).mean())

    start = accuracy()
    checkpoints = {m: i for i, m in enumerate(steps)}
    results = [0.0] * len(steps)
    for t in range(1, horizon + 1):
        u_right, u_which = _UNIFORMS[1, :, t - 1], _UNIFORMS[2, :, t - 1]
        correct = u_right < q
        # A wrong sample: no answer w.p. nu, else an existing wrong answer in proportion to its
        # votes, or a new one w.p. beta / (wrong votes + beta) (the CRP).
        wrong_counts = np.where(is_right_col, 0.0, tallies)
        total = wrong_counts.sum(axis=1)
        u = (u_which - nu) / (1.0 - nu)  # answered wrong samples reuse the tail of u_which
        answered = (~correct) & (u_which >= nu)
        target = u * (total + beta)
        fresh = target >= total
        cum = np.cumsum(wrong_counts, axis=1)
        existing = np.minimum((cum <= target[:, None]).sum(axis=1), size - 1)
        column = np.where(fresh, new_col, existing)
        column = np.where(correct, right, column)
        add = correct | answered
        tallies[rows[add], column[add]] += 1.0
        if future is not None:  # the sample's evidence: a right or a wrong sample's
            u_e = _EVIDENCE_UNIFORMS[:, t - 1]
            e = np.where(
                correct,
                right_e[np.minimum((u_e * len(right_e)).astype(int), len(right_e) - 1)],
                wrong_e[np.minimum((u_e * len(wrong_e)).astype(int), len(wrong_e) - 1)],
            )
            bonus[rows[add], column[add]] += e[add]
        new_col = np.where(answered & fresh & ~correct, np.minimum(new_col + 1, size - 1), new_col)
        if t in checkpoints:
            results[checkpoints[t]] = accuracy() - start
    return results
