"""Run untrusted generated code (e.g. HumanEval solutions) in a contained child process.

What the sandbox does:

* runs ``sys.executable -I`` (isolated mode: no user site, no ``PYTHON*`` variables) in a new
  session, with a private temporary directory as working directory and ``HOME``/``TMPDIR``,
  deleted afterwards, and a minimal environment (no API keys or other secrets);
* applies resource limits before the interpreter starts: CPU seconds (``RLIMIT_CPU``), address
  space (``RLIMIT_AS``), file size (``RLIMIT_FSIZE``, which also bounds captured output, since
  stdout/stderr go to files) and, for non-root users, process count (``RLIMIT_NPROC``);
* kills the whole process group (``os.killpg``) on the wall-clock timeout and after every run;
* when the ``unshare`` tool works here (Linux, root or unprivileged user namespaces), runs the
  code in new network and PID namespaces: no network interface but a down loopback, and every
  process the code starts dies with it even if it calls ``setsid``;
* runs the code under an intermediate ``/bin/sh``, so ``os.getppid()`` is that shell, never the
  caller (and in a PID namespace the shell is PID 1, which ignores signals from inside);
* before the user code runs, a small prelude makes socket creation and Python-level process
  creation (``os.fork``, ``subprocess``, ``os.system``, ``os.exec*``...) raise ``PermissionError``.

What it does NOT protect against (it is not a security boundary like a VM or gVisor):

* code that undoes the prelude in-process, e.g. via ``ctypes`` (calling libc ``fork``/``socket``
  directly) or by reaching the original classes through ``socket.socket.__mro__``. Without a
  network namespace such code has the network; a ``ctypes`` fork bomb is only bounded by the
  timeout and, for non-root users, ``RLIMIT_NPROC`` (no cgroup ``pids.max`` is set up);
* signals to the caller by process id: the code is not our child, but without a PID namespace
  code that learns our pid can signal us (same user);
* root: ``RLIMIT_NPROC`` is not enforced for root (the kernel exempts it), and root can raise its
  own hard limits. Run the library as an unprivileged user where you can;
* the file system: the working directory is private, but the code runs as the calling user and
  can read or write anything that user can (files are bounded in size by ``RLIMIT_FSIZE``);
* kernel exploits, side channels, and exhausting shared resources within the limits.

POSIX only (``resource``, ``/bin/sh``). Limits are set in ``preexec_fn``, which only calls
``setrlimit`` (no imports or locks between fork and exec), so concurrent runs from several
threads are fine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["SandboxResult", "run_untrusted"]

FILE_SIZE_LIMIT_MB = 16  # Largest file (and captured stdout/stderr) the code may write.
NPROC_HEADROOM = 32  # Extra processes allowed to a non-root user above what it runs already.
DEFAULT_MAX_OUTPUT_CHARS = 10_000
_KILL_GRACE_S = 2.0

# Runs in the child before the user's code. Patches are in-process only (see module docstring).
_PRELUDE = r"""
import os as _os, socket as _socket_mod, _socket

def _ttc_deny(*_args, **_kwargs):
    raise PermissionError("blocked by the langgraph-ttc sandbox: no network or new processes")

class _TTCNoSocket(_socket_mod.socket):
    def __init__(self, *_args, **_kwargs):
        _ttc_deny()

_socket_mod.socket = _socket_mod.SocketType = _TTCNoSocket
_socket.socket = _socket.SocketType = _TTCNoSocket
for _name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
    for _mod in (_socket_mod, _socket):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _ttc_deny)
for _name in ("fork", "forkpty", "vfork", "system", "popen", "posix_spawn", "posix_spawnp",
              "execv", "execve", "execl", "execle", "execlp", "execlpe", "execvp", "execvpe",
              "spawnv", "spawnve", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnvp",
              "spawnvpe", "fexecve"):
    if hasattr(_os, _name):
        setattr(_os, _name, _ttc_deny)
try:
    import _posixsubprocess
    _posixsubprocess.fork_exec = _ttc_deny
except ImportError:
    pass
del _os, _socket_mod, _socket, _name, _mod

import sys as _sys
_ttc_path = _sys.argv[1]
_sys.argv = [_ttc_path]
with open(_ttc_path, encoding="utf-8") as _f:
    _ttc_code = compile(_f.read(), _ttc_path, "exec")
del _f, _sys
exec(_ttc_code, {"__name__": "__main__", "__file__": _ttc_path, "__builtins__": __builtins__})
"""


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one sandboxed run.

    Attributes:
        passed: the code ran to completion with exit code 0 within its limits.
        returncode: the exit code: negative for a signal that killed the sandbox itself (``-9``
            on timeout), ``128 + signal`` when a limit killed the code (``152``: CPU limit).
        stdout: captured standard output, truncated.
        stderr: captured standard error, truncated.
        timed_out: the wall-clock timeout was hit and the process group was killed.
        reason: a short human-readable cause ("ok", "timeout", "MemoryError", ...).

    Example:
        >>> SandboxResult(True, 0, "", "", False, "ok").passed
        True
    """

    passed: bool
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    reason: str


def run_untrusted(
    code: str,
    *,
    timeout_s: float = 10,
    cpu_s: int = 5,
    memory_mb: int = 512,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> SandboxResult:
    """Run Python ``code`` in a contained child process and report how it went.

    Args:
        code: Python source; it passes if it exits with status 0 (e.g. no failing ``assert``).
        timeout_s: wall-clock limit; the whole process group is killed when it is reached.
        cpu_s: CPU-time limit of each process (``RLIMIT_CPU``).
        memory_mb: address-space limit of each process (``RLIMIT_AS``).
        max_output_chars: stdout and stderr are each cut to this many characters.

    Example:
        >>> run_untrusted("assert 1 + 1 == 2").passed
        True
        >>> run_untrusted("assert 1 + 1 == 3").reason
        'AssertionError'
    """
    workdir = tempfile.mkdtemp(prefix="ttc-sandbox-")
    try:
        return _run_in(workdir, code, timeout_s, cpu_s, memory_mb, max_output_chars)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in(
    workdir: str, code: str, timeout_s: float, cpu_s: int, memory_mb: int, max_chars: int
) -> SandboxResult:
    solution = os.path.join(workdir, "solution.py")
    prelude = os.path.join(workdir, "_ttc_prelude.py")
    with open(solution, "w", encoding="utf-8") as f:
        f.write(code)
    with open(prelude, "w", encoding="utf-8") as f:
        f.write(_PRELUDE)
    python = [sys.executable, "-I", prelude, solution]
    # The code's parent is an intermediate shell (no exec: "; exit $?"), never us. In a PID
    # namespace that shell is PID 1, which ignores signals sent from inside; the code itself is
    # not PID 1, so kernel signals (SIGXCPU at the CPU limit) still kill it.
    argv = [*_namespace_prefix(), "/bin/sh", "-c", '"$@"; exit $?', "sh", *python]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    nproc = _nproc_limit()
    started = time.monotonic()
    with (
        open(os.path.join(workdir, "stdout.txt"), "wb+") as out,
        open(os.path.join(workdir, "stderr.txt"), "wb+") as err,
    ):
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_limits(cpu_s, memory_mb, nproc),  # only setrlimit: fork-safe
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc)
        stdout, stderr = _read(out, max_chars), _read(err, max_chars)
    elapsed = time.monotonic() - started
    returncode = proc.returncode
    reason = _reason(returncode, stderr, timed_out)
    logger.debug("sandbox run: %s (rc=%s, %.2fs)", reason, returncode, elapsed)
    return SandboxResult(
        passed=returncode == 0 and not timed_out,
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        timed_out=timed_out,
        reason=reason,
    )


def _limits(cpu_s: int, memory_mb: int, nproc: int | None):
    """The preexec function: resource limits set in the child between fork and exec."""

    if resource is None:  # pragma: no cover - not POSIX
        raise OSError("run_untrusted needs a POSIX system (the resource module)")

    def apply() -> None:
        # Runs in the forked child: no imports or locks here, only setrlimit.
        cpu = max(int(cpu_s), 1)
        memory = int(memory_mb) * 1024 * 1024
        size = FILE_SIZE_LIMIT_MB * 1024 * 1024
        limits = [
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, (memory, memory)),
            (resource.RLIMIT_FSIZE, (size, size)),
            (resource.RLIMIT_CORE, (0, 0)),
        ]
        if nproc is not None:
            limits.append((resource.RLIMIT_NPROC, (nproc, nproc)))
        for which, value in limits:
            # Some platforms refuse some limits (macOS: RLIMIT_AS); the others still apply.
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, value)

    return apply


def _nproc_limit() -> int | None:
    """RLIMIT_NPROC for the child, or None when it would not be enforced (root) or is unknowable.

    The limit counts ALL processes of the user, so it is set above what the user runs now.
    """
    if os.geteuid() == 0:
        return None  # The kernel does not enforce RLIMIT_NPROC for root.
    uid = os.getuid()
    try:
        running = sum(1 for pid in os.listdir("/proc") if pid.isdigit() and _owner(pid) == uid)
    except OSError:
        return None
    return running + NPROC_HEADROOM


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child's whole process group (also after a normal exit: stray children)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not take this long
        logger.warning("sandbox process %s did not die after SIGKILL", proc.pid)


def _read(handle, max_chars: int) -> str:
    handle.flush()
    handle.seek(0)
    data = handle.read(4 * max_chars + 4).decode("utf-8", errors="replace")
    if len(data) > max_chars:
        return data[:max_chars] + "\n...[truncated]"
    return data


def _reason(returncode: int | None, stderr: str, timed_out: bool) -> str:
    if timed_out:
        return "timeout"
    if returncode == 0:
        return "ok"
    sig = None
    if returncode is not None and returncode < 0:
        sig = -returncode
    elif returncode is not None and returncode > 128 and (returncode - 128) in _SIGNALS:
        sig = returncode - 128  # the intermediate shell reports a signal as 128 + its number
    if sig is not None:
        names = {
            signal.SIGXCPU: "CPU time limit",
            signal.SIGXFSZ: "file size limit",
            signal.SIGKILL: "killed",
        }
        return names.get(sig, f"signal {signal.Signals(sig).name}")
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    name = last.split(":", 1)[0].strip()
    if name.isidentifier() and (
        name.endswith(("Error", "Exception")) or name == "KeyboardInterrupt"
    ):
        return name
    return f"exit code {returncode}"


_SIGNALS = {int(s) for s in signal.Signals}


@lru_cache(maxsize=1)
def _namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that gives new network + PID namespaces here, or ``()``.

    Probed once per process: as root directly, otherwise inside a new user namespace.
    """
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    base = ("--net", "--pid", "--fork", "--mount-proc")
    candidates = [
        (unshare, *user, *base, *kill)
        for user in ((), ("--user", "--map-root-user"))
        for kill in (("--kill-child",), ())  # --kill-child needs util-linux >= 2.32
    ]
    for prefix in candidates:
        try:
            probe = subprocess.run(
                [*prefix, "true"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            logger.debug("sandbox isolation: %s", " ".join(prefix))
            return prefix
    logger.info(
        "sandbox: `unshare` cannot create namespaces here; running untrusted code without "
        "network/PID namespaces (in-process socket and fork blocks still apply)"
    )
    return ()
