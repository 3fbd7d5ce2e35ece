"""Per-problem estimators of strategy accuracy at k samples, computed from a pool of n >= k.

Each function answers: "if this strategy drew k of the problem's samples (uniformly, without
replacement, in random order), how often would it return a correct answer?". The pool's samples
are i.i.d. draws from the model, so these are unbiased estimates of the strategy's accuracy with
k fresh samples.

Which are exact:

- ``pass_at_k`` (coverage): Chen et al. 2021, stable product form.
- ``majority_at_k``: exact via the generating function of answer counts.
- ``filter_vote_at_k``: exact, two majority terms (kept answers; the fallback when none is kept).
- ``best_of_n_at_k``: exact via order statistics of the scores (ties split uniformly).
- ``weighted_best_of_n_at_k``: sums of scores have no closed form; Monte Carlo over
  ``n_sub`` random subsets without replacement (seeded), calling the real aggregator.

The aggregators' estimators live with their votes in :mod:`langgraph_ttc.aggregators` (so a
vote and its estimate cannot drift apart) and are re-exported here. Ties follow the aggregators
(earliest candidate wins); in a
random order that is a uniform pick among tied answers, which is what the exact forms use.
Missing verifier scores (NaN) count as 0; a ``None`` answer never wins and is worth 0.
"""

from __future__ import annotations

import numpy as np

from langgraph_ttc.aggregators import (
    best_of_n_at_k,
    filter_vote_at_k,
    majority_at_k,
    weighted_best_of_n_at_k,
)
from langgraph_ttc.aggregators.sampling import answer_values, check_k

__all__ = [
    "answer_values",
    "best_of_n_at_k",
    "filter_vote_at_k",
    "majority_at_k",
    "pass_at_k",
    "weighted_best_of_n_at_k",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, numerically stable).

    pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i); 1.0 when n - c < k.

    Example:
        >>> round(pass_at_k(10, 1, 1), 4), pass_at_k(10, 1, 10), round(pass_at_k(10, 2, 5), 4)
        (0.1, 1.0, 0.7778)
    """
    check_k(n, k)
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n; got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
