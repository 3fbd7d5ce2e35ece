"""A batch's own prior: empirical-Bayes hyper-parameters fitted to the batch's tallies.

The one thing a batch allocator knows that a per-question router cannot is the other
questions of the batch. The posterior of one question (:mod:`langgraph_ttc.posterior`) starts
from a prior over its single-sample accuracy ``q`` (weights over :data:`~langgraph_ttc.posterior.
Q_GRID`, fitted on a pool, or a zero-probe predictor's per question) and over the wrong answers'
concentration ``beta`` (:data:`~langgraph_ttc.posterior.BETA_GRID`). When the batch comes from
another mix than the pool the prior was fitted on (more hopeless questions, more popular wrong
answers), every question's expected gains are off in the same direction; the batch's tallies
say by how much.

:func:`fit_pooled_prior` fits those weights to the batch by maximum marginal likelihood
(empirical Bayes: Robbins 1956; the grid prior is Kiefer and Wolfowitz's nonparametric maximum
likelihood, fitted by EM as Laird 1978), each question's tally integrated over which answer is
right. It is shrunk toward the fitted policy's prior by ``strength`` pseudo-questions (a
Dirichlet prior on the weights, so the batch's own evidence weighs in as the batch grows).
With per-question priors (a zero-probe predictor), the batch's fit reweights each of them by
the ratio of the batch's marginal to theirs, the EM of Saerens, Latinne and Decaestecker
(2002) for a shift of the prior. Pure and deterministic: the same multiset of tallies gives the
same numbers in any order, so a live batch and its replay on a pool allocate the same.
Bandit-style allocation of one budget over a batch: arXiv 2506.12721.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.posterior import BETA_GRID, Q_GRID, evidence, hypotheses, likelihood, tally
from langgraph_ttc.stopping import Votes

__all__ = ["PooledEvidence", "PooledPrior", "fit_pooled_prior", "pooled_evidence", "pooled_prior"]

Tally = tuple[tuple[int, ...], int, tuple[float, ...]]
"""(counts per answer, answerless samples, each answer's confidence evidence)."""


@dataclass(frozen=True)
class PooledPrior:
    """A prior fitted to a batch (:func:`fit_pooled_prior`).

    Attributes:
        q: the batch's weights over single-sample accuracy (:data:`~langgraph_ttc.posterior.Q_GRID`).
        beta: its weights over the wrong answers' concentration (:data:`~langgraph_ttc.posterior.BETA_GRID`).
        priors: each question's prior over ``q`` (in the order given): ``q`` itself, or its own
            prior reweighted toward the batch's.
        questions: the tallies that carried evidence (at least one sample).
        iterations: EM iterations run.
        log_likelihood: the batch's log marginal likelihood under the fit (up to a constant).
    """

    q: tuple[float, ...]
    beta: tuple[float, ...]
    priors: tuple[tuple[float, ...], ...]
    questions: int
    iterations: int
    log_likelihood: float


def _normalised(weights: Sequence[float] | None, size: int, name: str) -> np.ndarray:
    if weights is None:
        return np.full(size, 1.0 / size)
    w = np.asarray(weights, dtype=float)
    if w.shape != (size,) or not np.isfinite(w).all() or w.min() < 0 or w.sum() <= 0:
        raise TTCConfigError(f"A pooled prior's {name} must be {size} non-negative weights.")
    return w / w.sum()


def fit_pooled_prior(
    tallies: Sequence[Tally],
    *,
    base: Sequence[float] | None = None,
    priors: Sequence[Sequence[float] | None] | None = None,
    strength: float = 10.0,
    max_iter: int = 300,
    tol: float = 1e-6,
) -> PooledPrior:
    """The prior over ``q`` and ``beta`` that makes the batch's ``tallies`` most likely
    (maximum marginal likelihood by EM), shrunk toward ``base`` (the policy's prior over
    ``q``; equal weights by default) and equal ``beta`` weights by ``strength``
    pseudo-questions. ``priors``: each question's own prior over ``q`` (a zero-probe
    predictor's), reweighted by the ratio of the batch's marginal to their mean.

    No question with a sample (an empty batch, nothing drawn yet) leaves the base as it is;
    with ``strength`` 0 the fit is the batch's alone.

    Example:
        >>> agree = [((2,), 0, (0.0,))] * 30  # every question's two probes agree
        >>> fit = fit_pooled_prior(agree, strength=0.0)
        >>> bool(sum(fit.q[10:]) > 0.8)  # the batch is easy: mass on high accuracies
        True
        >>> fit_pooled_prior([]).q == fit_pooled_prior([], strength=0.0).q
        True
    """
    if not strength >= 0 or not np.isfinite(strength):
        raise TTCConfigError(f"A pooled prior's strength must be a number >= 0; got {strength}.")
    n_q, n_b = len(Q_GRID), len(BETA_GRID)
    base_q = _normalised(base, n_q, "base")
    if priors is not None and len(priors) != len(tallies):
        raise TTCConfigError("fit_pooled_prior needs one prior per tally (or none).")
    own = np.array(
        [
            base_q if priors is None or priors[i] is None else _normalised(priors[i], n_q, "prior")
            for i in range(len(tallies))
        ]
    ).reshape(len(tallies), n_q)
    # A canonical order (by tally, then prior): sums in the same order whatever the batch's.
    keys = [(tuple(t[0]), int(t[1]), tuple(t[2]), tuple(own[i])) for i, t in enumerate(tallies)]
    used = sorted((i for i, t in enumerate(tallies) if sum(t[0]) + t[1] > 0), key=keys.__getitem__)
    grid = np.array([likelihood(*tallies[i]) for i in used]).reshape(len(used), n_q, n_b)
    weights = own[used]
    base_mean = weights.mean(axis=0) if len(used) else base_q  # the questions' own marginal
    divisor = np.maximum(base_mean, 1e-300)  # a weight the questions' priors never give stays 0
    beta0 = np.full(n_b, 1.0 / n_b)
    pooled, beta = base_mean.copy(), beta0.copy()
    iterations = 0
    while used and iterations < max_iter:
        iterations += 1
        adjusted = weights * (pooled / divisor)[None, :]
        adjusted /= np.maximum(adjusted.sum(axis=1, keepdims=True), 1e-300)
        joint = adjusted[:, :, None] * beta[None, None, :] * grid
        joint /= np.maximum(joint.sum(axis=(1, 2), keepdims=True), 1e-300)
        new_q = joint.sum(axis=(0, 2)) + strength * base_mean  # MAP under Dirichlet shrinkage
        new_b = joint.sum(axis=(0, 1)) + strength * beta0
        new_q, new_b = new_q / new_q.sum(), new_b / new_b.sum()
        change = max(np.abs(new_q - pooled).max(), np.abs(new_b - beta).max())
        pooled, beta = new_q, new_b
        if change < tol:
            break
    ratio = pooled / divisor
    out_priors = own * ratio[None, :]
    sums = out_priors.sum(axis=1, keepdims=True)
    # A question whose own prior lies where the batch's fit has no mass keeps its own prior.
    out_priors = np.where(sums > 0, out_priors / np.maximum(sums, 1e-300), own)
    adjusted = weights * ratio[None, :]
    adjusted /= np.maximum(adjusted.sum(axis=1, keepdims=True), 1e-300)
    marginal = (adjusted[:, :, None] * beta[None, None, :] * grid).sum(axis=(1, 2))
    return PooledPrior(
        q=_rounded(pooled),
        beta=_rounded(beta),
        priors=tuple(_rounded(p) for p in out_priors),
        questions=len(used),
        iterations=iterations,
        log_likelihood=round(float(np.log(marginal + 1e-300).sum()), 6),
    )


def _rounded(weights: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(w), 6) for w in weights)


def pooled_prior(
    votes: Sequence[Votes],
    *,
    base: Sequence[float] | None = None,
    priors: Sequence[Sequence[float] | None] | None = None,
    slope: float = 0.0,
    center: float = 0.0,
    strength: float = 10.0,
    samples: int | None = None,
) -> PooledPrior:
    """:func:`fit_pooled_prior` on a batch's votes (each question's answers and confidences,
    confidence as evidence with ``slope``/``center``), each question read up to its first
    ``samples`` samples (``None``: all).

    Example:
        >>> batch = [Votes(("4", "4")), Votes(("7", "7")), Votes(("1", "2"))]
        >>> fit = pooled_prior(batch, strength=1.0)
        >>> len(fit.priors), fit.questions
        (3, 3)
    """
    tallies = []
    for v in votes:
        answers = v.answers if samples is None else v.answers[:samples]
        confidences = v.confidences
        if confidences is not None and samples is not None:
            confidences = confidences[:samples]
        counts, none, confs = tally(answers, confidences)
        tallies.append((counts, none, evidence(confs, slope, center)))
    key_priors = None if priors is None else tuple(_key(p) for p in priors)
    return _fit(tuple(tallies), _key(base), key_priors, float(strength))


def _key(weights: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if weights is None else tuple(float(w) for w in weights)


@lru_cache(maxsize=4096)  # a batch refits on the same probes every round
def _fit(tallies, base, priors, strength) -> PooledPrior:
    return fit_pooled_prior(tallies, base=base, priors=priors, strength=strength)


@dataclass(frozen=True)
class PooledEvidence:
    """Confidence evidence refitted to a batch (:func:`pooled_evidence`).

    Attributes:
        slope / center: the evidence ``slope * (c - center)`` of a sample's confidence ``c``.
        future: the evidence a future right and wrong sample bring (equally likely values, as
            :func:`langgraph_ttc.scaling.prior.evidence_profile`), from the fitted normals.
        right / wrong / sd: the fitted normals' means and common spread.
    """

    slope: float
    center: float
    future: tuple[tuple[float, ...], tuple[float, ...]]
    right: float
    wrong: float
    sd: float


def pooled_evidence(
    votes: Sequence[Votes],
    *,
    slope: float,
    center: float,
    prior: Sequence[float] | None = None,
    strength: float = 10.0,
    samples: int | None = None,
    iterations: int = 30,
    points: int = 16,
) -> PooledEvidence | None:
    """The confidence evidence refitted to the batch: right and wrong samples' confidences as
    two normals of one spread (their log-likelihood ratio is ``slope * (c - center)``, the
    posterior's evidence), fitted by EM (Dempster, Laird and Rubin 1977) with each sample's
    chance of being right read from its question's posterior, started from and shrunk toward
    the policy's separation by ``strength`` pseudo-samples per normal (placed around the
    batch's own mean confidence). A batch whose confidences sit on another scale than the pool's (a
    model or a prompt the policy was not fitted on) gets evidence on its own scale. ``None``
    without evidence to refit (no slope, a sample without confidence, fewer than 4 answered
    samples or no spread).

    Example:
        >>> batch = [Votes(("4", "4", "5"), (7.5, 7.4, 6.0)) for _ in range(10)]
        >>> fit = pooled_evidence(batch, slope=0.5, center=11.0)
        >>> 6.0 < fit.center < 7.5, fit.slope > 0  # on the batch's scale, not the policy's
        (True, True)
    """
    if slope == 0.0 or any(v.confidences is None for v in votes):
        return None
    rows = []
    for v in votes:
        answers = v.answers if samples is None else v.answers[:samples]
        confidences = v.confidences if samples is None else v.confidences[:samples]
        counts, none, confs = tally(answers, confidences)
        rows.append((counts, none, confs))
    rows.sort()  # a canonical order: the same numbers whatever the batch's order
    values = np.array([c for _, _, confs in rows for cs in confs for c in cs], dtype=float)
    if len(values) < 4 or not np.isfinite(values).all() or values.std() <= 0:
        return None
    spread, middle = float(values.var()), float(values.mean())
    # The policy's separation of right from wrong in confidence units, placed around the
    # batch's own mean: its location is the batch's (a scale the policy never saw), its
    # separation the policy's until the batch's evidence outweighs it.
    anchor_right = middle + slope * spread / 2
    anchor_wrong = middle - slope * spread / 2
    right, wrong, var = (
        anchor_right,
        anchor_wrong,
        max(spread - (slope * spread / 2) ** 2, spread / 4),
    )
    prior_t = None if prior is None else tuple(float(p) for p in prior)
    for _ in range(iterations):
        s, m = (right - wrong) / var, (right + wrong) / 2
        r_sum = r_c = w_sum = w_c = 0.0
        weights, confs_all = [], []
        for counts, none, confs in rows:
            post = hypotheses(counts, none, evidence(confs, s, m), prior_t)
            for j, cs in enumerate(confs):
                for c in cs:
                    weights.append(float(post[j]))
                    confs_all.append(c)
        r = np.array(weights)
        c = np.array(confs_all)
        r_sum, r_c = r.sum() + strength, (r * c).sum() + strength * anchor_right
        w_sum, w_c = (1 - r).sum() + strength, ((1 - r) * c).sum() + strength * anchor_wrong
        new_right, new_wrong = r_c / r_sum, w_c / w_sum
        new_var = (
            (r * (c - new_right) ** 2).sum()
            + ((1 - r) * (c - new_wrong) ** 2).sum()
            + 2 * strength * spread
        ) / (len(c) + 2 * strength)
        change = max(abs(new_right - right), abs(new_wrong - wrong), abs(new_var - var))
        right, wrong, var = new_right, new_wrong, max(float(new_var), 1e-3 * spread)
        if change < 1e-6 * (1 + spread):
            break
    sd = var**0.5
    new_slope = round(float((right - wrong) / var), 6)
    new_center = round(float((right + wrong) / 2), 6)
    from statistics import NormalDist

    z = [NormalDist().inv_cdf((k + 0.5) / points) for k in range(points)]
    future = tuple(
        tuple(round(float(new_slope * (mean + sd * zk - new_center)), 3) for zk in z)
        for mean in (right, wrong)
    )
    return PooledEvidence(new_slope, new_center, future, round(float(right), 6),
                          round(float(wrong), 6), round(float(sd), 6))  # fmt: skip
