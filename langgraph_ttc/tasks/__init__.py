"""Verifiable tasks: problems with references, few-shot exemplars, answer extraction, scoring.

Load one by name with :func:`load_task`:

* ``"rg:<dataset>"``: any reasoning-gym generator, e.g. ``"rg:basic_arithmetic"``;
* ``"humaneval"``: the 164 HumanEval problems, scored by unit tests in a sandbox;
* ``"jsonl:<path>"`` or a path ending ``.jsonl``: your own ``{"id", "question", "answer"}`` lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.tasks.base import Exemplar, Problem, Task
from langgraph_ttc.tasks.humaneval import HumanEvalTask
from langgraph_ttc.tasks.jsonl import JsonlTask
from langgraph_ttc.tasks.reasoning_gym import (
    EXAMPLE_DATASETS,
    ReasoningGymTask,
    reasoning_gym_datasets,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Exemplar",
    "HumanEvalTask",
    "JsonlTask",
    "Problem",
    "ReasoningGymTask",
    "Task",
    "list_tasks",
    "load_task",
]

DEFAULT_RG_SIZE = 50


def list_tasks() -> list[str]:
    """The task names :func:`load_task` accepts (besides ``jsonl:<path>``): ``humaneval`` and
    ``rg:<dataset>`` for every registered reasoning-gym dataset.

    Example:
        >>> names = list_tasks()
        >>> "humaneval" in names, "rg:basic_arithmetic" in names
        (True, True)
    """
    return ["humaneval", *(f"rg:{name}" for name in reasoning_gym_datasets())]


def load_task(
    name: str,
    *,
    size: int | None = None,
    seed: int = 0,
    config: Mapping[str, Any] | None = None,
    allow_unsandboxed: bool = False,
) -> Task:
    """A task by name: ``rg:<dataset>``, ``humaneval``, ``jsonl:<path>`` or ``<path>.jsonl``.

    Args:
        name: the task name (see :func:`list_tasks`).
        size: number of problems; ``None`` means 50 for reasoning-gym, all for the others.
        seed: generator seed (reasoning-gym) or subset seed (HumanEval, JSONL).
        config: reasoning-gym generator settings, e.g. ``{"max_terms": 2}``.
        allow_unsandboxed: code tasks (HumanEval) only: run model-written code even where no
            sandbox boundary can be made (see :mod:`~langgraph_ttc.tasks.sandbox`); without
            it they raise :class:`~langgraph_ttc.errors.SandboxUnavailable` there.

    Example:
        >>> task = load_task("rg:basic_arithmetic", size=2)
        >>> task.name, len(task.problems())
        ('rg:basic_arithmetic', 2)
    """
    if not isinstance(name, str) or not name.strip():
        raise TTCConfigError(f"Task name must be a non-empty string; got {name!r}. {_valid()}")
    name = name.strip()
    if size is not None and size < 1:
        raise TTCConfigError(f"size must be >= 1 or None; got {size}.")
    if config and not name.startswith("rg:"):
        raise TTCConfigError(f"config= applies to reasoning-gym tasks (rg:...) only; got {name!r}.")
    if name.startswith("rg:"):
        dataset = name[3:]
        return ReasoningGymTask(
            dataset, size=size or DEFAULT_RG_SIZE, seed=seed, config=dict(config or {})
        )
    if name == "humaneval":
        return HumanEvalTask(size=size, seed=seed, allow_unsandboxed=allow_unsandboxed)
    if name.startswith("jsonl:") or name.endswith(".jsonl"):
        path = name[len("jsonl:") :] if name.startswith("jsonl:") else name
        return JsonlTask(path, size=size, seed=seed)
    import difflib

    close = difflib.get_close_matches(name, list_tasks(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise TTCConfigError(f"Unknown task {name!r}.{hint} {_valid()}")


def _valid() -> str:
    examples = ", ".join(f"rg:{d}" for d in EXAMPLE_DATASETS)
    return (
        f"Valid names: humaneval, jsonl:<path> (or a path ending .jsonl), or rg:<dataset> for "
        f"any reasoning-gym dataset, e.g. {examples}. List them all with `langgraph-ttc tasks` "
        "(in Python: langgraph_ttc.tasks.list_tasks())."
    )
