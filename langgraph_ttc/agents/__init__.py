"""Test-time compute for LangChain agents: :class:`TTCMiddleware` for ``create_agent``.

The middleware and its state need the ``agents`` extra (``pip install 'langgraph-ttc[agents]'``,
which brings ``langchain``); the votes, the ledger and the escalation objects are plain Python
and import without it. Everything is imported on first use.

Example:
    >>> from langgraph_ttc.agents import tool_calls_key
    >>> tool_calls_key([{"name": "add", "args": {"b": 2, "a": 1}}])
    'tool:add({"a":1,"b":2})'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "AskHuman": "langgraph_ttc.agents.escalation",
    "Escalation": "langgraph_ttc.agents.escalation",
    "Fallback": "langgraph_ttc.agents.escalation",
    "Ledger": "langgraph_ttc.agents.ledger",
    "SampleMore": "langgraph_ttc.agents.escalation",
    "StepVote": "langgraph_ttc.agents.tool_votes",
    "TTCAgentState": "langgraph_ttc.agents.middleware",
    "TTCMiddleware": "langgraph_ttc.agents.middleware",
    "apply_decisions": "langgraph_ttc.agents.escalation",
    "new_ledger": "langgraph_ttc.agents.ledger",
    "normalize_args": "langgraph_ttc.agents.tool_votes",
    "reply_key": "langgraph_ttc.agents.tool_votes",
    "review_request": "langgraph_ttc.agents.escalation",
    "sample_seed": "langgraph_ttc.agents._step",
    "text_key": "langgraph_ttc.agents.tool_votes",
    "tool_calls_key": "langgraph_ttc.agents.tool_votes",
    "vote": "langgraph_ttc.agents.tool_votes",
}

__all__ = sorted(_EXPORTS)
_EXPORTS["normalise_args"] = "langgraph_ttc.agents.tool_votes"  # the former spelling


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'langgraph_ttc.agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # noqa: I001
    from langgraph_ttc.agents._step import sample_seed
    from langgraph_ttc.agents.escalation import (
        AskHuman,
        Escalation,
        Fallback,
        SampleMore,
        apply_decisions,
        review_request,
    )
    from langgraph_ttc.agents.ledger import Ledger, new_ledger
    from langgraph_ttc.agents.middleware import TTCAgentState, TTCMiddleware
    from langgraph_ttc.agents.tool_votes import (
        StepVote,
        normalize_args,
        reply_key,
        text_key,
        tool_calls_key,
        vote,
    )
