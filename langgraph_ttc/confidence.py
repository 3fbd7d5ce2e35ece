"""Token and trace confidence from a model's own log-probabilities (pure, numpy).

Inputs are one trace's per-position top-k log-probabilities ``top_logprobs`` (one row per
generated token, each row descending, as carried on
:class:`~langgraph_ttc.backends.base.Completion`) and, where needed, the sampled tokens'
log-probabilities ``logprobs``. Rows may be ragged (a backend that returned fewer alternatives at
some position); ``nan`` entries count as missing.

Methods and their sources:

* DeepConf (Fu et al. 2025, "Deep Think with Confidence", arXiv 2508.15260, sec. 3.1): token
  confidence ``C_i = -(1/k) sum_{j<=k} log P_i(j)``, group confidence (mean ``C_i`` over a sliding
  window), lowest-group, bottom-10% and tail confidence. Conventions match the authors' code,
  facebookresearch/deepconf: ``deepconf/utils.py`` (``compute_confidence``,
  ``compute_least_grouped``, ``calculate_mean_confidence``, ``calculate_tail_confidence``,
  ``calculate_bottom_window_confidence``) and the online stop in ``deepconf/processors.py``
  (``ConfPerReqLogitsProcessor``) and the paper's Appendix G.4 vLLM patch. Where we differ from
  that code it is said on the function (chiefly: no rounding to 3 decimals).
* Self-certainty (Kang et al. 2025, "Scalable Best-of-N Selection for LLMs via Self-Certainty",
  arXiv 2502.18581): mean over tokens of ``KL(U || P_i)``; authors' code backprop07/Self-Certainty
  ``src/confidence_list.py`` (``confidence_logits``).

A trace is summarised by a :class:`TraceConfidence` (what pools store); a streaming backend feeds
an :class:`OnlineGroupConfidence` one token at a time.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from langgraph_ttc.errors import TTCConfigError

DEFAULT_WINDOW = 2048
"""Group window of DeepConf (paper sec. 3.1; ``WINDOW_SIZE = 2048`` in the authors' scripts)."""
DEFAULT_TAIL = 2048
"""Tail length of DeepConf's tail confidence (``calculate_tail_confidence(tail_tokens=2048)``)."""
DEFAULT_TOP_K = 20
"""Alternatives per position the authors request (``logprobs=20``, paper App. G.3)."""
LOGPROB_FLOOR = -9999.0
"""Log-probabilities below this (``-inf`` for a zero probability) are raised to it.

OpenAI-compatible servers report a zero probability as -9999.0; clipping ``-inf`` to the same value
keeps sliding-window sums finite. Finite values above the floor are unchanged, so wherever the
authors' formulas give a finite number ours give the same number.
"""

__all__ = [
    "MEASURES",
    "ConfidenceSpec",
    "DeepConfWatch",
    "DEFAULT_TAIL",
    "DEFAULT_TOP_K",
    "DEFAULT_WINDOW",
    "LOGPROB_FLOOR",
    "OnlineGroupConfidence",
    "TraceConfidence",
    "bottom_percent_group_confidence",
    "group_confidences",
    "group_record_lows",
    "lowest_group_confidence",
    "mean_confidence",
    "mean_logprob",
    "online_stop_position",
    "self_certainty",
    "tail_confidence",
    "token_confidence",
    "token_confidences",
    "token_entropy",
]


# ---------------------------------------------------------------------------------------------
# Per-position measures
# ---------------------------------------------------------------------------------------------


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise TTCConfigError(f"k must be a positive int or None (all given); got {k!r}.")


def _matrix(top_logprobs: Sequence[Sequence[float]] | np.ndarray, k: int | None) -> np.ndarray:
    """The (tokens, width) float64 matrix of the top-``k`` log-probabilities, ``nan`` = missing.

    Rows are assumed descending (the Completion contract); when ``k`` cuts a row the row is sorted
    first, so a caller that breaks the contract still gets the k largest.
    """
    _check_k(k)
    if isinstance(top_logprobs, np.ndarray):
        if top_logprobs.ndim != 2:
            raise TTCConfigError(
                f"top_logprobs must be 2-D (tokens x alternatives); got shape {top_logprobs.shape}."
            )
        m = top_logprobs.astype(np.float64, copy=True)
    else:
        rows = top_logprobs
        n = len(rows)
        if n == 0:
            return np.zeros((0, 0))
        lengths = [len(r) for r in rows]
        width = max(lengths)
        if min(lengths) == width:
            # fromiter over the flattened rows is ~1.5x faster than np.array on tuples.
            flat = itertools.chain.from_iterable(rows)
            m = np.fromiter(flat, dtype=np.float64, count=n * width).reshape(n, width)
        else:
            m = np.full((n, width), np.nan)
            for i, row in enumerate(rows):
                m[i, : len(row)] = row
    if k is not None and k < m.shape[1]:
        # -sort(-m) is descending with nan (missing) kept last.
        m = -np.sort(-m, axis=1)[:, :k]
    # np.maximum keeps nan (missing) as nan and raises -inf to the floor.
    return np.maximum(m, LOGPROB_FLOOR)


def token_confidence(row: Sequence[float], k: int | None = None) -> float:
    """DeepConf token confidence of one position, in pure Python (for streaming backends).

    Same value as one entry of :func:`token_confidences`. Fu et al. 2025, sec. 3.1.

    Example:
        >>> round(token_confidence([math.log(0.5), math.log(0.25)]), 4)  # (ln 2 + ln 4) / 2
        1.0397
        >>> token_confidence([])  # no alternatives: 0.0, as the authors' vLLM patch
        0.0
    """
    _check_k(k)
    values = [v for v in row if v == v]  # drop nan (missing)
    if k is not None and k < len(values):
        values = sorted(values, reverse=True)[:k]
    if not values:
        return 0.0
    return -sum(max(v, LOGPROB_FLOOR) for v in values) / len(values)


def token_confidences(
    top_logprobs: Sequence[Sequence[float]] | np.ndarray, k: int | None = None
) -> np.ndarray:
    """DeepConf token confidence ``C_i = -(1/k) sum_{j<=k} log P_i(j)`` at every position.

    Fu et al. 2025 (arXiv 2508.15260), sec. 3.1, Eq. for ``C_i``. Higher means a more peaked
    distribution. Meaningful for ``k >= 2`` (the authors use 20); with ``k = 1`` it is the top
    token's surprisal, which falls as confidence rises.

    Conventions matched in the authors' code: the mean runs over the top-k alternatives only,
    not the sampled token (Appendix G.4 patch: ``-sum(logprobs[1:]) / len(logprobs[1:])``, where
    index 0 is the sampled token; ``processors.py`` ``compute_conf`` takes the top ``conf_topk``
    of the full softmax). A position with fewer than ``k`` alternatives averages over those it
    has (G.4 divides by the number present); a position with none scores 0.0 (G.4). Unlike
    ``utils.compute_confidence`` we do not round to 3 decimals and do not add the sampled token
    to the set when it falls outside the top-k (vLLM's dict does).

    Args:
        top_logprobs: per position, the log-probabilities of the most likely tokens, descending.
        k: how many alternatives to use per position; ``None`` uses all given.

    Example:
        >>> lp = [[math.log(0.5), math.log(0.25)], [math.log(0.9), math.log(0.05)]]
        >>> token_confidences(lp).round(4).tolist()
        [1.0397, 1.5505]
        >>> token_confidences(lp, k=1).round(4).tolist()
        [0.6931, 0.1054]
    """
    m = _matrix(top_logprobs, k)
    if m.size == 0:
        return np.zeros(m.shape[0])
    if not np.isnan(m).any():
        return -m.mean(axis=1)
    counts = np.sum(~np.isnan(m), axis=1)
    sums = np.nansum(m, axis=1)
    return np.where(counts > 0, -sums / np.maximum(counts, 1), 0.0)


def token_entropy(
    top_logprobs: Sequence[Sequence[float]] | np.ndarray, k: int | None = None
) -> np.ndarray:
    """Truncated token entropy ``-sum_{j<=k} P_i(j) log P_i(j)`` over the given top-k, per position.

    The spec's ``H_i`` (Fu et al. 2025, sec. 3.1) needs the full distribution; with only the top-k
    this is a truncated estimate and a lower bound on ``H_i`` (every omitted term is >= 0). The
    top-k are not renormalised. Exact when the rows hold the whole vocabulary.

    Example:
        >>> token_entropy([[math.log(0.5), math.log(0.5)]]).round(4).tolist()  # ln 2
        [0.6931]
        >>> token_entropy([[math.log(0.5)]]).round(4).tolist()  # truncated: 0.5 ln 2
        [0.3466]
    """
    m = _matrix(top_logprobs, k)
    if m.size == 0:
        return np.zeros(m.shape[0])
    p = np.exp(m)
    terms = np.where(np.isnan(m) | (p <= 0.0), 0.0, -p * m)
    return terms.sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Trace statistics over token confidences
# ---------------------------------------------------------------------------------------------


def _check_window(window: int, name: str = "window") -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise TTCConfigError(f"{name} must be a positive int (tokens); got {window!r}.")


def _conf(conf: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(conf, dtype=np.float64)
    if c.ndim != 1:
        raise TTCConfigError(f"token confidences must be 1-D; got shape {c.shape}.")
    return c


def group_confidences(
    conf: Sequence[float] | np.ndarray, window: int = DEFAULT_WINDOW
) -> np.ndarray:
    """Group confidences: mean token confidence over every full sliding window (stride 1).

    Fu et al. 2025, sec. 3.1 (group confidence ``C_G``; window 2048 in the paper). As the authors'
    ``compute_least_grouped`` and ``calculate_bottom_window_confidence``: only complete windows
    count (``len - window + 1`` of them, the first ending at token ``window``; no partial windows
    at the start), and a trace shorter than the window is one group, the mean over the whole
    trace. An empty trace gives ``[0.0]`` (the authors' ``[0]``). Not rounded (the authors round
    window means to 3 decimals in ``compute_least_grouped``).

    Example:
        >>> group_confidences([1.0, 2.0, 3.0, 6.0], window=2).tolist()
        [1.5, 2.5, 4.5]
        >>> group_confidences([1.0, 2.0], window=5).tolist()  # shorter than the window
        [1.5]
    """
    _check_window(window)
    c = _conf(conf)
    n = c.size
    if n == 0:
        return np.zeros(1)
    if n < window:
        return np.array([c.mean()])
    sums = np.concatenate(([0.0], np.cumsum(c)))
    return (sums[window:] - sums[:-window]) / window


def lowest_group_confidence(
    conf: Sequence[float] | np.ndarray, window: int = DEFAULT_WINDOW
) -> float:
    """Lowest group confidence: the minimum of :func:`group_confidences`.

    Fu et al. 2025, sec. 3.1 ("lowest group confidence"); the statistic DeepConf online thresholds
    (authors' ``process_output``: ``min_conf = min(group_confs)``).

    Example:
        >>> lowest_group_confidence([1.0, 2.0, 3.0, 6.0], window=2)
        1.5
    """
    return float(group_confidences(conf, window).min())


def bottom_percent_group_confidence(
    conf: Sequence[float] | np.ndarray, window: int = DEFAULT_WINDOW, percent: float = 10.0
) -> float:
    """Bottom-``percent``% group confidence: the mean of the lowest ``percent``% of groups.

    Fu et al. 2025, sec. 3.1 (bottom 10%). As the authors' ``calculate_bottom_window_confidence``:
    the number of groups kept is ``max(1, floor(n_groups * percent / 100))``, and a trace shorter
    than the window scores its whole-trace mean.

    Example:
        >>> conf = [5.0] * 8 + [1.0, 1.0]  # 9 windows of 2
        >>> bottom_percent_group_confidence(conf, window=2, percent=10)  # floor(0.9) -> 1 window
        1.0
        >>> bottom_percent_group_confidence(conf, window=2, percent=25)  # 2 windows: 1 and 3
        2.0
    """
    if not 0 < percent <= 100:
        raise TTCConfigError(f"percent must be in (0, 100]; got {percent!r}.")
    groups = group_confidences(conf, window)
    count = max(1, int(groups.size * percent / 100))
    if count == 1:
        return float(groups.min())
    return float(np.partition(groups, count - 1)[:count].mean())


def tail_confidence(conf: Sequence[float] | np.ndarray, tail: int = DEFAULT_TAIL) -> float:
    """Tail confidence: mean token confidence over the last ``tail`` tokens (all if fewer).

    Fu et al. 2025, sec. 3.1; authors' ``calculate_tail_confidence`` (``tail_tokens=2048``).
    An empty trace gives 0.0, as theirs.

    Example:
        >>> tail_confidence([1.0, 2.0, 3.0, 6.0], tail=2)
        4.5
    """
    _check_window(tail, "tail")
    c = _conf(conf)
    return float(c[-tail:].mean()) if c.size else 0.0


def mean_confidence(conf: Sequence[float] | np.ndarray) -> float:
    """Average trace confidence: the mean token confidence (0.0 for an empty trace).

    Fu et al. 2025, sec. 3.1 ("average trace confidence"); authors' ``calculate_mean_confidence``.

    Example:
        >>> mean_confidence([1.0, 2.0, 3.0, 6.0])
        3.0
    """
    c = _conf(conf)
    return float(c.mean()) if c.size else 0.0


def mean_logprob(logprobs: Sequence[float] | np.ndarray) -> float:
    """Mean log-probability of the sampled tokens (``nan`` for an empty trace).

    The length-normalised sequence log-likelihood used as a confidence baseline (e.g. by
    Kang et al. 2025 and Fu et al. 2025 as a comparison). ``-inf`` is raised to
    :data:`LOGPROB_FLOOR`.

    Example:
        >>> round(mean_logprob([math.log(0.5), math.log(0.25)]), 4)
        -1.0397
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    if lp.size == 0:
        return float("nan")
    return float(np.maximum(lp, LOGPROB_FLOOR).mean())


def self_certainty(
    top_logprobs: Sequence[Sequence[float]] | np.ndarray,
    vocab_size: int | None = None,
    k: int | None = None,
) -> float:
    """Self-certainty (Kang et al. 2025, arXiv 2502.18581): mean over tokens of ``KL(U || P_i)``.

    The authors (backprop07/Self-Certainty ``src/confidence_list.py``, ``confidence_logits``)
    compute, per position, ``-(1/V) sum_j (log P_i(j) + log V)`` over the full vocabulary ``V``,
    then average over the output tokens. With only the top-k known we approximate:

    * ``vocab_size=None`` (default): the same formula on the top-k renormalised to a
      distribution, ``KL(U_k || P~_k) = -log k - (1/k) sum_{j<=k} log P~_i(j)``, i.e.
      ``C_i - log k + log sum_{j<=k} P_i(j)`` with ``C_i`` the DeepConf token confidence.
    * ``vocab_size=V``: the full-vocabulary formula with the unseen mass ``1 - sum_{j<=k} P_i(j)``
      spread evenly over the ``V - k`` unseen tokens. By Jensen this is a lower bound on the true
      ``KL(U || P_i)`` given the top-k; it is dominated by ``-log`` of the unseen mass. When the
      top-k mass is 1 to float precision the unseen mass is taken as float64 epsilon.

    Both are exact when the rows hold the whole distribution (``k = V``). 0.0 for an empty trace.

    Example:
        >>> full = [[math.log(0.5), math.log(0.25), math.log(0.25)]]  # V = 3, whole distribution
        >>> round(self_certainty(full), 4)  # -ln 3 - (ln .5 + 2 ln .25) / 3
        0.0566
        >>> round(self_certainty(full, vocab_size=3), 4)
        0.0566
    """
    m = _matrix(top_logprobs, k)
    if m.shape[0] == 0 or m.shape[1] == 0:
        return 0.0
    present = ~np.isnan(m)
    counts = present.sum(axis=1)
    sums = np.where(present, m, 0.0).sum(axis=1)
    top = np.where(present, m, -np.inf)
    peak = np.max(top, axis=1)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    log_mass = peak + np.log(np.exp(top - peak[:, None]).sum(axis=1))  # log sum_{top-k} P
    safe = np.maximum(counts, 1)
    if vocab_size is None:
        per_token = -np.log(safe) - sums / safe + log_mass
    else:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise TTCConfigError(f"vocab_size must be a positive int; got {vocab_size!r}.")
        if int(counts.max()) > vocab_size:
            raise TTCConfigError(
                f"rows hold {int(counts.max())} alternatives but vocab_size={vocab_size}; "
                "pass the model's vocabulary size."
            )
        unseen = vocab_size - counts
        # log(1 - mass), accurate near mass -> 1; clamp the unseen mass at eps when it rounds to 0.
        eps = np.finfo(np.float64).eps
        deficit = -np.expm1(np.minimum(log_mass, 0.0))
        log_unseen = np.log(np.maximum(deficit, eps))
        log_each = log_unseen - np.log(np.maximum(unseen, 1))
        total = sums + np.where(unseen > 0, unseen * log_each, 0.0)
        per_token = -math.log(vocab_size) - total / vocab_size
    per_token = np.where(counts > 0, per_token, 0.0)
    return float(per_token.mean())


# ---------------------------------------------------------------------------------------------
# Online stop replay
# ---------------------------------------------------------------------------------------------


def group_record_lows(
    conf: Sequence[float] | np.ndarray, window: int = DEFAULT_WINDOW
) -> tuple[tuple[int, float], ...]:
    """The full-window group confidences that set a new lowest, with the token count at each.

    Each entry is ``(tokens, group confidence)`` where ``tokens`` is the number of tokens
    generated when that window completed. DeepConf online stops a trace at the first full window
    whose group confidence is below the threshold ``s`` (authors' ``processors.py``: a full
    window is required); that window is always a new lowest, so this short list replays the stop
    for any ``s`` (:func:`online_stop_position`, :meth:`TraceConfidence.stop_position`). Empty
    when the trace is shorter than the window (online never stops it).

    Example:
        >>> group_record_lows([3.0, 1.0, 4.0, 1.0, 0.0], window=2)
        ((2, 2.0), (5, 0.5))
    """
    _check_window(window)
    c = _conf(conf)
    if c.size < window:
        return ()
    groups = group_confidences(c, window)
    running = np.minimum.accumulate(groups)
    is_record = np.concatenate(([True], groups[1:] < running[:-1]))
    idx = np.flatnonzero(is_record)
    return tuple((int(i) + window, float(groups[i])) for i in idx)


def online_stop_position(
    conf: Sequence[float] | np.ndarray, threshold: float, window: int = DEFAULT_WINDOW
) -> int | None:
    """Tokens generated when DeepConf online stops this trace at ``threshold``, or ``None``.

    Fu et al. 2025, Algorithm 2: stop as soon as the current group confidence falls below ``s``.
    As the authors' ``ConfPerReqLogitsProcessor``, the check starts once a full window exists;
    the stopping token counts as generated (their processor forces EOS at that step).

    Example:
        >>> online_stop_position([3.0, 1.0, 4.0, 1.0, 0.0], threshold=1.0, window=2)
        5
        >>> online_stop_position([3.0, 1.0, 4.0], threshold=1.0, window=2) is None
        True
    """
    for tokens, value in group_record_lows(conf, window):
        if value < threshold:
            return tokens
    return None


# ---------------------------------------------------------------------------------------------
# Trace summary and the streaming tracker
# ---------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class TraceConfidence:
    """Confidence summary of one trace: what pools store instead of whole log-prob arrays.

    Statistics are those of Fu et al. 2025 (sec. 3.1) over DeepConf token confidences, plus the
    mean sampled-token log-probability and self-certainty (Kang et al. 2025) where computable.
    ``record_lows`` (see :func:`group_record_lows`) lets DeepConf online's stopping point be
    replayed exactly for any threshold at this ``window``.

    Example:
        >>> top = [[math.log(0.5), math.log(0.25)], [math.log(0.9), math.log(0.05)]]
        >>> tc = TraceConfidence.from_logprobs(top, [math.log(0.5), math.log(0.9)], window=1)
        >>> round(tc.mean, 4), round(tc.lowest_group, 4), tc.tokens
        (1.2951, 1.0397, 2)
        >>> TraceConfidence.from_dict(tc.to_dict()) == tc
        True
    """

    tokens: int
    mean: float
    lowest_group: float
    bottom_group: float
    tail: float
    window: int = DEFAULT_WINDOW
    tail_tokens: int = DEFAULT_TAIL
    bottom_percent: float = 10.0
    k: int | None = None
    mean_logprob: float | None = None
    self_certainty: float | None = None
    record_lows: tuple[tuple[int, float], ...] = ()

    @classmethod
    def from_logprobs(
        cls,
        top_logprobs: Sequence[Sequence[float]] | np.ndarray | None,
        logprobs: Sequence[float] | None = None,
        *,
        window: int = DEFAULT_WINDOW,
        tail: int = DEFAULT_TAIL,
        k: int | None = None,
        bottom_percent: float = 10.0,
        vocab_size: int | None = None,
    ) -> TraceConfidence:
        """Summarise one trace from its top-k and sampled-token log-probabilities.

        Self-certainty is left ``None`` when no position has two or more alternatives (with one
        the renormalised estimate is always 0).
        """
        n_top = 0 if top_logprobs is None else len(top_logprobs)
        n_sampled = 0 if logprobs is None else len(logprobs)
        if n_top == 0 and n_sampled > 0:
            raise TTCConfigError(
                "TraceConfidence needs the top-k log-probabilities at each position; ask the "
                "backend for them with SamplingParams(top_logprobs=20)."
            )
        # Convert once (the top-k cut, floor and nan padding); both measures take the matrix.
        matrix = _matrix(top_logprobs if n_top else [], k)
        conf = token_confidences(matrix)
        certainty = None
        if matrix.ndim == 2 and matrix.shape[1] >= 2:
            certainty = self_certainty(matrix, vocab_size=vocab_size)
        return cls(
            tokens=int(conf.size),
            mean=mean_confidence(conf),
            lowest_group=lowest_group_confidence(conf, window),
            bottom_group=bottom_percent_group_confidence(conf, window, bottom_percent),
            tail=tail_confidence(conf, tail),
            window=window,
            tail_tokens=tail,
            bottom_percent=float(bottom_percent),
            k=k,
            mean_logprob=_num(mean_logprob(logprobs)) if n_sampled else None,
            self_certainty=certainty,
            record_lows=group_record_lows(conf, window),
        )

    def stop_position(self, threshold: float) -> int | None:
        """Tokens generated when DeepConf online would stop this trace at ``threshold``.

        ``None`` when it would run to the end. Same as :func:`online_stop_position` on the
        token confidences.

        Example:
            >>> tc = TraceConfidence(5, 1.8, 0.5, 0.5, 0.5, window=2, record_lows=((2, 2.0), (5, 0.5)))
            >>> tc.stop_position(2.5), tc.stop_position(1.0), tc.stop_position(0.5)
            (2, 5, None)
        """
        for tokens, value in self.record_lows:
            if value < threshold:
                return tokens
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (``nan`` becomes ``None``, tuples become lists).

        Example:
            >>> TraceConfidence(0, 0.0, 0.0, 0.0, 0.0).to_dict()["record_lows"]
            []
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "record_lows":
                value = [[int(t), float(v)] for t, v in value]
            elif isinstance(value, float):
                value = _num(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TraceConfidence:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so newer pools still load.

        Example:
            >>> TraceConfidence.from_dict({"tokens": 0, "mean": 0, "lowest_group": 0,
            ...     "bottom_group": 0, "tail": 0, "future_field": 1}).tokens
            0
        """
        names = {f.name for f in fields(cls)}
        kwargs = {key: value for key, value in data.items() if key in names}
        for key in ("mean", "lowest_group", "bottom_group", "tail"):
            if key in kwargs:
                kwargs[key] = float(kwargs[key]) if kwargs[key] is not None else float("nan")
        for key in ("mean_logprob", "self_certainty"):
            if key in kwargs:
                kwargs[key] = _num(kwargs[key])
        if "record_lows" in kwargs:
            kwargs["record_lows"] = tuple((int(t), float(v)) for t, v in kwargs["record_lows"])
        return cls(**kwargs)


class OnlineGroupConfidence:
    """Sliding-window group confidence, updated one token at a time in O(1).

    A running sum over a deque of the last ``window`` token confidences. ``current`` is the mean
    over the last ``min(tokens, window)`` tokens; ``lowest`` equals
    :func:`lowest_group_confidence` of the tokens seen so far (the whole-prefix mean until the
    first window fills, then the minimum over full windows). :meth:`should_stop` is DeepConf
    online's rule (Fu et al. 2025, Algorithm 2) as the authors implement it in
    ``processors.py``: stop once a full window's mean is below the threshold.

    The running sum is recomputed from the deque once per ``window`` tokens, so float drift
    cannot accumulate over long traces (amortised O(1)).

    Example:
        >>> tracker = OnlineGroupConfidence(window=2)
        >>> [tracker.push(c) for c in [3.0, 1.0, 4.0, 1.0, 0.0]]
        [3.0, 2.0, 2.5, 2.5, 0.5]
        >>> tracker.lowest, tracker.should_stop(1.0)
        (0.5, True)
    """

    def __init__(self, window: int = DEFAULT_WINDOW, k: int | None = None) -> None:
        _check_window(window)
        _check_k(k)
        self.window = window
        self.k = k
        self._buffer: deque[float] = deque()
        self._sum = 0.0
        self._tokens = 0
        self._lowest_full = math.inf
        self._since_resum = 0

    @property
    def tokens(self) -> int:
        """Token confidences pushed so far."""
        return self._tokens

    @property
    def full(self) -> bool:
        """Whether a full window exists (the online stop only applies from then on)."""
        return self._tokens >= self.window

    @property
    def current(self) -> float:
        """Mean confidence of the last ``min(tokens, window)`` tokens (0.0 before any token)."""
        return self._sum / len(self._buffer) if self._buffer else 0.0

    @property
    def lowest(self) -> float:
        """:func:`lowest_group_confidence` of the tokens pushed so far."""
        # Before the first full window the offline function's single group is the whole prefix,
        # which is exactly what the deque holds.
        return self._lowest_full if self.full else self.current

    def push(self, confidence: float) -> float:
        """Add one token confidence; return the current group confidence."""
        confidence = float(confidence)
        self._buffer.append(confidence)
        self._sum += confidence
        self._tokens += 1
        if len(self._buffer) > self.window:
            self._sum -= self._buffer.popleft()
            self._since_resum += 1
            if self._since_resum >= self.window:
                self._sum = math.fsum(self._buffer)
                self._since_resum = 0
        if self.full:
            self._lowest_full = min(self._lowest_full, self.current)
        return self.current

    def push_top_logprobs(self, row: Sequence[float]) -> float:
        """Add one position's top-k log-probabilities (see :func:`token_confidence`)."""
        return self.push(token_confidence(row, self.k))

    def should_stop(self, threshold: float) -> bool:
        """DeepConf online: a full window exists and its mean is below ``threshold``."""
        return self.full and self.current < threshold


# ---------------------------------------------------------------------------------------------
# What a run measures, and the online stop as a per-trace watch
# ---------------------------------------------------------------------------------------------

MEASURES = ("lowest_group", "bottom_group", "tail", "mean", "mean_logprob", "self_certainty")


@dataclass(frozen=True)
class ConfidenceSpec:
    """Which confidence a run reads off each trace: ``measure`` (a :class:`TraceConfidence`
    field; DeepConf's default is the lowest group confidence), over groups of ``window`` tokens
    (paper: 2048 for long reasoning traces; scale it to the traces you have), from the top
    ``top_k`` log-probabilities at each position (the authors request 20).

    Example:
        >>> spec = ConfidenceSpec(window=2)
        >>> top = [[math.log(0.5), math.log(0.25)], [math.log(0.9), math.log(0.05)]] * 2
        >>> round(spec.value(spec.summarize(top)), 4)
        1.2951
    """

    measure: str = "lowest_group"
    window: int = DEFAULT_WINDOW
    tail: int = DEFAULT_TAIL
    top_k: int = DEFAULT_TOP_K

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise TTCConfigError(
                f"Unknown confidence measure {self.measure!r}; use one of {MEASURES}."
            )
        _check_window(self.window)
        _check_window(self.tail, "tail")
        if self.top_k < 2:
            raise TTCConfigError(
                f"top_k must be >= 2 (with one alternative token confidence falls as confidence "
                f"rises); got {self.top_k}. The authors use 20."
            )

    def summarize(
        self,
        top_logprobs: Sequence[Sequence[float]] | None,
        logprobs: Sequence[float] | None = None,
        vocab_size: int | None = None,
    ) -> TraceConfidence | None:
        """The trace's summary, or ``None`` when it carries no log-probabilities.

        ``vocab_size`` (a backend's, where it knows it) makes self-certainty the
        full-vocabulary value rather than the top-k estimate (see :func:`self_certainty`).
        """
        if not top_logprobs:
            return None
        return TraceConfidence.from_logprobs(
            top_logprobs,
            logprobs,
            window=self.window,
            tail=self.tail,
            k=self.top_k,
            vocab_size=vocab_size,
        )

    def value(self, trace: TraceConfidence | None) -> float | None:
        """The scalar this spec reads off a summary (``None`` without one)."""
        if trace is None:
            return None
        return _num(getattr(trace, self.measure))

    def watch(self, threshold: float) -> DeepConfWatch:
        """A fresh per-trace watch that stops a trace below ``threshold`` (DeepConf online)."""
        return DeepConfWatch(threshold, self.window, self.top_k)


class DeepConfWatch:
    """DeepConf online's per-trace stop (Fu et al. 2025, Algorithm 2; authors' ``processors.py``):
    fed each generated token's top-k log-probabilities, it says stop once a full window's group
    confidence is below the threshold ``s``. One watch per trace; backends call it per token.

    Example:
        >>> watch = DeepConfWatch(threshold=1.0, window=2, k=2)
        >>> [watch(-0.1, row) for row in ([-0.1, -3.0], [-0.1, -0.2], [-0.5, -0.9])]
        [False, True, True]
    """

    def __init__(self, threshold: float, window: int, k: int | None = None) -> None:
        self.threshold = float(threshold)
        self.tracker = OnlineGroupConfidence(window, k)

    def __call__(self, logprob: float, top_logprobs: Sequence[float]) -> bool:
        self.tracker.push_top_logprobs(top_logprobs)
        return self.tracker.should_stop(self.threshold)
