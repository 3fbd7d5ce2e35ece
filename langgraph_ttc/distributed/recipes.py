"""How each Ray worker makes its own model backend: a backend holds sockets, locks or a loaded
model, none of which travels between processes, so a worker is handed a *recipe* instead.

A recipe is what :func:`~langgraph_ttc.distributed.build_pool_on_ray` accepts as ``backend``:

- ``"local"``: the embedded Gemma 3 270M, loaded once in every worker (CPU nodes);
- :class:`Endpoints`: one or more OpenAI-compatible servers (vLLM replicas) serving one model;
  every worker talks to all of them and sends each question to one of them, chosen by a stable
  hash of the question's id, so the replicas share the load and a question's samples (and its
  critiques) meet their prompt in one server's prefix cache;
- a zero-argument callable returning a :class:`~langgraph_ttc.backends.Backend`, called in
  every worker;
- a :class:`~langgraph_ttc.backends.Backend` instance that pickles (e.g. the fakes of
  :mod:`langgraph_ttc.testing`), copied to every worker.

Example:
    >>> recipe = Endpoints(("http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"), "qwen3")
    >>> recipe.route("q7") == recipe.route("q7"), recipe.model_id
    (True, 'qwen3')
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph_ttc.backends import AUTO_MODEL, Backend, OpenAICompatibleBackend, resolve_backend
from langgraph_ttc.errors import TTCConfigError

__all__ = ["Endpoints", "Recipe", "as_recipe"]

LOCAL = "local"


def _stable_index(key: str, n: int) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


@dataclass(frozen=True)
class Endpoints:
    """OpenAI-compatible servers (e.g. vLLM replicas) that serve the same model.

    Args:
        urls: base URLs, e.g. ``("http://gpu1:8000/v1", "http://gpu2:8000/v1")``.
        model: the served model's name (the same on every server; ``"auto"`` is refused: a
            pool records one model id, fixed before any worker starts).
        options: passed to :class:`~langgraph_ttc.backends.OpenAICompatibleBackend`
            (``mode=``, ``reasoning=``, ``max_concurrency=``...).

    Example:
        >>> Endpoints.parse("http://a:8000/v1, http://b:8000/v1", "m").urls
        ('http://a:8000/v1', 'http://b:8000/v1')
    """

    urls: tuple[str, ...]
    model: str
    options: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        urls = tuple(u.strip() for u in self.urls if u and u.strip())
        if not urls:
            raise TTCConfigError("Endpoints needs at least one base URL, e.g. http://host:8000/v1.")
        if len(set(urls)) != len(urls):
            raise TTCConfigError(f"Endpoints lists a URL twice: {list(urls)}.")
        if not self.model or self.model in (AUTO_MODEL, LOCAL):
            raise TTCConfigError(
                f"Endpoints needs the served model's name (got {self.model!r}): pass --model NAME, "
                "the name the servers list at /v1/models."
            )
        object.__setattr__(self, "urls", urls)

    @classmethod
    def parse(cls, urls: str | Sequence[str], model: str, **options: Any) -> Endpoints:
        """From a comma-separated string (``--base-url a,b``) or a list of URLs."""
        if isinstance(urls, str):
            urls = urls.split(",")
        return cls(tuple(urls), model, dict(options))

    @property
    def model_id(self) -> str:
        return self.model

    def route(self, problem_id: str) -> int:
        """The index of the server that draws every sample of ``problem_id``."""
        return _stable_index(problem_id, len(self.urls))

    def make(self) -> list[Backend]:
        """One backend per server (called in the worker)."""
        return [OpenAICompatibleBackend(url, self.model, **self.options) for url in self.urls]


class Recipe:
    """What a worker builds from: the backends it draws with and which one serves a question.

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> recipe, _ = as_recipe(FakeBackend())
        >>> recipe.model_id, len(recipe.make())
        ('fake', 1)
    """

    def __init__(self, make: Callable[[], list[Backend]], model_id: str, route=None) -> None:
        self._make, self.model_id = make, model_id
        self._route = route

    def make(self) -> list[Backend]:
        return self._make()

    def route(self, problem_id: str) -> int:
        return 0 if self._route is None else self._route(problem_id)


def _local() -> list[Backend]:
    from langgraph_ttc.backends.embedded import EmbeddedBackend

    return [EmbeddedBackend.default()]


def _copies(blob: bytes) -> Callable[[], list[Backend]]:
    return lambda: [pickle.loads(blob)]


def _called(factory: Callable[[], Backend]) -> Callable[[], list[Backend]]:
    return lambda: [_checked(factory())]


def _checked(backend: Any) -> Backend:
    if not isinstance(backend, Backend):
        raise TTCConfigError(
            f"The backend factory returned {type(backend).__name__}, not a Backend; return "
            "resolve_backend(...) or a Backend instance."
        )
    return backend


def as_recipe(backend: Any) -> tuple[Recipe, Backend]:
    """The recipe for ``backend``, and a backend made on the driver for what the pool records
    (its model id, whether it gives log-probabilities). Nothing is loaded or connected here.

    Raises:
        TTCConfigError: the backend cannot reach the workers; the message says what to pass.

    Example:
        >>> recipe, probe = as_recipe("local")
        >>> recipe.model_id == probe.model_id
        True
    """
    if isinstance(backend, Endpoints):
        return Recipe(backend.make, backend.model_id, backend.route), backend.make()[0]
    if isinstance(backend, str) and backend.strip() == LOCAL:
        probe = resolve_backend(LOCAL)  # lazy: the model file is not even opened
        return Recipe(_local, probe.model_id), probe
    if isinstance(backend, Backend):
        try:
            blob = pickle.dumps(backend)
        except Exception as exc:
            raise TTCConfigError(
                f"{type(backend).__name__} cannot be sent to Ray workers ({exc}); pass a recipe "
                "instead: 'local', Endpoints([...urls], model) or a function returning the "
                "backend (called in each worker)."
            ) from None
        return Recipe(_copies(blob), backend.model_id), backend
    if callable(backend):
        probe = _checked(backend())
        return Recipe(_called(backend), probe.model_id), probe
    raise TTCConfigError(
        f"Cannot build a pool on Ray from {type(backend).__name__}; pass 'local', "
        "Endpoints([...urls], model), a function returning a Backend, or a picklable Backend."
    )
