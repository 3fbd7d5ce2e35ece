"""Per-problem estimators of strategy accuracy at k samples, computed from a pool of n >= k.

Each function answers: "if this strategy drew k of the problem's samples (uniformly, without
replacement, in random order), how often would it return a correct answer?". The pool's samples
are i.i.d. draws from the model, so these are unbiased estimates of the strategy's accuracy with
k fresh samples.

Which are exact:

- ``pass_at_k`` (coverage): Chen et al. 2021, stable product form.
- ``majority_at_k``: exact via the generating function of answer counts (see ``_vote_exact``).
- ``filter_vote_at_k``: exact, two majority terms (kept answers; the fallback when none is kept).
- ``best_of_n_at_k``: exact via order statistics of the scores (ties split uniformly).
- ``weighted_best_of_n_at_k``: sums of scores have no closed form; Monte Carlo over
  ``n_sub`` random subsets without replacement (seeded), calling the real aggregator.

Ties follow the aggregators in :mod:`langgraph_ttc.aggregators` (earliest candidate wins); in a
random order that is a uniform pick among tied answers, which is what the exact forms use.
Missing verifier scores (NaN) count as 0; a ``None`` answer never wins and is worth 0.

What is credited is the grade of the candidate the aggregator returns, as in a live run (the
graph returns that candidate's text and the task grades it). For best-of-N that is the winning
sample's own grade; for the votes it is the grade of the earliest drawn sample carrying the
winning answer, whose expectation is the answer's mean grade (among the kept samples, for
filter-vote), so the exact vote forms use answer means.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from langgraph_ttc.aggregators import majority_vote, weighted_best_of_n
from langgraph_ttc.scaling._vote_exact import MAX_EXACT_K, comb_ratio, win_probabilities

__all__ = [
    "answer_values",
    "best_of_n_at_k",
    "filter_vote_at_k",
    "majority_at_k",
    "pass_at_k",
    "weighted_best_of_n_at_k",
]

DEFAULT_SUBSAMPLES = 200


def _check_k(n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n (samples in the pool); got k={k}, n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, numerically stable).

    pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i); 1.0 when n - c < k.

    Example:
        >>> round(pass_at_k(10, 1, 1), 4), pass_at_k(10, 1, 10), round(pass_at_k(10, 2, 5), 4)
        (0.1, 1.0, 0.7778)
    """
    _check_k(n, k)
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n; got c={c}, n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _answer_counts(answers: Sequence[Hashable | None], correct: Sequence[float]):
    """Distinct answers' counts and values (mean correctness), plus the count of ``None``."""
    counts: dict[Hashable, int] = {}
    totals: dict[Hashable, float] = {}
    n_none = 0
    for answer, ok in zip(answers, correct, strict=True):
        if answer is None:
            n_none += 1
            continue
        counts[answer] = counts.get(answer, 0) + 1
        totals[answer] = totals.get(answer, 0.0) + float(ok)
    labels = list(counts)
    values = np.array([totals[a] / counts[a] for a in labels])
    return np.array([counts[a] for a in labels], dtype=int), values, n_none


def _vote_value(answers, correct, k: int) -> float:
    counts, values, n_none = _answer_counts(answers, correct)
    targets = [i for i, v in enumerate(values) if v > 0]
    if not targets:
        return 0.0
    wins = win_probabilities(counts, n_none, k, targets)
    return float(np.dot(wins, values[targets]))


def majority_at_k(
    answers: Sequence[Hashable | None], correct: Sequence[float], k: int, **mc
) -> float:
    """Expected accuracy of Vote(x, k) (Chen et al. 2024) over random k-subsets; exact.

    Args:
        answers: the pool's answers, ``None`` where a sample has none.
        correct: per-sample correctness (1/0).
        k: votes per query.
        **mc: ``rng``/``n_sub`` used only when k is beyond the exact range (k > 600).

    Example:
        >>> round(majority_at_k(["4", "4", "5"], [1, 1, 0], 3), 4)
        1.0
        >>> round(majority_at_k(["4", "5", "6"], [1, 0, 0], 2), 4)  # every pair ties
        0.3333
    """
    _check_k(len(answers), k)
    if k > MAX_EXACT_K:
        return _monte_carlo(_majority_once, answers, correct, None, k, **mc)
    return _vote_value(answers, correct, k)


def filter_vote_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    verdicts: Sequence[float],
    k: int,
) -> float:
    """Expected accuracy of Filter-Vote with k generations (and k filter calls); exact.

    Chen et al. 2024: keep answers whose critique says ``[[correct]]`` and vote over them; if
    none of the k is kept, vote over all k. So P = maj(pool with unkept answers blanked) +
    P(no kept sample drawn) * maj(unkept samples only). Unknown verdicts (NaN) are not kept.

    Example:
        >>> filter_vote_at_k(["4", "5", "5"], [1, 0, 0], [1, 0, 0], 3)
        1.0
    """
    n = len(answers)
    _check_k(n, k)
    kept = np.nan_to_num(np.asarray(verdicts, dtype=float), nan=0.0) >= 0.5
    kept &= np.array([a is not None for a in answers], dtype=bool)
    blanked = [a if keep else None for a, keep in zip(answers, kept, strict=True)]
    value = _vote_value(blanked, correct, k)
    unkept = [i for i in range(n) if not kept[i]]
    p_none_kept = comb_ratio(len(unkept), k, n)
    if p_none_kept > 0:
        value += p_none_kept * _vote_value(
            [answers[i] for i in unkept], [correct[i] for i in unkept], k
        )
    return float(value)


def best_of_n_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float],
    k: int,
) -> float:
    """Expected accuracy of best-of-N with N = k: the highest-scored answered sample wins; exact.

    Sort the answered samples' scores into levels s_1 > s_2 > ...; the winner comes from level l
    with probability [C(n - above_l, k) - C(n - above_l - at_l, k)] / C(n, k), uniformly among
    that level's samples (ties are broken by the earliest, i.e. uniformly in random order). The
    winner is credited with its OWN grade, as a live run grades the text of the candidate
    :func:`~langgraph_ttc.aggregators.best_of_n` picks; this differs from its answer's mean
    correctness when the grade is not a function of the normalised answer (flaky unit tests,
    raw-string graders).

    Example:
        >>> round(best_of_n_at_k(["4", "5", None], [1, 0, 0], [0.9, 0.2, 0.99], 2), 4)
        0.6667
        >>> best_of_n_at_k(["x", "x"], [1, 0], [0.9, 0.1], 2)  # the top-scored sample is right
        1.0
    """
    n = len(answers)
    _check_k(n, k)
    grades = np.asarray(correct, dtype=float)
    if len(grades) != n:
        raise ValueError(f"{n} answers but {len(grades)} grades")
    scores_arr = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    answered = np.array([a is not None for a in answers], dtype=bool)
    level_scores, level_values = scores_arr[answered], grades[answered]
    total, above = 0.0, 0
    for level in np.unique(level_scores)[::-1]:
        at_level = level_scores == level
        at = int(at_level.sum())
        p_level = comb_ratio(n - above, k, n) - comb_ratio(n - above - at, k, n)
        total += p_level * float(level_values[at_level].mean())
        above += at
    return float(total)


def weighted_best_of_n_at_k(
    answers: Sequence[Hashable | None],
    correct: Sequence[float],
    scores: Sequence[float],
    k: int,
    *,
    rng: np.random.Generator | None = None,
    n_sub: int = DEFAULT_SUBSAMPLES,
) -> float:
    """Expected accuracy of weighted best-of-N (Snell et al. 2024) at N = k; Monte Carlo.

    The mean over ``n_sub`` random ordered k-subsets (without replacement) of
    :func:`~langgraph_ttc.aggregators.weighted_best_of_n`; the Monte Carlo standard error is at
    most ``0.5 / sqrt(n_sub)`` per problem. Exact (no sampling) when k = 1, when the pool has at
    most one distinct answer, or when all answered samples have the same score (then it is
    majority@k, or for score 0 a uniform pick among the answered samples drawn).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> weighted_best_of_n_at_k(["4", "4", "5"], [1, 1, 0], [0.5, 0.5, 0.9], 3, rng=rng)
        1.0
    """
    _check_k(len(answers), k)
    scores_arr = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
    answered = np.array([a is not None for a in answers], dtype=bool)
    grades = np.asarray(correct, dtype=float)
    # The sample the aggregator returns is graded, as live; an answerless sample is worth 0.
    mean_answered = float(grades[answered].mean()) if answered.any() else 0.0
    p_any = 1 - comb_ratio(int((~answered).sum()), k, len(answers))
    if k == 1:  # the one sample drawn is returned
        return float(grades[answered].sum() / len(answers))
    if len({a for a in answers if a is not None}) <= 1:
        # One answer: the earliest answered sample drawn, a uniform pick among the answered.
        return float(p_any * mean_answered)
    if answered.any() and np.ptp(scores_arr[answered]) == 0:  # equal weights: exact shortcuts
        if scores_arr[answered][0] > 0:
            return majority_at_k(answers, correct, k)
        # All weights 0: the earliest answered sample wins, a uniform pick among those drawn.
        return float(p_any * mean_answered)
    return _monte_carlo(_weighted_once, answers, correct, scores_arr, k, rng=rng, n_sub=n_sub)


def answer_values(answers: Sequence[Hashable | None], correct: Sequence[float]) -> dict:
    """Each distinct answer's mean correctness (answers are normalised, so equal = same).

    Example:
        >>> answer_values(["4", "5", "4", None], [1, 0, 1, 0])
        {'4': 1.0, '5': 0.0}
    """
    totals: dict[Hashable, list[float]] = {}
    for answer, ok in zip(answers, correct, strict=True):
        if answer is not None:
            totals.setdefault(answer, []).append(float(ok))
    return {a: float(np.mean(v)) for a, v in totals.items()}


def _majority_once(answers, scores) -> int | None:
    return majority_vote(answers).index


def _weighted_once(answers, scores) -> int | None:
    return weighted_best_of_n(answers, scores).index


def _monte_carlo(pick, answers, correct, scores, k, *, rng=None, n_sub=DEFAULT_SUBSAMPLES):
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(answers)
    grades = [float(c) for c in correct]
    # Each row a random ordered k-subset without replacement (random order: ties break uniformly).
    subsets = rng.permuted(np.tile(np.arange(n), (n_sub, 1)), axis=1)[:, :k].tolist()
    score_list = None if scores is None else list(scores)
    total = 0.0
    for idx in subsets:
        winner = pick(
            [answers[i] for i in idx], None if scores is None else [score_list[i] for i in idx]
        )
        # Credit the candidate the aggregator returns (a live run grades that candidate's text).
        total += 0.0 if winner is None else grades[idx[winner]]
    return float(total / n_sub)
