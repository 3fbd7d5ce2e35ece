"""Keeps the ``TYPE_CHECKING`` block of ``langgraph_ttc/__init__.py`` equal to its export table.

The package imports its public names lazily (``_EXPORTS``: name -> module); type checkers and
IDEs read the eager imports under ``if TYPE_CHECKING:`` instead. This module writes that block
from the table (``python -m langgraph_ttc._mirror``), and :func:`mirror_of` reads it back, so a
test can hold the two equal.

Example:
    >>> import langgraph_ttc
    >>> mirror_of(PACKAGE_INIT.read_text()) == langgraph_ttc._EXPORTS
    True
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PACKAGE_INIT", "mirror_block", "mirror_of", "write_mirror"]

PACKAGE_INIT = Path(__file__).with_name("__init__.py")
HEADER = "if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly  # noqa: I001\n"


def mirror_of(source: str) -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in ``source``."""
    names: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module or ""
    return names


def mirror_block(exports: Mapping[str, str]) -> str:
    """The ``if TYPE_CHECKING:`` block importing every exported name from its module."""
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, module in exports.items():
        by_module[module].append(name)
    lines = [HEADER]
    for module in sorted(by_module):
        names = sorted(by_module[module], key=lambda n: (not n.isupper(), n[:1].islower(), n))
        one = f"    from {module} import {', '.join(names)}\n"
        if len(one) <= 100:
            lines.append(one)
        else:
            lines.append(f"    from {module} import (\n")
            lines += [f"        {name},\n" for name in names]
            lines.append("    )\n")
    return "".join(lines)


def write_mirror(path: Path = PACKAGE_INIT) -> bool:
    """Rewrite the block in ``path`` from its ``_EXPORTS``; True if it changed."""
    source = path.read_text()
    table = ast.parse(source)
    exports: dict[str, str] = {}
    for node in table.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "_EXPORTS":
                exports = ast.literal_eval(node.value)
    start = source.index("if TYPE_CHECKING:")
    rest = source[start:]
    match = re.search(r"\n(?=\S)", rest)  # the block ends at the next unindented line
    end = start + (match.start() + 1 if match else len(rest))
    updated = source[:start] + mirror_block(exports) + source[end:]
    if updated != source:
        path.write_text(updated)
    return updated != source


if __name__ == "__main__":
    changed = write_mirror()
    print("rewrote" if changed else "unchanged", PACKAGE_INIT, file=sys.stderr)
