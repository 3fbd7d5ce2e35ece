"""Sample pools with known per-question difficulty, to check the router's maths without a model.

Each question kind fixes the answer distribution of one sample (the correct answer, distractors,
no answer) and how a critique judges right and wrong answers. The default mix has the shapes that
matter for routing (Chen et al. 2024): easy questions that probes already settle, medium ones that
votes fix, hopeless ones, and traps where a popular wrong answer makes more votes hurt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples

__all__ = ["BANDS", "KINDS", "QuestionKind", "banded_pool", "synthetic_pool"]


@dataclass(frozen=True)
class QuestionKind:
    """One sample: correct w.p. ``p_correct``, no answer w.p. ``p_none``, else a distractor
    (weights ``distractors``). A critique keeps a right answer w.p. ``keep_right`` and a wrong
    one w.p. ``keep_wrong``; an LLM judge (one call per answered sample) scores right answers U(0.4, 1) and wrong ones U(0, 0.8)."""

    p_correct: float
    p_none: float
    distractors: tuple[float, ...]
    keep_right: float = 0.8
    keep_wrong: float = 0.3


KINDS: dict[str, QuestionKind] = {
    "easy": QuestionKind(0.85, 0.05, (1, 1, 1)),
    "medium": QuestionKind(0.35, 0.1, (1,) * 8),
    "hopeless": QuestionKind(0.03, 0.6, (1,) * 10),
    "trap": QuestionKind(0.25, 0.15, (6, 1), keep_right=0.85, keep_wrong=0.2),
}


def synthetic_pool(
    counts: Mapping[str, int],
    k: int = 32,
    *,
    seed: int = 0,
    kinds: Mapping[str, QuestionKind] = KINDS,
    critiques: bool = True,
    scores: bool = True,
) -> PoolSamples:
    """``counts[kind]`` questions of each kind, ``k`` samples each; ids are ``"kind/i"``.
    ``critiques`` / ``scores`` False leave out the critique verdicts / LLM-judge scores.

    Example:
        >>> pool = synthetic_pool({"easy": 2, "hopeless": 1}, k=8)
        >>> pool.problem_ids, pool.n_min
        (['easy/0', 'easy/1', 'hopeless/0'], 8)
    """
    problems = []
    for kind_name, count in counts.items():
        kind = kinds[kind_name]
        for i in range(count):
            rng = np.random.default_rng([seed, i, *kind_name.encode()])
            problem = _problem(f"{kind_name}/{i}", kind, k, rng)
            if not critiques:
                problem = replace(problem, verdicts=np.full(k, np.nan))
            if not scores:
                problem = replace(
                    problem, verifier_scores=np.full(k, np.nan), verify_calls=np.zeros(k)
                )
            problems.append(problem)
    return PoolSamples({"task": "synthetic", "model": "synthetic"}, tuple(problems))


def _problem(problem_id: str, kind: QuestionKind, k: int, rng) -> ProblemSamples:
    weights = np.array(kind.distractors, dtype=float)
    p_wrong = 1.0 - kind.p_correct - kind.p_none
    probs = np.concatenate([[kind.p_correct, kind.p_none], p_wrong * weights / weights.sum()])
    draws = rng.choice(len(probs), size=k, p=probs)
    answers = [None if d == 1 else ("right" if d == 0 else f"wrong{d - 2}") for d in draws]
    right = draws == 0
    keep = np.where(right, kind.keep_right, kind.keep_wrong)
    verdicts = [
        None if a is None else float(u < p)
        for a, u, p in zip(answers, rng.random(k), keep, strict=True)
    ]
    scores = np.where(right, rng.uniform(0.4, 1.0, k), rng.uniform(0.0, 0.8, k))
    return ProblemSamples.from_lists(
        problem_id,
        answers,
        right.astype(float),
        verdicts=verdicts,
        verifier_scores=[
            None if a is None else float(s) for a, s in zip(answers, scores, strict=True)
        ],
        generate_tokens=[40.0] * k,
        critique_tokens=[0.0 if a is None else 90.0 for a in answers],
        # Scores come from an LLM judge: one call per answered sample, like a critique.
        verify_calls=[0.0 if a is None else 1.0 for a in answers],
        verify_tokens=[0.0 if a is None else 90.0 for a in answers],
    )


# Bands of single-sample accuracy for :func:`banded_pool`: (share of questions, low, high).
BANDS: dict[str, tuple[float, float, float]] = {
    "easy": (0.3, 0.75, 0.98),
    "middle": (0.3, 0.3, 0.7),
    "hard": (0.2, 0.08, 0.3),
    "hopeless": (0.2, 0.0, 0.04),
}
_TEMPLATES = {
    "easy": "What is {a} + {b}?",
    "middle": "A shop sells {a} apples and {b} pears, then buys {c} more. How many are left?",
    "hard": (
        "A train leaves at {a} km/h and another at {b} km/h from {c} km apart; after {d} "
        "stops of {a} minutes each, when and where do they meet, to the nearest metre?"
    ),
    "hopeless": (
        "Prove that for every n > {a}, the number of partitions of n into distinct parts "
        "with at most {b} parts exceeds {c} * {d}^n / n^{e}, and explain why."
    ),
}


def banded_pool(
    n: int,
    k: int = 64,
    *,
    seed: int = 0,
    bands: Mapping[str, tuple[float, float, float]] = BANDS,
    popular_share: float = 0.3,
    confidence_auroc: float | None = None,
    text_noise: float = 0.25,
    prefix: str = "mix",
) -> PoolSamples:
    """A realistic mix: ``n`` questions in difficulty bands (each question's single-sample
    accuracy uniform in its band), a popular wrong answer on ``popular_share`` of them (it takes
    50-85% of the wrong samples), some answerless samples, and optionally per-sample
    confidences whose pooled AUROC for right vs wrong is about ``confidence_auroc`` (two
    normals, plus a per-question shift). Each question has a text whose length and numbers
    follow its band, except a ``text_noise`` share drawn from another band (a zero-probe
    predictor should help, not know). Ids are ``"<prefix>/<band>-<i>"``.

    Example:
        >>> pool = banded_pool(8, k=16, confidence_auroc=0.72)
        >>> pool.n_min, len(pool.problems), pool.all_have("confidences")
        (16, 8, True)
    """
    from statistics import NormalDist

    rng = np.random.default_rng([seed, 7])
    names = list(bands)
    shares = np.array([bands[b][0] for b in names], dtype=float)
    labels = rng.choice(len(names), size=n, p=shares / shares.sum())
    separation = None
    if confidence_auroc is not None:
        separation = np.sqrt(2.0) * NormalDist().inv_cdf(confidence_auroc)
    problems = []
    for i, label in enumerate(labels):
        band = names[label]
        _, low, high = bands[band]
        q = rng.uniform(low, high)
        p_none = rng.uniform(0.0, 0.15) * (1 - q)
        if rng.random() < popular_share:
            top = rng.uniform(0.5, 0.85)
            rest = rng.dirichlet(np.ones(6)) * (1 - top)
            wrong = np.concatenate([[top], rest])
        else:
            wrong = rng.dirichlet(np.ones(12))
        probs = np.concatenate([[q, p_none], (1 - q - p_none) * wrong])
        draws = rng.choice(len(probs), size=k, p=probs / probs.sum())
        answers = [None if d == 1 else ("right" if d == 0 else f"wrong{d - 2}") for d in draws]
        right = (draws == 0).astype(float)
        confidences = None
        if separation is not None:
            shift = rng.normal(0.0, 0.3)
            z = rng.normal(0.0, 1.0, k) + shift + np.where(right > 0, separation, 0.0)
            confidences = (10.0 + 2.0 * z).tolist()  # positive, as token confidences are
        template_band = band if rng.random() >= text_noise else names[rng.integers(len(names))]
        numbers = {c: int(rng.integers(2, 10 ** rng.integers(1, 4))) for c in "abcde"}
        problems.append(
            ProblemSamples.from_lists(
                f"{prefix}/{band}-{i}",
                answers,
                right,
                confidences=confidences,
                critique_calls=[0.0] * k,
                completion_tokens=[40.0] * k,
                traces=[None] * k,  # no token traces: DeepConf online replays without its filter
                question=_TEMPLATES.get(template_band, _TEMPLATES["middle"]).format(**numbers),
            )
        )
    return PoolSamples({"task": "synthetic-banded", "model": "synthetic"}, tuple(problems))
