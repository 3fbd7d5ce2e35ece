"""The search tree as plain data: a list of node dicts in graph state (so it checkpoints),
merged by ``id`` like candidates, plus pure helpers to walk and check it.

The root (id ``"n0"``, depth 0) stands for the question; every other node is one step. A node's
solution is the steps on its path from the root. ``width`` is how many children the search
allocated to a node (0 = never expanded); ``done`` marks a finished solution (final answer
stated, end of the model's turn, failed sample, or maximum depth).

Example:
    >>> root = {**root_node(), "width": 1}
    >>> tree = [root, new_node("n1", "n0", depth=1, round=0, text="2 + 2 = 4.")]
    >>> steps_to("n1", index_nodes(tree)), check_tree(tree)
    (['2 + 2 = 4.'], [])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict

__all__ = [
    "ROOT_ID",
    "SearchNode",
    "check_tree",
    "children_of",
    "index_nodes",
    "new_node",
    "node_number",
    "path_to",
    "root_node",
    "solutions",
    "steps_to",
]

ROOT_ID = "n0"


class SearchNode(TypedDict, total=False):
    """One node of the tree (all fields plain data).

    Attributes:
        id: ``"n<k>"``, numbered in creation order (root ``"n0"``).
        parent: the parent's id (``None`` for the root).
        depth: steps from the root (root 0).
        round: the search round that created the node (-1 for the root).
        subtree: DVTS subtree (``None`` for other strategies).
        text: this step's text.
        score: process score of this step in [0, 1] (after lookahead, if any); ``None`` = unscored.
        parsed: False when ``score`` is a scorer fallback.
        done: a finished solution (no children will be drawn).
        answer: the final answer of a finished solution, else ``None``.
        width: children allocated to this node by the search (0 = not expanded).
        ok / error: whether the step's sample succeeded.
        finish_reason, seed, completion_tokens: of the sample that produced the step.
        lookahead: the temperature-0 rollout behind a lookahead score.
        duplicate_of: a sibling with the same text whose score this node shares.
    """

    id: str
    parent: str | None
    depth: int
    round: int
    subtree: int | None
    text: str
    score: float | None
    parsed: bool
    done: bool
    answer: str | None
    width: int
    ok: bool
    error: str | None
    finish_reason: str | None
    seed: int | None
    completion_tokens: int
    lookahead: str | None
    duplicate_of: str | None


def root_node() -> SearchNode:
    return SearchNode(
        id=ROOT_ID, parent=None, depth=0, round=-1, subtree=None, text="", score=None,
        parsed=True, done=False, answer=None, width=0, ok=True, error=None,
        finish_reason=None, seed=None, completion_tokens=0, lookahead=None, duplicate_of=None,
    )  # fmt: skip


def new_node(
    node_id: str,
    parent: str,
    *,
    depth: int,
    round: int,
    text: str,
    subtree: int | None = None,
    done: bool = False,
    answer: str | None = None,
    ok: bool = True,
    error: str | None = None,
    finish_reason: str | None = None,
    seed: int | None = None,
    completion_tokens: int = 0,
) -> SearchNode:
    return SearchNode(
        id=node_id, parent=parent, depth=depth, round=round, subtree=subtree, text=text,
        score=None, parsed=True, done=done, answer=answer, width=0, ok=ok, error=error,
        finish_reason=finish_reason, seed=seed, completion_tokens=completion_tokens,
        lookahead=None, duplicate_of=None,
    )  # fmt: skip


def node_number(node_id: str) -> int:
    """The creation number of a node id (``"n12"`` -> 12)."""
    return int(node_id[1:])


def index_nodes(nodes: Iterable[Mapping]) -> dict[str, Mapping]:
    return {node["id"]: node for node in nodes}


def path_to(node_id: str, index: Mapping[str, Mapping]) -> list[Mapping]:
    """The nodes from the first step down to ``node_id`` (the root excluded)."""
    path = []
    current = index.get(node_id)
    while current is not None and current.get("parent") is not None:
        path.append(current)
        current = index.get(current["parent"])
    return path[::-1]


def steps_to(node_id: str, index: Mapping[str, Mapping]) -> list[str]:
    """The step texts of a node's solution (empty steps left out)."""
    return [n["text"] for n in path_to(node_id, index) if n.get("text")]


def children_of(nodes: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {}
    for node in nodes:
        if node.get("parent") is not None:
            out.setdefault(node["parent"], []).append(node)
    return out


def solutions(nodes: Iterable[Mapping]) -> list[Mapping]:
    """Finished solutions: done nodes whose sample succeeded, in creation order."""
    done = [n for n in nodes if n.get("done") and n.get("ok") and n.get("parent") is not None]
    return sorted(done, key=lambda n: node_number(n["id"]))


def check_tree(nodes: Sequence[Mapping], *, strict: bool = True) -> list[str]:
    """Problems with a tree (empty when consistent): unique ids, exactly one root, every
    parent present, depth = parent depth + 1, no children under a finished node, and each
    node's children number its allocated ``width`` (at most ``width`` unless ``strict``).

    Example:
        >>> bad = [root_node(), new_node("n1", "n9", depth=1, round=0, text="x")]
        >>> check_tree(bad, strict=False)
        ['n1: parent n9 is missing']
    """
    problems: list[str] = []
    counts = Counter(n["id"] for n in nodes)
    problems += [f"{i}: id used {c} times" for i, c in counts.items() if c > 1]
    index = index_nodes(nodes)
    roots = [n for n in nodes if n.get("parent") is None]
    if len(roots) != 1:
        problems.append(f"expected one root, found {len(roots)}")
    for node in nodes:
        parent_id = node.get("parent")
        if parent_id is None:
            continue
        parent = index.get(parent_id)
        if parent is None:
            problems.append(f"{node['id']}: parent {parent_id} is missing")
            continue
        if node.get("depth") != parent.get("depth", 0) + 1:
            problems.append(f"{node['id']}: depth {node.get('depth')} under {parent_id}")
        if parent.get("done"):
            problems.append(f"{node['id']}: child of finished node {parent_id}")
    kids_of = children_of(nodes)
    for parent_id, kids in kids_of.items():
        if parent_id not in index:
            continue  # reported above
        width = index[parent_id].get("width", 0)
        if len(kids) > width or (strict and len(kids) != width):
            problems.append(f"{parent_id}: {len(kids)} children but width {width}")
    if strict:
        for node in nodes:
            if node.get("width", 0) and node["id"] not in kids_of:
                problems.append(f"{node['id']}: width {node['width']} but no children")
    return problems
