"""Step-level search strategies: frozen configs whose ``widths`` method is the selection rule.

Every search starts by sampling ``n`` first steps from the question; then, each round, the
frontier (the open steps drawn in the last round) is scored by a process scorer and the
strategy decides how many children each frontier node gets. Finished solutions are answered by
weighted best-of-N over their scores (Snell et al. 2024, sec. 5.1). ``max_tokens`` is per step.

Example:
    >>> BeamSearch(n=4, m=2).widths([{}, {}, {}], [0.2, 0.8, 0.5], done=[])
    [0, 2, 2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.plan import Plan
from langgraph_ttc.search.segmentation import Segmentation
from langgraph_ttc.search.selection import (
    RebaseRule,
    Reduce,
    beam_widths,
    dvts_widths,
    fit_widths,
    ranked,
    rebase_widths,
    resolve_m,
)
from langgraph_ttc.strategies.base import Strategy
from langgraph_ttc.verifiers import Verifier

__all__ = ["BeamSearch", "Dvts", "Lookahead", "Rebase", "StepSearch"]


@dataclass(frozen=True)
class StepSearch(Strategy):
    """Shared knobs of the step-level searches (not registered itself).

    Attributes:
        n: the search width N (first steps sampled; beams per round).
        max_tokens: tokens per step.
        max_rounds: maximum depth in steps; steps drawn at this depth finish their solution.
        segmentation: ``"auto"``, ``"blank_line"``, ``"newline"``, ``"step_label"``,
            ``"regex:<pattern>"`` or a :class:`~langgraph_ttc.search.Segmentation`.
        reduce: a solution's score from its step scores: ``"last"`` (default), ``"min"``,
            ``"prod"``.
        reformat_exemplars: rewrite few-shot exemplar answers one sentence per step, so base
            models write steps in the segmentation's format.
    """

    name: ClassVar[str] = "step_search"
    nodes: ClassVar[tuple[str, ...]] = ("select", "expand", "score")
    aggregator: ClassVar[str] = "weighted_best_of_n"

    n: int = 8
    max_rounds: int = 40
    segmentation: str | Segmentation = "auto"
    reduce: Reduce = "last"
    reformat_exemplars: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise TTCConfigError(f"{self.name}: max_rounds must be >= 1; got {self.max_rounds!r}.")
        if self.reduce not in ("last", "min", "prod"):
            raise TTCConfigError(
                f"{self.name}: reduce must be 'last', 'min' or 'prod'; got {self.reduce!r}."
            )
        Segmentation.parse(self.segmentation)  # fail early on a bad name or regex

    @property
    def rollout_steps(self) -> int:
        """Temperature-0 lookahead steps before a step is scored (0 = score it as drawn)."""
        return 0

    def subtree_of_first(self, index: int) -> int | None:
        """The subtree of the ``index``-th first step (DVTS only)."""
        return None

    def widths(
        self, frontier: Sequence[Mapping], scores: Sequence[float], done: Sequence[Mapping]
    ) -> list[int]:
        """Children per frontier node, given the frontier's scores and the finished solutions."""
        raise NotImplementedError

    def plan(self, calls_left: int | None = None, verifier: Verifier | None = None) -> Plan:
        """What the search starts from (its rounds are planned by the select node).

        Example:
            >>> BeamSearch(n=16, m=4).plan().reason
            'beam_search n=16 m=4'
        """
        return Plan(
            width=self.n,
            depth=self.max_rounds,
            aggregator=self.aggregator,
            reason=self.describe(),
        )

    def describe(self) -> str:
        return f"{self.name} n={self.n}"


def _check_m(strategy: Strategy, m: int | str) -> int | str:
    if isinstance(m, str) and m.isdigit():
        m = int(m)
    try:
        resolve_m(m, strategy.n)
    except TTCConfigError as exc:
        raise TTCConfigError(f"{strategy.name}: {exc}") from None
    return m


@dataclass(frozen=True)
class BeamSearch(StepSearch):
    """Beam search with a process scorer (Snell et al. 2024, sec. 5.2): keep the top N/M open
    steps each round and expand each M ways; at most ``max_rounds`` rounds (paper: 40); stops
    when N solutions are finished or no step is open.

    Example:
        >>> BeamSearch(n=16, m=4).describe()
        'beam_search n=16 m=4'
    """

    name: ClassVar[str] = "beam_search"

    m: int | str = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "m", _check_m(self, self.m))

    def widths(self, frontier, scores, done):
        if len(done) >= self.n:
            return [0] * len(frontier)
        return beam_widths(scores, self.n, resolve_m(self.m, self.n))

    def describe(self) -> str:
        return f"{self.name} n={self.n} m={self.m}"


@dataclass(frozen=True)
class Lookahead(BeamSearch):
    """Beam search with lookahead (Snell et al. 2024, sec. 5.2): each new step is scored after a
    temperature-0 rollout of ``k`` more steps (paper: k in {1, 3}); the rollout's last step's
    score becomes the step's score. Each step costs k + 1 generations: N*(k+1) per round.

    Example:
        >>> Lookahead(n=4, k=3).rollout_steps
        3
    """

    name: ClassVar[str] = "lookahead"

    k: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.k, int) or self.k < 1:
            raise TTCConfigError(f"lookahead: k must be an integer >= 1; got {self.k!r}.")

    @property
    def rollout_steps(self) -> int:
        return self.k

    def describe(self) -> str:
        return f"{self.name} n={self.n} m={self.m} k={self.k}"


@dataclass(frozen=True)
class Rebase(StepSearch):
    """REBASE (Wu et al. 2024, sec. 3.2): B = N; each round, finished solutions reduce B and
    every open step j gets W_j children from softmax(R/T_b). The default ``rule="authors"``
    follows the authors' code (thu-wyz/inference_scaling, ``rebase.py``, ``select_softmax``):
    nodes by score, each ceil(remaining width * e_j / remaining mass), so exactly B are spent;
    ``rule="paper"`` is Eq. 1, W_j = Round(B * softmax(R/T_b)_j), trimmed to B from the
    lowest-scored node up if the rounding overshoots (see
    :func:`~langgraph_ttc.search.selection.rebase_widths`). Paper: T_b = 0.1 (code 0.2),
    temperature 1.0, max depth 25.

    Example:
        >>> Rebase(n=4).widths([{"id": "n1"}, {"id": "n2"}], [0.9, 0.5], done=[{"id": "n3"}])
        [3, 0]
        >>> Rebase(n=4).widths([{}, {}, {}], [0.5, 0.5, 0.5], done=[])
        [2, 1, 1]
    """

    name: ClassVar[str] = "rebase"

    temperature: float = 1.0
    max_rounds: int = 25
    temperature_b: float = 0.1
    rule: RebaseRule = "authors"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.temperature_b > 0:
            raise TTCConfigError(f"rebase: temperature_b must be > 0; got {self.temperature_b}.")
        if self.rule not in ("authors", "paper"):
            raise TTCConfigError(f"rebase: rule must be 'authors' or 'paper'; got {self.rule!r}.")

    def widths(self, frontier, scores, done):
        budget = self.n - len(done)
        widths = rebase_widths(scores, budget, self.temperature_b, self.rule)
        return fit_widths(widths, ranked(scores), budget)

    def describe(self) -> str:
        rule = "" if self.rule == "authors" else f" rule={self.rule}"
        return f"{self.name} n={self.n} T_b={self.temperature_b}{rule}"


@dataclass(frozen=True)
class Dvts(StepSearch):
    """Diverse verifier tree search (Beeching et al. 2024, HF search-and-learn): N/M independent
    subtrees of M first steps each; every round each unfinished subtree expands its best open
    step M ways; a subtree stops at its first finished solution.

    Example:
        >>> Dvts(n=8, m=4).subtree_of_first(5)
        1
    """

    name: ClassVar[str] = "dvts"

    m: int | str = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "m", _check_m(self, self.m))

    @property
    def subtrees(self) -> int:
        return max(1, self.n // resolve_m(self.m, self.n))

    def subtree_of_first(self, index: int) -> int | None:
        return min(index // resolve_m(self.m, self.n), self.subtrees - 1)

    def widths(self, frontier, scores, done):
        finished = {node.get("subtree") for node in done}
        open_ = [i for i, node in enumerate(frontier) if node.get("subtree") not in finished]
        picked = dvts_widths(
            [scores[i] for i in open_],
            [frontier[i].get("subtree") or 0 for i in open_],
            resolve_m(self.m, self.n),
        )
        widths = [0] * len(frontier)
        for i, width in zip(open_, picked, strict=True):
            widths[i] = width
        return widths

    def describe(self) -> str:
        return f"{self.name} n={self.n} m={self.m}"
