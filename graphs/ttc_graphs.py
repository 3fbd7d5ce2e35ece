"""One compiled test-time-compute graph per strategy, for ``langgraph dev`` (see langgraph.json).

Serve them with the in-memory LangGraph server, from the repository root (or run plain
``langgraph dev`` inside ``graphs/``)::

    langgraph dev --config graphs/langgraph.json --no-browser

and call one with ``langgraph_sdk``::

    from langgraph_sdk import get_sync_client

    client = get_sync_client(url="http://127.0.0.1:2024")
    out = client.runs.wait(None, "majority", input={"question": "What is 2 + 3?"})
    print(out["ttc_result"]["answer"])

Configuration, read from the environment once, when this module is imported:

* ``TTC_MODEL`` / ``TTC_BASE_URL``: the model (see :func:`langgraph_ttc.resolve_backend`).
  Unset: the embedded Gemma 3 270M, run in the server process.
* ``TTC_N`` (default 4): samples per question for ``majority`` and the best-of-N graphs, and the
  call budget for ``filter_vote`` (N/2 samples + N/2 critiques) and ``adaptive``; ``revise`` runs
  ``isqrt(N)`` chains of ``N // isqrt(N)`` attempts. The best-of-N graphs add one LLM-judge call
  per sample (2N calls in all).
* ``TTC_MAX_TOKENS`` (default: the strategy's, 256): the length cap of every model call.

All graphs share one backend. The embedded model loads on the first request (about 2 s, once
per process).
"""

from __future__ import annotations

import math
import os
import warnings

from langgraph_ttc import LLMJudge, create_ttc_graph, get_strategy, resolve_backend
from langgraph_ttc.errors import TTCConfigError

DEFAULT_N = 4

# The server passes a durability mode with every run, and a stateless run (thread None, as in
# the README) has no checkpointer to apply it to: langgraph then warns on every such run about
# something neither the caller nor these graphs can act on. Only that one message is silenced.
warnings.filterwarnings(
    "ignore",
    message="`durability` has no effect when no checkpointer is present",
    category=UserWarning,
)


def env_int(name: str, default: int | None) -> int | None:
    """A positive integer from the environment variable ``name`` (``default`` when unset).

    Example:
        >>> env_int("TTC_SURELY_UNSET", 4)
        4
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise TTCConfigError(f"{name} must be a positive integer; got {raw!r}. Unset it or fix it.")
    return value


def make_graph(strategy: str, *, model=None, n: int | None = None, max_tokens: int | None = None):
    """The compiled graph for ``strategy`` as this module configures it from the environment.

    Args:
        strategy: a registry name: ``majority``, ``filter_vote``, ``best_of_n``,
            ``weighted_best_of_n``, ``revise`` or ``adaptive``.
        model: a model or backend; default ``$TTC_MODEL`` / ``$TTC_BASE_URL``, else embedded.
        n: default ``$TTC_N``, else 4.
        max_tokens: default ``$TTC_MAX_TOKENS``, else the strategy's default.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> make_graph("revise", model=FakeBackend(), n=4).name
        'ttc_revise'
    """
    backend = resolve_backend(model)
    n = n or env_int("TTC_N", DEFAULT_N)
    max_tokens = max_tokens or env_int("TTC_MAX_TOKENS", None)
    verifier = None
    if strategy == "revise":
        width = max(1, math.isqrt(n))
        config = get_strategy(
            strategy, width=width, depth=max(1, n // width), max_tokens=max_tokens
        )
    elif strategy == "adaptive":  # half the budget (at most 4 calls) probes the difficulty
        config = get_strategy(strategy, n=n, probes=min(4, max(1, n // 2)), max_tokens=max_tokens)
    else:
        config = get_strategy(strategy, n=n, max_tokens=max_tokens)
    if config.needs_verifier:
        verifier = LLMJudge(max_tokens=max_tokens or 256)
    return create_ttc_graph(backend, config, verifier=verifier)


_backend = resolve_backend(None)  # resolved once; every graph below shares it

majority = make_graph("majority", model=_backend)
filter_vote = make_graph("filter_vote", model=_backend)
best_of_n = make_graph("best_of_n", model=_backend)
weighted_best_of_n = make_graph("weighted_best_of_n", model=_backend)
revise = make_graph("revise", model=_backend)
adaptive = make_graph("adaptive", model=_backend)
