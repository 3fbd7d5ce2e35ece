"""The package's lazy export table and its TYPE_CHECKING mirror name the same things."""

from __future__ import annotations

import importlib

import langgraph_ttc
from langgraph_ttc._mirror import PACKAGE_INIT, mirror_block, mirror_of


def test_the_type_checking_mirror_equals_the_export_table():
    """Regenerate with ``python -m langgraph_ttc._mirror`` after editing ``_EXPORTS``."""
    source = PACKAGE_INIT.read_text()
    assert mirror_of(source) == langgraph_ttc._EXPORTS
    assert mirror_block(langgraph_ttc._EXPORTS) in source


def test_every_exported_name_resolves_from_its_module():
    for name, module in {**langgraph_ttc._EXPORTS, **langgraph_ttc._ELSEWHERE}.items():
        assert getattr(langgraph_ttc, name) is getattr(importlib.import_module(module), name)
    # About 30 names are advertised; the others still resolve for code written before.
    assert len(langgraph_ttc.__all__) <= 40 and "Plan" not in langgraph_ttc.__all__
    assert langgraph_ttc.Plan is importlib.import_module("langgraph_ttc.plan").Plan


def test_one_options_object_for_every_way_in():
    """create_ttc_graph (compiled or not), TTCChatModel and as_runnable take the same options."""
    import inspect

    import pytest

    from langgraph_ttc.errors import TTCConfigError
    from langgraph_ttc.graph import GraphOptions, create_ttc_graph
    from langgraph_ttc.runnable import TTCChatModel, as_runnable
    from langgraph_ttc.testing import FakeBackend

    names = set(GraphOptions.names())
    assert names <= set(inspect.signature(create_ttc_graph).parameters)
    assert names <= set(TTCChatModel.model_fields)
    chat = TTCChatModel(model=FakeBackend(), strategy="majority", n=2, keep_thinking=True)
    assert chat.invoke("What is 2+2?").type == "ai"
    with pytest.raises(TTCConfigError, match="Unknown graph option"):
        as_runnable(FakeBackend(), "majority", nn=2)
    builder = create_ttc_graph(FakeBackend(), "genselect", n=4, compile=False)
    assert "select" in builder.nodes
    assert not hasattr(langgraph_ttc, "build_ttc_graph")  # one way: create_ttc_graph(compile=False)
