"""Moved: the search loop's nodes are :mod:`langgraph_ttc.nodes.search` (the node layer);
this name keeps old imports working."""

from langgraph_ttc.nodes.search import *  # noqa: F403
from langgraph_ttc.nodes.search import __all__  # noqa: F401
