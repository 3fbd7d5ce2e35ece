"""``langgraph-ttc serve``: test-time compute behind an OpenAI-compatible endpoint.

Any OpenAI client, in any language, gets a method by naming it in the model
(``majority@8/<model>``), in ``extra_body={"ttc": {...}}`` or in ``X-TTC-*`` headers; a plain
model name passes straight through. Modules, one concept each:

* :mod:`~langgraph_ttc.serve.app`: ``create_app``, the Starlette app and its endpoints;
* :mod:`~langgraph_ttc.serve.methods`: method naming and which way of naming wins;
* :mod:`~langgraph_ttc.serve.requests`: request bodies checked (and what ``n`` means);
* :mod:`~langgraph_ttc.serve.engine`: graphs per method, one run tree per request, cancelling;
* :mod:`~langgraph_ttc.serve.batching`: a list prompt under a batch budget, one batch;
* :mod:`~langgraph_ttc.serve.replies` and :mod:`~langgraph_ttc.serve.streaming`: OpenAI's
  reply and chunk shapes, ``usage`` and the ``ttc`` extension;
* :mod:`~langgraph_ttc.serve.passthrough`: plain calls relayed to the upstream;
* :mod:`~langgraph_ttc.serve.limits`, :mod:`~langgraph_ttc.serve.metrics`,
  :mod:`~langgraph_ttc.serve.errors`: caps, API keys, admission, Prometheus, error JSON.

Needs ``pip install 'langgraph-ttc[serve]'``; ``create_app`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_ttc.serve.limits import Limits
from langgraph_ttc.serve.methods import Method, resolve_method

if TYPE_CHECKING:
    from langgraph_ttc.serve.app import create_app

__all__ = ["Limits", "Method", "create_app", "resolve_method"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from langgraph_ttc.serve.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
