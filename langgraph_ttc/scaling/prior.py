"""Priors over a question's single-sample accuracy, before any sample: fitted on pools.

The posterior of :mod:`langgraph_ttc.posterior` starts from a prior over ``q`` (the question's
single-sample accuracy, on :data:`~langgraph_ttc.posterior.Q_GRID`). Two of them:

* :func:`accuracy_prior`: the histogram of the pool's per-question accuracies (one prior for
  every question: what "a question of this mix" looks like);
* :class:`DifficultyPrior`: a zero-probe difficulty predictor (Snell et al. 2024, App. C;
  Predictive Scheduling, arXiv 2602.01237, which allocates before generating and reports
  +7.9 points on GSM8K at identical tokens): the accuracies of the ``neighbours`` fitting
  questions nearest in a small feature space (the task, the question's length, its numbers and
  operators, optionally a LangChain ``Embeddings`` vector), mixed with the pool's histogram.
  An easy-looking question can then stop at one sample and a hopeless-looking one give up.

Also :func:`fit_evidence`: how much a sample's confidence says about its being right (a
logistic fit, the ``slope``/``center`` of :class:`~langgraph_ttc.stopping.PosteriorStop`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.posterior import Q_GRID
from langgraph_ttc.scaling.samples import ProblemSamples

__all__ = [
    "DifficultyPrior",
    "accuracy_prior",
    "evidence_profile",
    "fit_evidence",
    "question_features",
]

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPERATOR = re.compile(r"[-+*/^=<>%]")


def _smoothed_accuracy(problem: ProblemSamples) -> float:
    return float((problem.correct.sum() + 0.5) / (problem.n + 1.0))


def _histogram(values: Sequence[float], weights: Sequence[float] | None = None) -> np.ndarray:
    """Kernel-smoothed weights of ``values`` on the accuracy grid (width 0.05), summing to 1."""
    values = np.asarray(values, dtype=float)
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    kernel = np.exp(-0.5 * ((Q_GRID[None, :] - values[:, None]) / 0.05) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)
    out = weights @ kernel + 1e-3  # no accuracy is impossible
    return out / out.sum()


def accuracy_prior(problems: Sequence[ProblemSamples]) -> tuple[float, ...]:
    """One prior for every question: the smoothed histogram of the problems' accuracies.

    Example:
        >>> easy = [ProblemSamples.from_lists(f"e{i}", ["4"] * 8, [1] * 8) for i in range(3)]
        >>> prior = accuracy_prior(easy)
        >>> len(prior), max(prior) in prior[-2:]
        (20, True)
    """
    if not problems:
        raise TTCConfigError("A prior needs at least one problem of a pool.")
    return tuple(round(float(w), 6) for w in _histogram([_smoothed_accuracy(p) for p in problems]))


def fit_evidence(problems: Sequence[ProblemSamples], iterations: int = 25) -> tuple[float, float]:
    """``(slope, center)`` of the confidence evidence: a logistic fit of a sample's
    correctness on its confidence, ``logit P(right | c) = slope * (c - c0)``, with ``center``
    the confidence where the odds equal the pool's base odds (so a sample at ``center`` is
    no evidence either way). ``(0.0, 0.0)`` when the problems carry no confidence.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "5"] * 20, [1, 0] * 20,
        ...                               confidences=[0.9, 0.4] * 20)
        >>> slope, center = fit_evidence([p])
        >>> slope > 0, 0.4 < center < 0.9
        (True, True)
    """
    conf = np.concatenate([p.confidences for p in problems])
    right = np.concatenate([p.correct for p in problems])
    answered = np.concatenate([np.array([a is not None for a in p.answers]) for p in problems])
    keep = np.isfinite(conf) & answered
    if keep.sum() < 10 or right[keep].min() == right[keep].max():
        return 0.0, 0.0
    x, y = conf[keep], right[keep]
    mean, scale = x.mean(), x.std() or 1.0
    z = (x - mean) / scale
    a, b = 0.0, 0.0
    for _ in range(iterations):  # Newton steps on a two-parameter logistic, lightly ridged
        p = 1.0 / (1.0 + np.exp(-(a + b * z)))
        w = p * (1 - p) + 1e-9
        grad = np.array([(y - p).sum(), ((y - p) * z).sum() - 1e-3 * b])
        hess = np.array([[w.sum(), (w * z).sum()], [(w * z).sum(), (w * z * z).sum() + 1e-3]])
        a, b = np.array([a, b]) + np.linalg.solve(hess, grad)
    base = y.mean()
    logit_base = math.log(base / (1 - base))
    slope = b / scale
    if abs(slope) < 1e-9:
        return 0.0, 0.0
    # a + b z = logit_base  <=>  c = mean + scale (logit_base - a) / b
    center = mean + scale * (logit_base - a) / b
    return round(float(slope), 6), round(float(center), 6)


def evidence_profile(
    problems: Sequence[ProblemSamples], slope: float, center: float, points: int = 16
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The confidence evidence (``slope * (c - center)``) one right and one wrong answered
    sample brings: ``points`` equally likely values of each (quantile midpoints of the
    problems' samples), for the posterior's look-ahead (:func:`langgraph_ttc.posterior.assess`,
    ``future=``); ``None`` without evidence or without both kinds of samples.

    Example:
        >>> p = ProblemSamples.from_lists("q", ["4", "5"] * 20, [1, 0] * 20,
        ...                               confidences=[0.9, 0.4] * 20)
        >>> evidence_profile([p], slope=2.0, center=0.6, points=2)
        ((0.6, 0.6), (-0.4, -0.4))
    """
    if slope == 0.0:
        return None
    conf = np.concatenate([p.confidences for p in problems])
    right = np.concatenate([p.correct for p in problems]) > 0
    answered = np.concatenate([np.array([a is not None for a in p.answers]) for p in problems])
    keep = np.isfinite(conf) & answered
    sides = []
    for side in (keep & right, keep & ~right):
        if not side.any():
            return None
        values = slope * (conf[side] - center)
        mids = np.quantile(values, (np.arange(points) + 0.5) / points)
        sides.append(tuple(round(float(v), 3) for v in mids))
    return sides[0], sides[1]


def question_features(question: str, task: str = "") -> list[float]:
    """Lexical features of a question: log length in characters and words, how many numbers
    and operators it has, its largest number's magnitude, and whether it asks for a proof or
    explanation.

    Example:
        >>> [round(f, 2) for f in question_features("What is 12 + 7?")][:4]
        [2.77, 1.79, 2.0, 1.0]
    """
    numbers = _NUMBER.findall(question)
    largest = max((float(n) for n in numbers), default=0.0)
    words = question.split()
    return [
        math.log1p(len(question)),
        math.log1p(len(words)),
        float(len(numbers)),
        float(len(_OPERATOR.findall(question))),
        math.log10(1.0 + largest),
        float(bool(re.search(r"\b(prove|explain|why|show that)\b", question, re.I))),
    ]


@dataclass(frozen=True)
class DifficultyPrior:
    """A zero-probe difficulty predictor: the prior over a question's single-sample accuracy
    from the question alone (its task, lexical features, optionally an embedding).

    Fit with :meth:`fit` on pool problems (their text and accuracy); :meth:`prior_for` gives
    a new question's prior, and :meth:`predict` its expected accuracy.

    Example:
        >>> easy = [ProblemSamples.from_lists(f"e{i}", ["4"] * 8, [1] * 8, question="2+2?")
        ...         for i in range(6)]
        >>> hard = [ProblemSamples.from_lists(f"h{i}", ["1"] * 8, [0] * 8,
        ...         question="Prove that the sum of 123, 456, 789 and 1011 is odd " * 3)
        ...         for i in range(6)]
        >>> prior = DifficultyPrior.fit(easy + hard, neighbours=4)
        >>> prior.predict("3+3?") > 0.8 > 0.2 > prior.predict(hard[0].question)
        True
    """

    features: tuple[tuple[float, ...], ...]
    accuracies: tuple[float, ...]
    tasks: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    base: tuple[float, ...]
    neighbours: int = 15
    mix: float = 0.2
    embeddings: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def fit(
        cls,
        problems: Sequence[ProblemSamples],
        *,
        tasks: Sequence[str] | None = None,
        neighbours: int = 15,
        mix: float = 0.2,
        embeddings: Any = None,
    ) -> DifficultyPrior:
        """Fit on ``problems`` (their ``question`` text and accuracy); ``tasks`` name each
        problem's task (default: the prefix of its id before ``/``, as a task mix names it);
        ``embeddings``: an optional LangChain ``Embeddings`` whose vectors join the features."""
        if not problems:
            raise TTCConfigError("A difficulty prior needs problems to fit on.")
        if any(not p.question for p in problems):
            raise TTCConfigError(
                "A difficulty prior reads the questions: these pool problems carry no text."
            )
        tasks = [p.problem_id.split("/")[0] for p in problems] if tasks is None else list(tasks)
        raw = np.array([_features(p.question, embeddings) for p in problems])
        mean, scale = raw.mean(axis=0), raw.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        return cls(
            tuple(tuple(float(v) for v in row) for row in (raw - mean) / scale),
            tuple(_smoothed_accuracy(p) for p in problems),
            tuple(tasks),
            tuple(float(v) for v in mean),
            tuple(float(v) for v in scale),
            accuracy_prior(problems),
            neighbours,
            mix,
            embeddings,
        )

    def to_dict(self) -> dict:
        """Plain JSON values (a calibrated policy stores its predictor in its meta); a
        predictor that reads embeddings cannot be stored (the model is not JSON).

        Example:
            >>> ps = [ProblemSamples.from_lists(f"q{i}", ["4"] * 4, [1] * 4, question="2+2?")
            ...       for i in range(3)]
            >>> prior = DifficultyPrior.fit(ps)
            >>> DifficultyPrior.from_dict(prior.to_dict()) == prior
            True
        """
        if self.embeddings is not None:
            raise TTCConfigError("A difficulty prior that reads embeddings cannot be stored.")
        return {
            "features": [list(row) for row in self.features],
            "accuracies": list(self.accuracies),
            "tasks": list(self.tasks),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "base": list(self.base),
            "neighbours": self.neighbours,
            "mix": self.mix,
        }

    @classmethod
    def from_dict(cls, data: dict) -> DifficultyPrior:
        """The predictor :meth:`to_dict` stored."""
        try:
            return cls(
                tuple(tuple(float(v) for v in row) for row in data["features"]),
                tuple(float(v) for v in data["accuracies"]),
                tuple(str(t) for t in data["tasks"]),
                tuple(float(v) for v in data["mean"]),
                tuple(float(v) for v in data["scale"]),
                tuple(float(v) for v in data["base"]),
                int(data["neighbours"]),
                float(data["mix"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise TTCConfigError(f"Not a stored difficulty prior: {error}.") from error

    def _weights(self, question: str, task: str | None) -> np.ndarray:
        x = (np.array(_features(question, self.embeddings)) - self.mean) / self.scale
        table = np.array(self.features)
        distance = np.sqrt(((table - x) ** 2).sum(axis=1))
        if task is not None and task in self.tasks:  # same task: nearer
            distance = distance + 3.0 * (np.array(self.tasks) != task)
        k = min(self.neighbours, len(distance))
        nearest = np.argsort(distance, kind="stable")[:k]
        weights = np.zeros(len(distance))
        weights[nearest] = 1.0
        return weights

    def prior_for(self, question: str, task: str | None = None) -> tuple[float, ...]:
        """The prior over ``question``'s single-sample accuracy (20 weights on ``Q_GRID``)."""
        weights = self._weights(question, task)
        local = _histogram(self.accuracies, weights)
        prior = (1 - self.mix) * local + self.mix * np.array(self.base)
        return tuple(round(float(w), 6) for w in prior / prior.sum())

    def predict(self, question: str, task: str | None = None) -> float:
        """The expected single-sample accuracy of ``question`` under its prior."""
        return float(np.dot(self.prior_for(question, task), Q_GRID))


def _features(question: str, embeddings: Any) -> list[float]:
    features = question_features(question)
    if embeddings is not None:
        features += [float(v) for v in embeddings.embed_query(question)]
    return features
