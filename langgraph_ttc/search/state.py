"""Graph state of the searches: the TTC state plus the tree (plain data, merged by node id)."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage

from langgraph_ttc.search.tree import SearchNode
from langgraph_ttc.state import TTCState, merge_candidates

__all__ = ["ExpandTask", "SearchState"]


class SearchState(TTCState, total=False):
    """``ttc_tree``: every node drawn so far (a node update replaces fields by id);
    ``ttc_frontier``: this round's planned expansions, ``[{"id": ..., "width": ...}]``."""

    ttc_tree: Annotated[list[SearchNode], merge_candidates]
    ttc_frontier: list[dict]


class ExpandTask(TypedDict):
    """Payload of one ``Send`` to the expand node: draw ``width`` children of ``parent``."""

    ttc_question: str
    ttc_prompt: list[AnyMessage]
    ttc_run_id: str
    ttc_seed: int
    ttc_started_at: float
    parent: str
    steps: list[str]
    depth: int
    round: int
    subtrees: list[int | None]
    first_child: int
    width: int
    budget: dict
