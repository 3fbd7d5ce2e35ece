"""Process helpers for servers that tests and benchmarks start: a free port, a child that dies
with its parent, stopping a process group, and the tail of a log for failure messages.

Example:
    >>> port = free_port()
    >>> 1024 <= port < 65536
    True
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess

__all__ = ["die_with_parent", "free_port", "log_tail", "stop_process_group"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for servers that tests start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """``preexec_fn`` for a child server: the kernel sends it SIGTERM when the process that
    started it dies, even by a signal that skips teardown and atexit (Linux; elsewhere a no-op).
    """
    try:
        import ctypes  # standard library; imported in the child only

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_process_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a server started with ``start_new_session=True``: SIGTERM to its process group,
    SIGKILL after ``grace_s``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)


def log_tail(path: str, lines: int = 40) -> str:
    """The last ``lines`` lines of a server log, for failure messages."""
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return "(no log)"
