"""Log-probabilities of one sampling step, read from the last position's logits.

A local model exposes the logits of the position it is about to sample from. From them we keep
only what confidence methods need: the log-probability of the token that was sampled and the
``k`` largest log-probabilities (DeepConf's token confidence is the negative mean of the top-k,
Fu et al. 2025, Eq. 2). Gemma 3 has a 262k-token vocabulary, so the step costs one max, one
``exp``-sum and one partial sort (``np.partition``), never a full sort or a stored softmax.
"""

from __future__ import annotations

import numpy as np


def step_logprobs(logits: np.ndarray, token: int, k: int) -> tuple[float, tuple[float, ...]]:
    """The sampled token's log-probability and the top-``k`` log-probabilities (descending).

    Log-probabilities are of the model's own distribution (a log-softmax of the logits, before
    temperature and top-p/top-k truncation), as OpenAI-compatible servers report them.

    Args:
        logits: the last position's logits, shape ``(n_vocab,)``.
        token: the id of the token that was sampled from them.
        k: how many of the largest log-probabilities to return (0 for none).

    Example:
        >>> lp, top = step_logprobs(np.log(np.array([0.5, 0.25, 0.25])), token=1, k=2)
        >>> round(lp, 4), [round(x, 4) for x in top]
        (-1.3863, [-0.6931, -1.3863])
    """
    logits = np.asarray(logits)
    peak = float(logits.max())
    # Numerically stable log-sum-exp: shift by the maximum so exp never overflows.
    log_total = peak + float(np.log(np.exp(logits - peak, dtype=np.float32).sum(dtype=np.float64)))
    sampled = float(logits[token]) - log_total
    if k <= 0:
        return sampled, ()
    k = min(k, logits.size)
    top = np.partition(logits, logits.size - k)[logits.size - k :]  # O(n), not a full sort
    top = np.sort(top)[::-1].astype(np.float64) - log_total
    return sampled, tuple(float(x) for x in top)
