"""Extend: draw more samples only while the vote is still open (adaptive consistency).

A sequential plan (``stop_at`` set, from a calibrated policy) grows ``width`` by ``step`` after
each round until the leading answer holds a ``stop_at`` share of the first attempts, or the plan
reaches ``max_width``. Calibration chooses ``stop_at``, ``step`` and ``max_width`` per difficulty
bin, so easy questions stop after a few samples and contested ones use the budget.
"""

from __future__ import annotations

from langgraph_ttc.difficulty import agreement
from langgraph_ttc.nodes._context import emit
from langgraph_ttc.nodes.generate import first_attempts


def next_width(share: float, width: int, stop_at: float, step: int, max_width: int) -> int | None:
    """The width of the next round, or ``None`` when the vote is clear or the cap is reached.
    The replay of pools (``scaling/replay.py``) applies the same rule.

    Example:
        >>> next_width(0.5, 4, 0.75, 2, 8), next_width(0.75, 4, 0.75, 2, 8), next_width(0.5, 8, 0.75, 2, 8)
        (6, None, None)
    """
    if share >= stop_at or width >= max_width:
        return None
    return min(width + step, max_width)


def extend_plan(state: dict) -> dict:
    """The plan for the next round: a wider one, or the same one closed (``stop_at`` None).

    Example:
        >>> plan = {"width": 4, "max_width": 8, "stop_at": 0.75, "step": 2}
        >>> votes = [{"answer": a, "step": 0} for a in ["4", "4", "5", "6"]]
        >>> extend_plan({"ttc_plan": plan, "ttc_candidates": votes})["ttc_plan"]["width"]
        6
    """
    plan = dict(state["ttc_plan"])
    drawn = first_attempts(state)
    share = agreement([c.get("answer") for c in drawn])
    wider = next_width(share, plan["width"], plan["stop_at"], plan["step"], plan["max_width"])
    # Stop when the vote is clear, the plan is exhausted, or the budget gave fewer than asked.
    if wider is None or len(drawn) < plan["width"]:
        plan["stop_at"] = None
        plan["reason"] = f"{plan['reason']}: stopped at {len(drawn)} (agreement {share:.2f})"
    else:
        plan["width"] = wider
    emit("extend", width=plan["width"], agreement=round(share, 4), done=plan["stop_at"] is None)
    return {"ttc_plan": plan}


def is_open(state: dict) -> bool:
    """Whether the run's plan still draws in rounds.

    Example:
        >>> is_open({"ttc_plan": {"stop_at": 0.6}}), is_open({"ttc_plan": {"stop_at": None}})
        (True, False)
    """
    return (state.get("ttc_plan") or {}).get("stop_at") is not None
