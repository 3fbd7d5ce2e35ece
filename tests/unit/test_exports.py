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
    for name, module in langgraph_ttc._EXPORTS.items():
        assert getattr(langgraph_ttc, name) is getattr(importlib.import_module(module), name)
