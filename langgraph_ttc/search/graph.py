"""Moved: the search graph is :mod:`langgraph_ttc.search_graph` (the graph layer); this name
keeps old imports working."""

from langgraph_ttc.search_graph import *  # noqa: F403
from langgraph_ttc.search_graph import __all__  # noqa: F401
