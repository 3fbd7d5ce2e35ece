"""Where methods come from: the built-in ones, installed packages' entry points, and a user's
own module or file.

A method registers itself when its module is imported (:func:`register_strategy
<langgraph_ttc.strategies.register_strategy>`, :func:`register_aggregator
<langgraph_ttc.aggregators.register_aggregator>`, :func:`register_stage
<langgraph_ttc.nodes.stages.register_stage>`). The registries call :func:`load_methods` when a
name is not found, so ``create_ttc_graph(model, "rsa")`` works without importing anything
first, and so does a method a package declares under the ``langgraph_ttc.methods`` entry point
group::

    [project.entry-points."langgraph_ttc.methods"]
    my_vote = "my_package.my_vote"

``langgraph-ttc --plugin my_package.my_vote`` (or ``--plugin path/to/my_vote.py``) loads a
module that is not installed. Imports happen here, on demand, by design: the method modules sit
above the node layer, while the registries they fill sit below it.

Example:
    >>> load_methods()  # the built-in methods (GenSelect, RSA, particle filtering)
    >>> from langgraph_ttc.strategies import STRATEGIES
    >>> {"genselect", "rsa", "particle_filter"} <= set(STRATEGIES)
    True
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from langgraph_ttc.errors import TTCConfigError

__all__ = ["ENTRY_POINT_GROUP", "load_methods", "load_plugin"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "langgraph_ttc.methods"
BUILT_IN = "langgraph_ttc.methods"

_lock = threading.RLock()
_loaded = False
_loading = False


def load_methods() -> None:
    """Import the built-in methods and every ``langgraph_ttc.methods`` entry point, once.

    A plugin that fails to import is logged and skipped (one broken package must not break
    every run); the built-ins must import.
    """
    global _loaded, _loading
    if _loaded:
        return
    with _lock:  # another thread waits here; this thread re-enters while a method imports
        if _loaded or _loading:
            return
        _loading = True
        try:
            importlib.import_module(BUILT_IN)
            for point in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    point.load()
                except Exception as exc:  # a broken plugin is reported, not fatal
                    logger.warning("langgraph-ttc plugin %s failed to load: %s", point.value, exc)
            _loaded = True
        finally:
            _loading = False


def load_plugin(spec: str) -> ModuleType:
    """Import a method of one's own: a dotted module name, or a path to a ``.py`` file.

    Example:
        >>> load_plugin("langgraph_ttc.methods.genselect").__name__
        'langgraph_ttc.methods.genselect'
        >>> load_plugin("no_such_module_xyz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: Plugin 'no_such_module_xyz' not found: ...
    """
    load_methods()
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise TTCConfigError(f"Plugin file {spec!r} does not exist.")
        name = f"_ttc_plugin_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise TTCConfigError(f"Plugin file {spec!r} is not a Python module.")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise TTCConfigError(
                f"Plugin {spec!r} not found: pass an importable module (on PYTHONPATH) or a "
                "path to a .py file."
            ) from None
        raise
