"""The sandbox contains what generated code can do by accident (and some of what it can do on
purpose); see the module docstring of langgraph_ttc.tasks.sandbox for what it does not stop.

Every test is bounded: wall-clock timeouts of about a second, and the code that forks bounds
its own children's lifetime, so even a broken sandbox cannot leave work running.
"""

from __future__ import annotations

import contextlib
import os
import socket
import textwrap
import threading
import time

import pytest

from langgraph_ttc.tasks import sandbox
from langgraph_ttc.tasks.sandbox import SandboxResult, run_untrusted

HAS_NAMESPACES = bool(sandbox._namespace_prefix())


@pytest.fixture(params=["namespaces", "plain"])
def isolation(request, monkeypatch):
    """Run a test with network/PID namespaces (when this machine allows) and without."""
    if request.param == "namespaces":
        if not HAS_NAMESPACES:
            pytest.skip("`unshare` cannot create namespaces on this machine")
    else:
        monkeypatch.setattr(sandbox, "_namespace_prefix", lambda: ())
    return request.param


def test_passing_code_passes():
    result = run_untrusted("print(sum(range(5)))\nassert True")
    assert isinstance(result, SandboxResult)
    assert result.passed and result.returncode == 0 and not result.timed_out
    assert result.stdout == "10\n" and result.reason == "ok"


def test_failing_assert_fails():
    result = run_untrusted("def f():\n    return 1\nassert f() == 2, 'wrong'")
    assert not result.passed and not result.timed_out
    assert result.reason == "AssertionError"
    assert "AssertionError: wrong" in result.stderr


def test_syntax_error_and_exit_code_fail():
    assert run_untrusted("def (").reason == "SyntaxError"
    result = run_untrusted("raise SystemExit(3)")
    assert not result.passed and result.returncode == 3


def test_infinite_loop_times_out_and_is_killed(isolation):
    started = time.monotonic()
    result = run_untrusted("while True:\n    pass", timeout_s=0.5, cpu_s=30)
    assert time.monotonic() - started < 4
    assert result.timed_out and not result.passed and result.reason == "timeout"


def test_cpu_limit_kills_busy_code():
    code = "import time\nt = time.time()\nwhile time.time() - t < 20:\n    pass"
    started = time.monotonic()
    result = run_untrusted(code, timeout_s=10, cpu_s=1)
    assert time.monotonic() - started < 6
    assert not result.passed and not result.timed_out
    assert result.reason == "CPU time limit"


def test_memory_bomb_is_contained():
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))"
    started = time.monotonic()
    result = run_untrusted(code, memory_mb=256, timeout_s=10)
    assert time.monotonic() - started < 5
    assert not result.passed and result.reason == "MemoryError"


def test_fork_bomb_is_blocked():
    result = run_untrusted("import os\nwhile True:\n    os.fork()", timeout_s=2)
    assert not result.passed and not result.timed_out
    assert result.reason == "PermissionError"
    for code in (
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('true')",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    ):
        assert run_untrusted(code, timeout_s=5).reason == "PermissionError", code


def test_processes_forked_behind_the_prelude_die_with_the_sandbox(isolation, tmp_path):
    """ctypes bypasses the in-process fork block; the process group / PID namespace still ends
    every child when the run times out. Children stop by themselves after 8 s, so a failure
    here cannot leave anything running for long."""
    beat = tmp_path / "heartbeat"
    code = textwrap.dedent(
        f"""
        import ctypes, time
        libc = ctypes.CDLL(None)
        for _ in range(3):
            if libc.fork() == 0:
                end = time.time() + 8
                while time.time() < end:
                    with open({str(beat)!r}, "a") as f:
                        f.write(".")
                    time.sleep(0.05)
                raise SystemExit(0)
        time.sleep(30)
        """
    )
    result = run_untrusted(code, timeout_s=1)
    assert result.timed_out
    time.sleep(0.3)
    size = beat.stat().st_size
    assert size > 0  # the children did run
    time.sleep(0.5)
    assert beat.stat().st_size == size  # ... and are gone


def test_socket_creation_fails():
    for code in (
        "import socket\nsocket.socket()",
        "import socket\nsocket.create_connection(('127.0.0.1', 9))",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9')",
    ):
        result = run_untrusted(code)
        assert not result.passed, code
        assert "blocked by the langgraph-ttc sandbox" in result.stderr, code


@pytest.mark.skipif(
    not HAS_NAMESPACES,
    reason="no network namespace on this machine: the "
    "in-process socket block can be bypassed (documented in the sandbox module)",
)
def test_network_namespace_stops_sockets_that_bypass_the_prelude():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    code = textwrap.dedent(
        f"""
        import socket
        raw = [k for k in type.mro(socket.socket) if k.__module__ == "_socket"][0]
        s = raw(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1)
        print(s.connect_ex(("127.0.0.1", {port})))
        """
    )
    try:
        result = run_untrusted(code, timeout_s=5)
    finally:
        thread.join()
        server.close()
    assert result.passed, result.stderr  # the raw socket was created ...
    assert result.stdout.strip() != "0"  # ... but could not connect
    assert not accepted


def test_killing_the_parent_does_not_reach_the_caller(isolation):
    for code in (
        "import os\nos.kill(os.getppid(), 9)\nprint('still here')",
        "import os\nos.kill(0, 9)",
        "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)",
    ):
        result = run_untrusted(code, timeout_s=5)
        assert isinstance(result, SandboxResult)  # we are alive to read it
        assert not result.timed_out
    # The code's parent is the intermediate shell, never this process.
    assert run_untrusted("import os\nprint(os.getppid())").stdout.strip() != str(os.getpid())


@pytest.mark.skipif(not HAS_NAMESPACES, reason="no PID namespace on this machine")
def test_caller_is_invisible_from_a_pid_namespace():
    code = f"import os\ntry:\n    os.kill({os.getpid()}, 0)\nexcept ProcessLookupError:\n    print('invisible')"
    assert run_untrusted(code).stdout.strip() == "invisible"


def test_private_working_directory_is_deleted():
    first = run_untrusted("import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run_untrusted("import os\nprint(os.getcwd())")
    assert first.passed and second.passed
    workdir = first.stdout.strip()
    assert workdir != second.stdout.strip()
    assert not os.path.exists(workdir)


def test_writing_outside_the_temp_dir(tmp_path, monkeypatch):
    """Documented behaviour: the code runs as the calling user, so it CAN write where that user
    can (the sandbox is not a file-system jail); RLIMIT_FSIZE still bounds every file's size."""
    outside = tmp_path / "outside.txt"
    result = run_untrusted(f"open({str(outside)!r}, 'w').write('hello')")
    assert result.passed and outside.read_text() == "hello"

    monkeypatch.setattr(sandbox, "FILE_SIZE_LIMIT_MB", 1)
    big = tmp_path / "big.bin"
    result = run_untrusted(f"open({str(big)!r}, 'wb').write(b'x' * (3 * 1024 * 1024))")
    assert not result.passed and "File too large" in result.stderr
    assert big.stat().st_size <= 1024 * 1024


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    result = run_untrusted(
        "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))"
    )
    assert result.passed
    assert "sk-secret-value" not in result.stdout and "OPENAI_API_KEY" not in result.stdout


def test_output_is_truncated():
    result = run_untrusted(
        "print('x' * 100_000)\nimport sys\nprint('y' * 100_000, file=sys.stderr)",
        max_output_chars=100,
    )
    assert result.passed
    assert result.stdout.startswith("x" * 100) and result.stdout.endswith("[truncated]")
    assert len(result.stdout) < 200 and len(result.stderr) < 200
