"""Particle filtering (Puri et al. 2025, "Rollout Roulette", arXiv 2502.01618; its_hub's
``ParticleFiltering``, ``its_hub/algorithms/particle_gibbs.py``).

N partial solutions (particles) grow one step at a time. After each step a process scorer
scores every particle; weights are a softmax of the scores' log-odds divided by a temperature
(its_hub: ``_inv_sigmoid`` of the PRM score, then ``_softmax``; the paper's temperature, 1 by
default as in its_hub), and N particles are drawn with replacement in proportion to them
(``random.choices``, multinomial resampling) for the next step. A finished particle stays in the
population with its final weight: a draw that lands on it keeps it and extends nothing. The run
ends when every draw lands on a finished particle (or at ``max_rounds``); the answer is the
finished particle of the highest weight (its_hub's default ``selection_method="argmax"``), i.e.
best-of-N over the solutions' scores.

It reuses the step-level search machinery (:mod:`langgraph_ttc.search`): the segmentation into
steps, the process scorers (default: :class:`~langgraph_ttc.search.LLMStepJudge` on the
generator; a PRM with ``verifier=``), and the select -> expand -> score loop; this module is
its resampling rule (:meth:`ParticleFilter.widths`). Two particles that draw the same parent
share one ``n``-request. Finished solutions stay in the population for the rest of the run
(its_hub's copies of a finished particle can be dropped by a later draw; here they cannot).

Example:
    >>> pf = ParticleFilter(n=4)
    >>> sum(pf.widths([{"seed": 1}, {"seed": 2}], [0.9, 0.1], done=[]))
    4
    >>> resampling_weights([0.5, 0.5, 0.9], temperature=1.0).round(3).tolist()
    [0.091, 0.091, 0.818]
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.strategies import register_strategy
from langgraph_ttc.strategies.search import StepSearch

__all__ = ["ParticleFilter", "resampling_weights"]

EPS = 1e-7  # its_hub clips scores to [1e-7, 1 - 1e-7] before the log-odds


def resampling_weights(scores: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Softmax of the scores' log-odds over ``temperature`` (scores in [0, 1]).

    Example:
        >>> resampling_weights([0.2, 0.8], temperature=1e9).round(3).tolist()  # hot: uniform
        [0.5, 0.5]
    """
    clipped = np.clip(np.asarray(scores, dtype=float), EPS, 1 - EPS)
    logits = np.log(clipped / (1 - clipped)) / temperature
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


@dataclass(frozen=True)
class ParticleFilter(StepSearch):
    """Particle filtering over steps (see the module docstring).

    Attributes:
        n: particles N (the paper scales it 1-128; each step of each particle is one call,
            plus its scoring).
        weight_temperature: divides the log-odds before the softmax (1: its_hub's weights).
        max_rounds: most steps per particle.

    Example:
        >>> ParticleFilter(n=8).describe()
        'particle_filter n=8 T=1'
    """

    name: ClassVar[str] = "particle_filter"
    aggregator: ClassVar[str] = "best_of_n"  # its_hub: the argmax of the final weights

    weight_temperature: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.weight_temperature > 0:
            raise TTCConfigError(
                f"particle_filter: weight_temperature must be > 0; got {self.weight_temperature}."
            )

    def widths(
        self, frontier: Sequence[Mapping], scores: Sequence[float], done: Sequence[Mapping]
    ) -> list[int]:
        """Children per open particle: N draws over the open and finished particles by weight;
        draws on finished ones keep them (seeded by the particles' own sample seeds, so a run
        with a fixed seed resamples the same way)."""
        if not frontier:
            return []
        finished = [float(node.get("score") or 0.0) for node in done]
        weights = resampling_weights([*scores, *finished], self.weight_temperature)
        key = repr([(n.get("id"), n.get("seed")) for n in [*frontier, *done]]).encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
        counts = rng.multinomial(self.n, weights)
        return [int(c) for c in counts[: len(frontier)]]

    def describe(self) -> str:
        return f"{self.name} n={self.n} T={self.weight_temperature:g}"


register_strategy(ParticleFilter)
