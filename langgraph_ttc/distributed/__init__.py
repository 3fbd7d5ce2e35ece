"""Beyond one machine, on Ray (the ``ray`` extra: ``pip install 'langgraph-ttc[ray]'``).

- :func:`build_pool_on_ray`: sample pools drawn by an actor pool over a Ray Dataset of
  questions, with the embedded model, OpenAI-compatible servers (:class:`Endpoints`, e.g.
  vLLM replicas) or any backend recipe; the pool is the one ``build_pool`` writes.
- :func:`build_pool_on_vllm`: the same pool drawn by vLLM engines inside Ray Data
  (``ray.data.llm``), for offline batches on GPU nodes.
- :func:`ttc_app`: the OpenAI-compatible server (:func:`langgraph_ttc.serve.create_app`) as
  Ray Serve replicas, each with its own upstream backend (``examples/ray_serve.yaml``).

Ray is imported where it is used, never at ``import langgraph_ttc.distributed``.

Example:
    >>> from langgraph_ttc.distributed import Endpoints
    >>> Endpoints(("http://127.0.0.1:8000/v1",), "m").model_id
    'm'
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Endpoints",
    "TTCServer",
    "VLLMEngine",
    "app_builder",
    "build_pool_on_ray",
    "build_pool_on_vllm",
    "deployment_options",
    "land_shard",
    "ttc_app",
]

_WHERE = {
    "Endpoints": "langgraph_ttc.distributed.recipes",
    "build_pool_on_ray": "langgraph_ttc.distributed.ray_pool",
    "land_shard": "langgraph_ttc.distributed.ray_pool",
    "VLLMEngine": "langgraph_ttc.distributed.vllm",
    "build_pool_on_vllm": "langgraph_ttc.distributed.vllm",
    "TTCServer": "langgraph_ttc.distributed.replicas",
    "app_builder": "langgraph_ttc.distributed.replicas",
    "deployment_options": "langgraph_ttc.distributed.replicas",
    "ttc_app": "langgraph_ttc.distributed.replicas",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
