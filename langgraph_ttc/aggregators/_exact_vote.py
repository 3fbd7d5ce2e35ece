"""Exact win probabilities of a majority vote over k samples drawn without replacement.

A pool has ``counts[a]`` samples with answer ``a`` and ``n_none`` samples with no answer (they do
not vote). Draw ``k`` samples uniformly without replacement, in random order, and take the mode;
ties go to the answer seen first (as :func:`~langgraph_ttc.aggregators.majority_vote` does). In a
random order the first-seen of ``s`` tied answers (equal counts) is uniform among them, so

    P(a wins) = sum_t P(x_a = t, every other x_b <= t) * E[1 / (1 + #others with x_b = t)].

With the generating function of the multivariate hypergeometric this is

    C(n, k) P(a wins) = sum_t C(m_a, t) * int_0^1 [z^(k-t)] (1+z)^M_small
                                          * prod_{b big} (L_b(z) + u E_b(z)) du

where ``L_b = sum_{x<t} C(m_b, x) z^x``, ``E_b = C(m_b, t) z^t``, answers with ``m_b < t`` are
"small" (they can never tie) and ``int_0^1 u^s du = 1/(s+1)`` turns the tie count into the
tie-break weight. The integrand is a polynomial in ``u`` of degree at most ``(k-t)//t``, so
Gauss-Legendre quadrature with that many nodes is exact. ``z`` is rescaled by ``k/n`` to keep the
coefficients finite (all terms are positive: no cancellation). Cost is polynomial, about
``O(k^2 log k)`` convolutions per target answer in the worst case.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

MAX_EXACT_K = 600  # (1 + k/n)^n <= e^k must stay below the float64 range.


_lgamma = np.vectorize(math.lgamma, otypes=[float])  # numpy only: the core needs no scipy


def _log_comb(n: int | np.ndarray, k: int | np.ndarray) -> np.ndarray:
    n, k = np.asarray(n), np.asarray(k)
    return _lgamma(n + 1.0) - _lgamma(k + 1.0) - _lgamma(n - k + 1.0)


def comb_ratio(a: int, k: int, n: int) -> float:
    """C(a, k) / C(n, k) for 0 <= a <= n: the chance that k draws avoid n - a given items.

    Example:
        >>> comb_ratio(3, 2, 4)
        0.5
    """
    if k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n; got k={k}, n={n}")
    if a < k:
        return 0.0
    return math.comb(a, k) / math.comb(n, k)  # exact integers, one correctly rounded division


@functools.lru_cache(maxsize=256)
def _unit_legendre(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (exact for degree < 2 * count)."""
    nodes, weights = np.polynomial.legendre.leggauss(count)
    return (nodes + 1) / 2, weights / 2


def _scaled_binomials(m: int, degree: int, rho: float) -> np.ndarray:
    """Coefficients C(m, x) rho^x for x = 0..degree (zero beyond m)."""
    out = np.zeros(degree + 1)
    top = min(m, degree)
    x = np.arange(top + 1)
    out[: top + 1] = np.exp(_log_comb(m, x) + x * math.log(rho))
    return out


def _mul(a: np.ndarray, b: np.ndarray, degree: int) -> np.ndarray:
    return np.convolve(a, b)[: degree + 1]


def _power(poly: np.ndarray, r: int, degree: int) -> np.ndarray:
    result = np.zeros(degree + 1)
    result[0] = 1.0
    base = poly
    while r:
        if r & 1:
            result = _mul(result, base, degree)
        r >>= 1
        if r:
            base = _mul(base, base, degree)
    return result


def win_probabilities(
    counts: Sequence[int], n_none: int, k: int, targets: Sequence[int] | None = None
) -> np.ndarray:
    """P(answer ``a`` wins the vote of a random k-subset) for each ``a`` in ``targets``.

    Args:
        counts: samples per distinct answer.
        n_none: samples without an answer (they take a slot but do not vote).
        k: subset size, ``0 <= k <= sum(counts) + n_none``.
        targets: indices into ``counts`` (default: all answers).

    Example:
        >>> win_probabilities([2, 1], 0, 1).round(4).tolist()
        [0.6667, 0.3333]
    """
    counts_arr = np.asarray(counts, dtype=int)
    n = int(counts_arr.sum()) + int(n_none)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n; got k={k}, n={n}")
    if k > MAX_EXACT_K:
        raise OverflowError(f"exact vote probabilities support k <= {MAX_EXACT_K}; got {k}")
    targets = list(range(len(counts_arr))) if targets is None else list(targets)
    out = np.zeros(len(targets))
    if k == 0:
        return out
    rho = k / n
    log_total = float(_log_comb(n, k)) + k * math.log(rho)
    for i, a in enumerate(targets):
        m_a = int(counts_arr[a])
        others = np.delete(counts_arr, a)
        prob = 0.0
        for t in range(1, min(k, m_a) + 1):
            prob += math.exp(float(_log_comb(m_a, t)) + t * math.log(rho) - log_total) * (
                _tie_weighted_mass(others, n_none, k - t, t, rho)
            )
        out[i] = prob
    return out


def _tie_weighted_mass(others: np.ndarray, n_none: int, degree: int, t: int, rho: float) -> float:
    """int_0^1 [z^degree] (1+rho z)^M_small prod_big (L_b + u E_b) du (see module docstring)."""
    big = others[others >= t]
    small_total = int(n_none + others[others < t].sum())
    base = _scaled_binomials(small_total, degree, rho)
    max_ties = min(len(big), degree // t)
    groups = list(zip(*np.unique(big, return_counts=True), strict=False)) if len(big) else []
    nodes, weights = _unit_legendre(max(1, math.ceil((max_ties + 1) / 2)))
    mass = 0.0
    for u, w in zip(nodes, weights, strict=False):
        poly = base
        for m_b, reps in groups:
            full = _scaled_binomials(int(m_b), degree, rho)
            factor = np.zeros(degree + 1)
            factor[: min(t, degree + 1)] = full[: min(t, degree + 1)]  # L_b: counts below t
            if t <= degree:
                factor[t] = u * full[t]  # E_b: a tie at exactly t
            poly = _mul(poly, _power(factor, int(reps), degree), degree)
        mass += w * poly[degree]
    return float(mass)
