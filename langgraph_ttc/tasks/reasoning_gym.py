"""Tasks from reasoning-gym's procedural generators (``rg:<dataset>``), scored by the generator.

Problems and few-shot exemplars come from the same generator with different seeds, and any
exemplar whose question also appears among the problems is dropped, so exemplars never leak
answers. Exemplar answers are one paragraph ending "The answer is X." (the embedded base model
stops generating at a blank line); generators that record the expression (basic_arithmetic,
chain_sum, ...) also show it worked out ("3 + 4 = 7."), the others have no solutions to show.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require
from langgraph_ttc.parsing import answers_equal, extract_answer, leading_number, normalize_answer
from langgraph_ttc.tasks.base import Exemplar, Problem, Task

logger = logging.getLogger(__name__)

__all__ = ["ReasoningGymTask", "reasoning_gym_datasets"]

EXEMPLAR_SEED_OFFSET = 10_000  # Exemplars use seed + this, so they come from another stream.
EXEMPLAR_POOL_FACTOR = 4  # Draw this many times n_exemplars to replace ones equal to a problem.
INSTRUCTION = "Solve each problem. End your reply with: The answer is <answer>."
EXAMPLE_DATASETS = ("basic_arithmetic", "chain_sum", "gsm_symbolic", "leg_counting")


def reasoning_gym_datasets() -> list[str]:
    """Names of all registered reasoning-gym datasets, sorted.

    Example:
        >>> "basic_arithmetic" in reasoning_gym_datasets()
        True
    """
    require("reasoning_gym", "eval", "reasoning-gym tasks")  # importing registers the datasets
    return sorted(require("reasoning_gym.factory", "eval", "reasoning-gym tasks").DATASETS)


class ReasoningGymTask(Task):
    """A reasoning-gym dataset as a task; scores with the dataset's own ``score_answer``.

    Args:
        dataset: a registered reasoning-gym dataset name, e.g. ``"basic_arithmetic"``.
        size: number of problems.
        seed: generator seed of the problems; problem ids are ``f"{dataset}-{seed}-{i}"``.
        config: extra generator settings (difficulty knobs), e.g. ``{"max_terms": 2}``.
        n_exemplars: few-shot exemplars, from the same generator with seed
            ``seed + EXEMPLAR_SEED_OFFSET``; none equals a problem.

    Example:
        >>> task = ReasoningGymTask("basic_arithmetic", size=3, seed=1, n_exemplars=2)
        >>> p = task.problems()[0]
        >>> p.id, task.score(p, f"The answer is {p.reference}.")
        ('basic_arithmetic-1-0', 1.0)
    """

    def __init__(
        self,
        dataset: str,
        *,
        size: int = 50,
        seed: int = 0,
        config: Mapping[str, Any] | None = None,
        n_exemplars: int = 4,
    ) -> None:
        if size < 1:
            raise TTCConfigError(f"size must be >= 1; got {size}.")
        if n_exemplars < 0:
            raise TTCConfigError(f"n_exemplars must be >= 0; got {n_exemplars}.")
        self.dataset = dataset
        self.name = f"rg:{dataset}"
        self.seed = seed
        self.config = dict(config or {})
        self.instruction = INSTRUCTION
        self._data = _create_dataset(dataset, size=size, seed=seed, config=self.config)
        self._problems = tuple(
            Problem(
                id=f"{dataset}-{seed}-{i}",
                question=_tidy(entry["question"]),
                reference=None if entry.get("answer") is None else str(entry["answer"]),
                metadata={"entry": entry, "dataset": dataset},
            )
            for i, entry in enumerate(self._data)
        )
        # Grids and boards span lines: take everything after "The answer is" for those.
        self.multiline = any(p.reference and "\n" in p.reference for p in self._problems)
        self.exemplars = self._make_exemplars(n_exemplars)

    def _make_exemplars(self, n: int) -> tuple[Exemplar, ...]:
        if n == 0:
            return ()
        pool = _create_dataset(
            self.dataset,
            size=n * EXEMPLAR_POOL_FACTOR,
            seed=self.seed + EXEMPLAR_SEED_OFFSET,
            config=self.config,
        )
        taken = {p.question for p in self._problems}
        out: list[Exemplar] = []
        for entry in pool:
            question = _tidy(entry["question"])
            if entry.get("answer") is None or question in taken:
                continue
            taken.add(question)
            out.append(Exemplar(question=question, answer=_exemplar_answer(entry)))
            if len(out) == n:
                break
        if len(out) < n:
            logger.warning(
                "rg:%s: only %d of %d exemplars (the generator has no reference answers or "
                "too few distinct questions)",
                self.dataset,
                len(out),
                n,
            )
        return tuple(out)

    def problems(self) -> Sequence[Problem]:
        """The generated problems, in generator order."""
        return self._problems

    def extract_answer(self, text: str) -> str | None:
        """The final answer; numbers normalised, case kept (some datasets score case).

        Example:
            >>> ReasoningGymTask("basic_arithmetic", size=1, n_exemplars=0).extract_answer(
            ...     "So 1,200 + 34 = 1,234. The answer is 1,234.")
            '1234'
        """
        answer = extract_answer(text, multiline=self.multiline)
        if answer is None:
            return None
        return answer if self.multiline else normalize_answer(answer, case_sensitive=True)

    def score(self, problem: Problem, text: str) -> float:
        """The dataset's ``score_answer`` on the extracted answer, in [0, 1]."""
        answer = self.extract_answer(text)
        entry = problem.metadata.get("entry") if problem.metadata else None
        if entry is None:  # A problem built elsewhere: fall back to answer equivalence.
            if problem.reference is None:
                raise TTCConfigError(
                    f"Problem {problem.id!r} has neither a reasoning-gym entry nor a reference; "
                    "use problems from ReasoningGymTask.problems()."
                )
            return 1.0 if answers_equal(answer, problem.reference) else 0.0
        candidates = [answer]
        raw = extract_answer(text, multiline=self.multiline)
        if raw is not None and raw != answer:
            candidates.append(raw)  # e.g. "1,234" when a dataset wants separators
        number = None if raw is None else leading_number(raw)
        if number is not None and problem.reference == number:
            candidates.append(number)  # "7 apples" for a numeric reference "7"
        best = 0.0
        for candidate in candidates:
            try:
                best = max(best, float(self._data.score_answer(candidate, entry)))
            except Exception as exc:  # noqa: BLE001 - a scorer choking on odd text scores 0
                logger.debug("rg:%s score_answer failed on %r: %r", self.dataset, candidate, exc)
        return min(max(best, 0.0), 1.0)


def _create_dataset(dataset: str, *, size: int, seed: int, config: Mapping[str, Any]):
    valid = reasoning_gym_datasets()
    if dataset not in valid:
        close = difflib.get_close_matches(dataset, valid, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise TTCConfigError(
            f"Unknown reasoning-gym dataset {dataset!r}.{hint} Examples: "
            f"{', '.join(EXAMPLE_DATASETS)}; list all {len(valid)} with `langgraph-ttc tasks` "
            "(in Python: langgraph_ttc.tasks.list_tasks())."
        )
    reasoning_gym = require("reasoning_gym", "eval", "reasoning-gym tasks")
    try:
        return reasoning_gym.create_dataset(dataset, size=size, seed=seed, **config)
    except (TypeError, ValueError, AssertionError) as exc:
        datasets = require("reasoning_gym.factory", "eval", "reasoning-gym tasks").DATASETS
        fields = sorted(getattr(datasets[dataset][1], "__dataclass_fields__", {}))
        raise TTCConfigError(
            f"reasoning-gym rejected the config of {dataset!r}: {exc}. "
            f"Valid config keys: {', '.join(fields) or '(none)'}."
        ) from exc


def _tidy(question: str) -> str:
    """Question text with blank lines collapsed (a blank line ends a turn for base models)."""
    return re.sub(r"\n\s*\n", "\n", str(question).strip())


def _exemplar_answer(entry: Mapping[str, Any]) -> str:
    """One paragraph ending "The answer is X."; arithmetic generators also show the sum worked.

    A base model copies the shape of its exemplars; writing "expr = value" first gives it one
    step of working before the answer (as the generic exemplars in ``prompts`` do).
    """
    answer = str(entry["answer"])
    if "\n" in answer:
        return f"The answer is:\n{answer}"
    final = f"The answer is {answer}" + ("" if answer.endswith(".") else ".")
    expression = (entry.get("metadata") or {}).get("expression")
    if isinstance(expression, str) and expression.strip() and "\n" not in expression:
        return f"{expression.strip()} = {answer}. {final}"
    return final
