"""Stop rules for sequential majority voting, as pure functions of the answers so far.

* Adaptive-Consistency's Beta criterion (Aggarwal et al. 2023, "Let's Sample Step by Step",
  arXiv 2305.11860, sec. 2): with ``a`` votes for the leader and ``b`` for the runner-up, the
  leader's share ``p`` of the two has posterior ``Beta(a + 1, b + 1)`` under a uniform prior, and
  sampling stops when ``P(p > 1/2) >= threshold`` (0.95). The authors' code,
  Pranjal2041/AdaptiveConsistency ``adaptive_consistency/stopping_criterias.py``
  (``BetaStoppingCriteria.should_stop``), integrates ``x^a (1 - x)^b`` over ``[1/2, 1]`` and
  ``[0, 1]`` with ``scipy.integrate.quad``, takes ``a`` and ``b`` from
  ``Counter(answers).most_common(2)`` (``b = 0`` with one distinct answer; third and later answers
  are ignored), and stops when the ratio is ``>=`` the threshold. We use the closed form
  ``P = I_{1/2}(b + 1, a + 1)``, which is that ratio exactly: for whole counts the binomial tail
  ``P(Binomial(a + b + 1, 1/2) <= a)`` (exact, no scipy), for fractional (weighted) counts the
  regularised incomplete beta ``scipy.special.betainc``. With one distinct answer it stops after 4 samples (``P = 1 - 2^-5``).
* Early-Stopping Self-Consistency (Li et al. 2024, "Escape Sky-high Cost", arXiv 2401.10480):
  sample in windows of ``w`` (5 in the paper) and stop at the first window whose answers are all
  the same; authors' code Yiwei98/ESC ``early_stop_gsm8k.py``.

``None`` answers (no answer parsed, failed sample) do not vote here, as in
:mod:`langgraph_ttc.aggregators`; the authors' scripts count an unparsed answer as one more value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require

DEFAULT_THRESHOLD = 0.95
"""Adaptive-Consistency's default stopping threshold (``BetaStoppingCriteria(conf_thresh=0.95)``)."""
DEFAULT_ESC_WINDOW = 5
"""Early-Stopping Self-Consistency's window size (Li et al. 2024; ``slice_ = 5``)."""

__all__ = [
    "DEFAULT_ESC_WINDOW",
    "DEFAULT_THRESHOLD",
    "beta_leader_probability",
    "beta_should_stop",
    "esc_answer",
    "esc_should_stop",
    "leader_probability",
    "top_two_counts",
]


def leader_probability(leader: float, runner_up: float = 0.0) -> float:
    """``P(p > 1/2)`` for ``p ~ Beta(leader + 1, runner_up + 1)``: the leader is the true majority.

    Aggarwal et al. 2023, Beta stopping criterion; equal to the authors'
    ``quad(x^a (1-x)^b, 1/2, 1) / quad(x^a (1-x)^b, 0, 1)`` with ``a = leader``,
    ``b = runner_up``. Closed form ``I_{1/2}(b + 1, a + 1)``; for whole counts it is also
    ``P(Binomial(a + b + 1, 1/2) <= a)``. Counts may be fractional (weighted votes).

    Example:
        >>> leader_probability(2, 0)  # 7/8
        0.875
        >>> leader_probability(3, 1)  # P(Bin(5, 1/2) <= 3) = 26/32
        0.8125
        >>> leader_probability(2, 2)
        0.5
    """
    leader, runner_up = float(leader), float(runner_up)
    if not (runner_up >= 0 and leader >= runner_up):
        raise TTCConfigError(
            f"need leader >= runner_up >= 0 vote counts; got leader={leader}, "
            f"runner_up={runner_up}."
        )
    if leader.is_integer() and runner_up.is_integer():
        # Whole counts: an exact binomial tail, no scipy needed (the core install has none).
        n = int(leader + runner_up + 1)
        return math.fsum(math.comb(n, j) for j in range(int(leader) + 1)) / 2.0**n
    betainc = require("scipy.special", "eval", "weighted Beta stopping").betainc
    return float(betainc(runner_up + 1.0, leader + 1.0, 0.5))


def top_two_counts(answers: Sequence[Hashable | None]) -> tuple[Hashable | None, int, int]:
    """The leading answer and the vote counts of the leader and the runner-up.

    Ties go to the answer seen first (as ``Counter.most_common``). ``None`` does not vote.

    Example:
        >>> top_two_counts(["b", "a", "a", None, "c", "b"])
        ('b', 2, 2)
        >>> top_two_counts([None])
        (None, 0, 0)
    """
    ranked = Counter(a for a in answers if a is not None).most_common(2)
    if not ranked:
        return None, 0, 0
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return ranked[0][0], ranked[0][1], runner_up


def beta_leader_probability(answers: Sequence[Hashable | None]) -> float:
    """Adaptive-Consistency's posterior probability that the current leader is the majority.

    Aggarwal et al. 2023; see :func:`leader_probability`. With no votes it is 0.5.

    Example:
        >>> beta_leader_probability(["4", "4", "4", "4"])  # 1 - 2^-5
        0.96875
        >>> round(beta_leader_probability(["4", "5", "4", "6", "4"]), 4)  # a=3, b=1: 26/32
        0.8125
    """
    _, leader, runner_up = top_two_counts(answers)
    return leader_probability(leader, runner_up)


def beta_should_stop(
    answers: Sequence[Hashable | None], threshold: float = DEFAULT_THRESHOLD
) -> bool:
    """Adaptive-Consistency's Beta stop: ``beta_leader_probability(answers) >= threshold``.

    Example:
        >>> beta_should_stop(["4", "4", "4"]), beta_should_stop(["4", "4", "4", "4"])
        (False, True)
    """
    if not 0.5 <= threshold <= 1:
        raise TTCConfigError(f"threshold must be in [0.5, 1]; got {threshold!r} (paper: 0.95).")
    return beta_leader_probability(answers) >= threshold


def _check_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise TTCConfigError(f"window must be a positive int (samples); got {window!r}.")


def esc_answer(
    answers: Sequence[Hashable | None], window: int = DEFAULT_ESC_WINDOW
) -> Hashable | None:
    """The unanimous answer of the latest complete window, or ``None`` if it is not unanimous.

    Li et al. 2024 (ESC): samples come in consecutive, non-overlapping windows of ``window``;
    when the answers of a window are all equal, sampling stops and that answer is returned (the
    authors' ``early_stop_*.py`` return the window's answer, not the vote over all windows). The
    latest complete window is ``answers[(n // w - 1) * w : (n // w) * w]``, so answers that
    arrived past a window boundary (requests in flight) do not hide it. A window holding a
    ``None`` is not unanimous.

    Example:
        >>> esc_answer(["3", "3", "3"], window=3)
        '3'
        >>> esc_answer(["3", "4", "3", "5", "5", "5", "2"], window=3)  # second window
        '5'
        >>> esc_answer(["3", "3"], window=3) is None  # no complete window yet
        True
    """
    _check_window(window)
    complete = len(answers) // window
    if complete == 0:
        return None
    latest = answers[(complete - 1) * window : complete * window]
    first = latest[0]
    if first is None or any(a != first for a in latest):
        return None
    return first


def esc_should_stop(answers: Sequence[Hashable | None], window: int = DEFAULT_ESC_WINDOW) -> bool:
    """Early-Stopping Self-Consistency's rule: the latest complete window is unanimous.

    Li et al. 2024 (arXiv 2401.10480), window 5 in the paper; see :func:`esc_answer`.

    Example:
        >>> esc_should_stop(["7"] * 5), esc_should_stop(["7"] * 4 + ["8"])
        (True, False)
    """
    return esc_answer(answers, window) is not None
