"""Snapshots of each strategy's graph drawing: a topology change must be deliberate.

Refresh with ``TTC_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_topology.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from langgraph_ttc import STRATEGIES, create_ttc_graph
from langgraph_ttc.strategies import strategy_names
from langgraph_ttc.testing import FakeBackend
from langgraph_ttc.verifiers import ProgrammaticVerifier

SNAPSHOTS = Path(__file__).parent / "snapshots"
CASES = [(name, False) for name in strategy_names()] + [("revise", True), ("adaptive", True)]


@pytest.mark.parametrize(
    "strategy,with_verifier", CASES, ids=[f"{n}{'+verifier' if v else ''}" for n, v in CASES]
)
def test_graph_drawing_matches_snapshot(strategy, with_verifier):
    needs = STRATEGIES[strategy].needs_verifier
    verifier = ProgrammaticVerifier(lambda q, t: 1.0) if (with_verifier or needs) else None
    backend = FakeBackend(confidence=lambda messages, seed, text: 0.8)  # reports log-probs
    drawing = create_ttc_graph(backend, strategy, verifier=verifier).get_graph().draw_mermaid()
    path = SNAPSHOTS / f"{strategy}{'_verifier' if with_verifier else ''}.mmd"
    if os.environ.get("TTC_UPDATE_SNAPSHOTS"):
        path.write_text(drawing)
    assert drawing == path.read_text()
