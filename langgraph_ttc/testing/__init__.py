"""Test aids, one module per concept: deterministic fakes, an instant OpenAI-compatible server,
a fault-injecting proxy and helpers for the server processes that tests start.

* :mod:`langgraph_ttc.testing.fakes`: fake backends and chat models whose replies are pure
  functions of (messages, seed), and scripted oracles (re-exported here).
* :mod:`langgraph_ttc.testing.instant_server`: :class:`~langgraph_ttc.testing.instant_server.InstantServer`.
* :mod:`langgraph_ttc.testing.fault_proxy`: :class:`~langgraph_ttc.testing.fault_proxy.FaultProxy`.
* :mod:`langgraph_ttc.testing.processes`: ``free_port``, ``die_with_parent``,
  ``stop_process_group``, ``log_tail``.

The fakes load on first use, so importing the server or the process helpers does not import
LangChain.

Example:
    >>> from langgraph_ttc.testing import FakeBackend
    >>> from langgraph_ttc.testing.processes import free_port
    >>> FakeBackend().model_id, 0 < free_port() < 65536
    ('fake', True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "FakeBackend",
    "FakeReasoningBackend",
    "FakeToolCallingModel",
    "AggregationOracle",
    "NoisyOracle",
    "ThinkingOracle",
    "stable_uniform",
]

if TYPE_CHECKING:
    from langgraph_ttc.testing.fakes import (
        AggregationOracle,
        FakeBackend,
        FakeReasoningBackend,
        FakeToolCallingModel,
        NoisyOracle,
        ThinkingOracle,
        stable_uniform,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("langgraph_ttc.testing.fakes"), name)
    raise AttributeError(f"module 'langgraph_ttc.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
