"""An app served by uvicorn on 127.0.0.1 from a background thread: for tests, benchmarks and
notebooks. Started on a free port, stopped (connections closed, lifespan shut down) on exit,
even when the block raises.

Example:
    >>> import json, urllib.request
    >>> from langgraph_ttc.testing import FakeBackend
    >>> from langgraph_ttc.serve import create_app
    >>> with BackgroundServer(create_app(FakeBackend(), api_keys=[])) as server:
    ...     json.load(urllib.request.urlopen(server.url + "/health"))["status"]
    'ok'
"""

from __future__ import annotations

import threading
import time

from langgraph_ttc.extras import require
from langgraph_ttc.testing.processes import free_port

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """Serve ``app`` with uvicorn on ``127.0.0.1:port`` (a free port by default).

    Attributes:
        url: ``http://127.0.0.1:<port>``; ``base_url`` adds ``/v1`` (what OpenAI clients take).
    """

    def __init__(self, app, *, port: int | None = None, start_timeout_s: float = 30.0) -> None:
        uvicorn = require("uvicorn", "serve", "BackgroundServer")
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.start_timeout_s = start_timeout_s

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        if self._thread.is_alive():  # a stuck connection: stop waiting for it
            self._server.force_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
