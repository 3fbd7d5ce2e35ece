"""Import arrows run one way: the pure search library and the node context import nothing above
them (read from the source with ``ast``, so imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "langgraph_ttc"

# What sits above the node layer: graphs, strategies' entry points, methods and every front end.
ABOVE_NODES = (
    "langgraph_ttc.graph",
    "langgraph_ttc.search_graph",
    "langgraph_ttc.methods",
    "langgraph_ttc.plugins",
    "langgraph_ttc.runnable",
    "langgraph_ttc.batch",
    "langgraph_ttc.cli",
    "langgraph_ttc.serve",
    "langgraph_ttc.scaling",
    "langgraph_ttc.agents",
    "langgraph_ttc.distributed",
)
# search/ is the pure library (tree, segmentation, selection, scorers, PRM): below the nodes that
# drive it and the strategies that configure it.
ABOVE_SEARCH = (*ABOVE_NODES, "langgraph_ttc.nodes", "langgraph_ttc.strategies")


def imports_in(source: str, package: str) -> set[str]:
    """Every ``langgraph_ttc`` module ``source`` (a module of ``package``) imports, at any depth,
    relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                module = f"{base}.{module}" if module else base
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("langgraph_ttc")}


def imports_of(path: Path) -> set[str]:
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    return imports_in(path.read_text(), package)


def upward(path: Path, above: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in imports_of(path)
        if any(name == layer or name.startswith(layer + ".") for layer in above)
    )


@pytest.mark.parametrize("path", sorted((PACKAGE / "search").glob("*.py")), ids=lambda p: p.name)
def test_search_imports_nothing_above_it(path):
    assert upward(path, ABOVE_SEARCH) == []


def test_node_context_imports_nothing_above_it():
    assert upward(PACKAGE / "nodes" / "context.py", ABOVE_NODES) == []


def test_the_walk_sees_imports_inside_functions_and_relative_ones():
    source = (
        "def f():\n    from ..nodes.search import SearchNodes\n    import langgraph_ttc.graph\n"
    )
    found = imports_in(source, "langgraph_ttc.search")
    assert {"langgraph_ttc.nodes.search", "langgraph_ttc.graph"} <= found
