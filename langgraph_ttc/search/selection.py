"""Pure selection rules of the step-level searches: which open nodes get children, and how many.

Every function takes the frontier's scores in frontier order and returns one width per frontier
node (0 = not expanded). Ties go to the earlier node, so results are reproducible.

Example:
    >>> beam_widths([0.2, 0.9, 0.5, 0.1], n=4, m=2)
    [0, 2, 2, 0]
    >>> rebase_widths([0.9, 0.5, 0.1], budget=4, temperature=1.0)
    [2, 2, 0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from langgraph_ttc.errors import TTCConfigError

__all__ = [
    "beam_shape",
    "beam_widths",
    "dvts_widths",
    "fit_widths",
    "ranked",
    "rebase_widths",
    "reduce_scores",
    "resolve_m",
    "softmax",
]

Reduce = Literal["last", "min", "prod"]
RebaseRule = Literal["authors", "paper"]


def ranked(scores: Sequence[float]) -> list[int]:
    """Indices by score, highest first; equal scores keep frontier order.

    Example:
        >>> ranked([0.5, 0.9, 0.5])
        [1, 0, 2]
    """
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def resolve_m(m: int | str, n: int) -> int:
    """Beam branching M: an integer, or ``"sqrt"`` for floor(sqrt(N)) (Snell et al. 2024, sec. 5).

    Example:
        >>> resolve_m("sqrt", 16), resolve_m(4, 16)
        (4, 4)
    """
    if m == "sqrt":
        return max(1, math.isqrt(n))
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise TTCConfigError(f"m must be an integer >= 1 or 'sqrt'; got {m!r}.")
    return m


def beam_shape(n: int, m: int) -> tuple[int, int]:
    """(beams kept, children per beam) for N beams and branching M: keep N/M, expand each M
    ways (Snell et al. 2024, sec. 5.2). With N < M one beam is kept and expanded N ways.

    Example:
        >>> beam_shape(16, 4), beam_shape(8, 3), beam_shape(2, 4)
        ((4, 4), (2, 3), (1, 2))
    """
    if n < 1 or m < 1:
        raise TTCConfigError(f"beam search needs n >= 1 and m >= 1; got n={n}, m={m}.")
    if n < m:
        return 1, n
    return n // m, m


def beam_widths(scores: Sequence[float], n: int, m: int) -> list[int]:
    """Beam search: the top N/M frontier nodes get M children each, the rest none.

    Example:
        >>> beam_widths([0.1, 0.7, 0.7, 0.3], n=8, m=4)
        [0, 4, 4, 0]
    """
    keep, per_beam = beam_shape(n, m)
    widths = [0] * len(scores)
    for i in ranked(scores)[:keep]:
        widths[i] = per_beam
    return widths


def dvts_widths(scores: Sequence[float], subtrees: Sequence[int], m: int) -> list[int]:
    """Diverse verifier tree search: in each subtree, the best frontier node gets M children.

    Example:
        >>> dvts_widths([0.2, 0.6, 0.9, 0.1], subtrees=[0, 0, 1, 1], m=2)
        [0, 2, 2, 0]
    """
    if len(scores) != len(subtrees):
        raise ValueError(f"{len(scores)} scores but {len(subtrees)} subtrees")
    widths = [0] * len(scores)
    seen: set[int] = set()
    for i in ranked(scores):
        if subtrees[i] not in seen:
            seen.add(subtrees[i])
            widths[i] = m
    return widths


def softmax(values: Sequence[float], temperature: float = 1.0) -> list[float]:
    """softmax(values / temperature), computed stably.

    Example:
        >>> [round(p, 4) for p in softmax([0.9, 0.5, 0.1], temperature=1.0)]
        [0.4718, 0.3162, 0.212]
    """
    if temperature <= 0:
        raise TTCConfigError(f"softmax temperature must be > 0; got {temperature}.")
    if not values:
        return []
    top = max(values)
    weights = [math.exp((v - top) / temperature) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def rebase_widths(
    scores: Sequence[float],
    budget: int,
    temperature: float = 0.1,
    rule: RebaseRule = "authors",
) -> list[int]:
    """REBASE width allocation: how many children each open node gets from a budget of B.

    With e_j = exp(R_j / T_b):

    - ``rule="authors"`` (default; Wu et al. 2024, authors' code: thu-wyz/inference_scaling,
      ``rebase.py``, ``select_softmax``): walk the nodes from the highest score down and give
      each ceil(W * e_j / S), where W is the width still unallocated and S the sum of e over the
      nodes not yet visited; what is left is re-split over the mass that is left. Exact: the
      widths sum to B (the last node with any mass takes all that remains).
    - ``rule="paper"`` (Wu et al. 2024, sec. 3.2, Eq. 1): W_j = Round(B * softmax(R/T_b)_j),
      rounding halves up. The widths need not sum to B (three equal scores and B = 4 give
      [1, 1, 1]); a search trims any excess with :func:`fit_widths`.

    Equal scores keep frontier order, so the earlier node comes first in the walk.

    Example:
        >>> rebase_widths([0.5, 0.5, 0.5], budget=4, temperature=0.1)
        [2, 1, 1]
        >>> rebase_widths([0.9, 0.8, 0.7, 0.6, 0.5], budget=4, temperature=0.2)
        [2, 1, 1, 0, 0]
        >>> rebase_widths([0.5, 0.5, 0.5], budget=4, temperature=0.1, rule="paper")
        [1, 1, 1]
    """
    if rule not in ("authors", "paper"):
        raise TTCConfigError(f"rebase rule must be 'authors' or 'paper'; got {rule!r}.")
    if budget <= 0 or not scores:
        return [0] * len(scores)
    weights = softmax(scores, temperature)  # e_j / sum(e): the same ratios, without overflow
    widths = [0] * len(scores)
    if rule == "paper":
        for i, p in enumerate(weights):
            widths[i] = math.floor(budget * p + 0.5)
        return widths
    order = ranked(scores)
    # Mass not yet visited, summed from the bottom up, so the last node's share is exactly 1.
    mass_left = [0.0] * (len(order) + 1)
    for pos in range(len(order) - 1, -1, -1):
        mass_left[pos] = mass_left[pos + 1] + weights[order[pos]]
    left = budget
    for pos, i in enumerate(order):
        if left <= 0 or mass_left[pos] <= 0:
            break
        share = left * weights[i] / mass_left[pos]
        # The tolerance keeps a share that is an integer up to rounding (e.g. 2.0000000000000004)
        # from taking one child too many.
        widths[i] = min(max(math.ceil(share - 1e-9), 0), left)
        left -= widths[i]
    return widths


def fit_widths(widths: Sequence[int], priority: Sequence[int], affordable: int) -> list[int]:
    """Shrink ``widths`` so they sum to at most ``affordable``, cutting the lowest-priority
    nodes first (``priority``: indices, most important first).

    Example:
        >>> fit_widths([4, 4, 4], priority=[1, 0, 2], affordable=6)
        [2, 4, 0]
    """
    out = [0] * len(widths)
    left = max(affordable, 0)
    for i in priority:
        out[i] = min(widths[i], left)
        left -= out[i]
    return out


def reduce_scores(step_scores: Sequence[float], how: Reduce = "last") -> float:
    """A solution's score from its step scores: the last step's (Snell et al. 2024, sec. 5.1,
    the default), the minimum, or the product.

    Example:
        >>> reduce_scores([0.9, 0.5, 0.8]), reduce_scores([0.9, 0.5, 0.8], "min")
        (0.8, 0.5)
        >>> round(reduce_scores([0.9, 0.5, 0.8], "prod"), 2)
        0.36
    """
    if not step_scores:
        return 0.0
    if how == "last":
        return float(step_scores[-1])
    if how == "min":
        return float(min(step_scores))
    if how == "prod":
        return float(math.prod(step_scores))
    raise TTCConfigError(f"reduce must be 'last', 'min' or 'prod'; got {how!r}.")
