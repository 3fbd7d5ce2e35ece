"""Your own questions as a task: a JSONL file of ``{"id", "question", "answer"}`` lines.

``id`` is optional (default ``"<file stem>-<line number>"``) and so is ``answer`` (a problem
without one can be answered but not scored). Answers are compared with
:func:`~langgraph_ttc.parsing.answers_equal` (normalisation, then math equivalence).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.parsing import answers_equal, extract_answer, normalize_answer
from langgraph_ttc.tasks.base import Exemplar, Problem, Task

logger = logging.getLogger(__name__)

__all__ = ["JsonlTask", "read_jsonl_problems"]

INSTRUCTION = "Answer the question. End your reply with: The answer is <answer>."


class JsonlTask(Task):
    """Problems read from a JSONL file, scored by answer equivalence.

    Args:
        path: the ``.jsonl`` file.
        exemplars: few-shot exemplars; their answers should end "The answer is X."
        instruction: shown before the exemplars (``None`` for none).
        size: keep this many problems (a ``seed``-ed draw, in file order); ``None`` for all.
        seed: seed of that draw.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "qa.jsonl")
        >>> _ = open(path, "w").write('{"id": "q1", "question": "2+2?", "answer": "4"}\\n')
        >>> task = JsonlTask(path)
        >>> task.score(task.problems()[0], "2 + 2 = 4. The answer is 4.0.")
        1.0
    """

    def __init__(
        self,
        path: str | Path,
        *,
        exemplars: Sequence[Exemplar] = (),
        instruction: str | None = INSTRUCTION,
        size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"
        self.exemplars = tuple(exemplars)
        self.instruction = instruction
        problems = read_jsonl_problems(self.path)
        if size is not None:
            if not 1 <= size <= len(problems):
                raise TTCConfigError(
                    f"size must be in 1..{len(problems)} (problems in {self.path}) or None; "
                    f"got {size}."
                )
            keep = sorted(random.Random(seed).sample(range(len(problems)), size))
            problems = [problems[i] for i in keep]
        self._problems = tuple(problems)

    def problems(self) -> Sequence[Problem]:
        """The problems, in file order."""
        return self._problems

    def extract_answer(self, text: str) -> str | None:
        """The normalised final answer (see :func:`~langgraph_ttc.parsing.normalize_answer`)."""
        answer = extract_answer(text)
        return None if answer is None else normalize_answer(answer)

    def score(self, problem: Problem, text: str) -> float:
        """1.0 if the extracted answer equals the reference, else 0.0."""
        if problem.reference is None:
            raise TTCConfigError(
                f'Problem {problem.id!r} has no reference answer; add an "answer" field to its '
                f"line in {self.path} to score it."
            )
        return 1.0 if answers_equal(self.extract_answer(text), problem.reference) else 0.0


def read_jsonl_problems(path: str | Path) -> list[Problem]:
    """Parse a JSONL file of problems; errors name the file and line to fix.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "bad.jsonl")
        >>> _ = open(path, "w").write('{"question": "ok?", "answer": 1}\\nnot json\\n')
        >>> read_jsonl_problems(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: ...bad.jsonl line 2: not valid JSON (Expecting value); ...
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise TTCConfigError(f"No such JSONL task file: {path}. Check the path.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TTCConfigError(f"Cannot read JSONL task file {path}: {exc}.") from exc
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    expected = (
        'each line must be a JSON object like {"id": "q1", "question": "...", "answer": "..."}'
    )
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TTCConfigError(f"{where}: not valid JSON ({exc.msg}); {expected}.") from exc
        if not isinstance(record, dict):
            raise TTCConfigError(f"{where}: got {type(record).__name__}; {expected}.")
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise TTCConfigError(f'{where}: missing or empty "question"; {expected}.')
        answer = record.get("answer")
        if answer is not None and not isinstance(answer, (str, int, float)):
            raise TTCConfigError(
                f'{where}: "answer" must be a string or number; got {type(answer).__name__}.'
            )
        problem_id = str(record.get("id", f"{path.stem}-{number}"))
        if problem_id in seen:
            raise TTCConfigError(
                f"{where}: duplicate id {problem_id!r} (first on line {seen[problem_id]}); "
                "ids must be unique."
            )
        seen[problem_id] = number
        metadata = {k: v for k, v in record.items() if k not in ("id", "question", "answer")}
        problems.append(
            Problem(
                id=problem_id,
                question=question,
                reference=None if answer is None else str(answer),
                metadata=metadata,
            )
        )
    if not problems:
        raise TTCConfigError(f"{path} holds no problems; {expected}.")
    return problems
