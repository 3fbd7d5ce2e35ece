"""Importing Ray lazily (the ``ray`` extra) and joining or starting a Ray session."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import ModuleType

from langgraph_ttc.extras import require

logger = logging.getLogger(__name__)


def ray_module(feature: str) -> ModuleType:
    """``import ray``, or :class:`~langgraph_ttc.extras.MissingExtra` naming the extra."""
    require("ray.data", "ray", feature)  # Ray Data comes with ray[data] only
    return require("ray", "ray", feature)


@contextlib.contextmanager
def ray_session(address: str | None, feature: str, **init_options) -> Iterator[ModuleType]:
    """Use the Ray session this process already has, or join the cluster at ``address``
    (``"auto"``: the one started by ``ray start`` on this machine; ``None``: ``$RAY_ADDRESS``,
    else a new local one). A session started here is shut down on the way out."""
    ray = ray_module(feature)
    if ray.is_initialized():
        yield ray
        return
    ray.init(address=address, **init_options)
    logger.info("ray: %s", ray.get_runtime_context().gcs_address)
    try:
        yield ray
    finally:
        ray.shutdown()
