"""The OpenAI-compatible endpoint of ``langgraph-ttc serve``, mounted in LangGraph Server.

``langgraph.json`` names this app under ``http.app``, so ``langgraph dev`` (and a LangGraph
Server deployment) serves ``/v1/chat/completions``, ``/v1/completions``, ``/v1/models`` and
``/metrics`` beside its own routes (``/runs``, ``/threads``, ...)::

    langgraph dev --config graphs/langgraph.json --no-browser
    # then any OpenAI client: base_url="http://127.0.0.1:2024/v1", model="majority@4"

Configuration, from the environment when this module is imported:

* ``TTC_BASE_URL`` / ``TTC_MODEL``: the upstream (unset: the embedded Gemma 3 270M, the same
  process-wide instance the graphs use).
* ``TTC_SERVE_STRATEGY`` / ``TTC_SERVE_N``: the method of requests that name none (unset: a
  plain model name passes straight through).
* ``TTC_SERVE_API_KEYS``: comma-separated keys clients must send (unset: none needed).
"""

from __future__ import annotations

import os

from langgraph_ttc.serve import create_app

app = create_app(
    os.environ.get("TTC_BASE_URL") or "local",
    model=os.environ.get("TTC_MODEL") or None,
    strategy=os.environ.get("TTC_SERVE_STRATEGY") or None,
    n=int(os.environ["TTC_SERVE_N"]) if os.environ.get("TTC_SERVE_N") else None,
)
