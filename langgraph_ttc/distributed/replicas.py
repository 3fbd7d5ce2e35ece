"""The OpenAI-compatible test-time-compute server (:func:`langgraph_ttc.serve.create_app`) as a
Ray Serve deployment: replicas behind Serve's HTTP proxy, scaled by ongoing requests.

Each replica builds its own app (:meth:`TTCServer.__serve_build_asgi_app__`, Serve's late-bound
ingress), so each holds its own upstream backend: its own connections to a vLLM server, or its
own copy of the embedded model. Deploy it with a config file (``examples/ray_serve.yaml``)::

    serve run examples/ray_serve.yaml        # or: serve deploy, on a running cluster

or from Python::

    from ray import serve
    from langgraph_ttc.distributed import ttc_app
    serve.run(ttc_app(backend="http://vllm:8000/v1", strategy="majority", n=8))

Example:
    >>> deployment_options(max_replicas=4)["autoscaling_config"]["target_ongoing_requests"]
    16
"""

from __future__ import annotations

from typing import Any

from langgraph_ttc.distributed._ray import ray_module
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.extras import require

__all__ = ["TTCServer", "app_builder", "deployment_options", "ttc_app"]

FEATURE = "serving on Ray Serve"
DEPLOYMENT = "TTCServer"
# A test-time-compute request holds one slot for all its samples (n calls upstream), so a
# replica takes fewer of them than a plain proxy would; scale out at 16 ongoing per replica.
MAX_ONGOING_REQUESTS = 32
TARGET_ONGOING_REQUESTS = 16


class TTCServer:
    """One replica: the options of :func:`~langgraph_ttc.serve.create_app`, built into the app
    when the replica starts (never pickled as an app: it holds sockets and models).

    Example:
        >>> from langgraph_ttc.testing import FakeBackend
        >>> replica = TTCServer({"backend": FakeBackend(), "strategy": "majority", "n": 3})
        >>> app = replica.__serve_build_asgi_app__()  # what Serve calls in each replica
        >>> app.state.ttc.engine.base.model_id
        'fake'
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)

    def __serve_build_asgi_app__(self):
        from langgraph_ttc.serve import create_app

        return create_app(**self.options)


def deployment_options(
    *,
    num_replicas: int | None = None,
    min_replicas: int = 1,
    max_replicas: int = 4,
    target_ongoing_requests: int = TARGET_ONGOING_REQUESTS,
    max_ongoing_requests: int = MAX_ONGOING_REQUESTS,
    num_cpus: float = 1.0,
) -> dict:
    """``@serve.deployment`` options: a fixed ``num_replicas``, or autoscaling between
    ``min_replicas`` and ``max_replicas`` on ongoing requests per replica.

    Example:
        >>> deployment_options(num_replicas=2)["num_replicas"]
        2
    """
    if num_replicas is not None and num_replicas < 1:
        raise TTCConfigError(f"num_replicas must be >= 1; got {num_replicas}.")
    if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
        raise TTCConfigError(
            f"Autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1; got "
            f"{min_replicas} and {max_replicas}."
        )
    if max_ongoing_requests < 1:
        raise TTCConfigError(f"max_ongoing_requests must be >= 1; got {max_ongoing_requests}.")
    if num_replicas is None and not 0 < target_ongoing_requests <= max_ongoing_requests:
        raise TTCConfigError(
            "target_ongoing_requests must be > 0 and <= max_ongoing_requests; got "
            f"{target_ongoing_requests} and {max_ongoing_requests}."
        )
    options: dict[str, Any] = {
        "name": DEPLOYMENT,
        "max_ongoing_requests": max_ongoing_requests,
        "ray_actor_options": {"num_cpus": num_cpus},
    }
    if num_replicas is not None:
        options["num_replicas"] = num_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": min_replicas,
            "max_replicas": max_replicas,
            "target_ongoing_requests": target_ongoing_requests,
        }
    return options


def ttc_app(deployment: dict | None = None, **app_options: Any):
    """The Serve application: :class:`TTCServer` replicas running ``create_app(**app_options)``.

    Args:
        deployment: ``@serve.deployment`` options (default :func:`deployment_options`()).
        **app_options: passed to :func:`langgraph_ttc.serve.create_app` in every replica
            (``backend``, ``model``, ``strategy``, ``n``, ``limits``, ...).

    Raises:
        MissingExtra: Ray Serve or the serve extra is missing.

    Example:
        >>> app = ttc_app(deployment_options(num_replicas=2), backend="http://127.0.0.1:8000/v1",
        ...               strategy="majority", n=8)  # nothing starts until serve.run(app)
        >>> type(app).__name__
        'Application'
    """
    ray_module(FEATURE)
    serve = require("ray.serve", "ray", FEATURE)
    for module in ("starlette", "uvicorn"):
        require(module, "serve", FEATURE)
    ingress = serve.ingress()(TTCServer)
    options = deployment if deployment is not None else deployment_options()
    return serve.deployment(**options)(ingress).bind(app_options)


def app_builder(args: dict[str, Any]):
    """For ``serve run`` and config files (``import_path:
    langgraph_ttc.distributed.replicas:app_builder``): ``args`` are ``create_app``'s options;
    the config's ``deployments:`` entry for ``TTCServer`` sets replicas and autoscaling.

    Example:
        >>> app_builder({"strategy": "majority", "n": "eight"})
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: n must be an integer; got 'eight'.
    """
    options = dict(args)
    for name in ("n", "budget_calls", "budget_tokens", "thinking_budget"):
        if name in options and options[name] is not None:  # `serve run ... n=8` passes "8"
            try:
                options[name] = int(options[name])
            except (TypeError, ValueError):
                raise TTCConfigError(f"{name} must be an integer; got {options[name]!r}.") from None
    return ttc_app(**options)
