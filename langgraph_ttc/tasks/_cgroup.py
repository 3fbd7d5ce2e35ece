"""One control group per sandboxed run: a process limit that binds root too, and a memory cap.

``RLIMIT_NPROC`` does not bind root (the kernel exempts it) and ``RLIMIT_AS`` is per process,
so a ``ctypes`` fork bomb run as root, or many processes each under its address-space limit,
could still take the machine down. A cgroup's ``pids.max`` holds for every user, and its memory
limit bounds the sum over all the run's processes (and its tmpfs). Linux only; where no cgroup
hierarchy with the controller is writable (an unprivileged user without delegation, most
containers) :func:`cgroup_support` says so and the caller decides.

Both layouts are handled: cgroup v1 (one hierarchy per controller, e.g.
``/sys/fs/cgroup/pids``) and v2 (one unified hierarchy, where a child of our own cgroup has the
controller only if it is enabled in our ``cgroup.subtree_control``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import signal
import time
from dataclasses import dataclass
from functools import lru_cache

logger = logging.getLogger(__name__)

__all__ = ["RunCgroup", "cgroup_support"]

_RMDIR_WAIT_S = 2.0  # processes killed at the end of a run take a moment to be reaped
_names = itertools.count()


@dataclass(frozen=True)
class _Hierarchy:
    """A place where we may create child cgroups with ``controller``."""

    controller: str  # "pids" or "memory"
    parent: str  # directory of our own cgroup in that hierarchy
    v2: bool


def cgroup_support() -> dict[str, _Hierarchy]:
    """The controllers ("pids", "memory") we can give a run here, probed once per process."""
    return dict(_probe())


@lru_cache(maxsize=1)
def _probe() -> tuple[tuple[str, _Hierarchy], ...]:
    found = []
    for controller in ("pids", "memory"):
        for hierarchy in _candidates(controller):
            group = _make(hierarchy, "probe")
            if group is None:
                continue
            with contextlib.suppress(OSError):
                os.rmdir(group)
            sweep_stale(hierarchy.parent)
            found.append((controller, hierarchy))
            break
    logger.debug("sandbox cgroups: %s", [c for c, _ in found] or "none")
    return tuple(found)


def sweep_stale(parent: str) -> list[str]:
    """Remove the empty cgroups left under ``parent`` by processes that died mid-run (a caller
    killed with SIGKILL cannot clean up); returns the removed paths."""
    removed = []
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            match = _OURS.fullmatch(name)
            if match is None or os.path.exists(f"/proc/{match.group(1)}"):
                continue
            path = os.path.join(parent, name)
            with contextlib.suppress(OSError):  # not empty (yet), or gone already
                os.rmdir(path)
                removed.append(path)
    return removed


_OURS = re.compile(r"ttc-sandbox-(\d+)-(?:run|probe)-\d+")


def _candidates(controller: str) -> list[_Hierarchy]:
    """Our cgroup in every mounted hierarchy that has ``controller``."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            own = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return []
    out = []
    for fields in mounts:
        if " - " not in " ".join(fields):
            continue
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        root, point = fields[3], fields[4]
        if fstype == "cgroup" and controller in options:
            paths = [p for _, names, p in own if controller in names.split(",")]
            v2 = False
        elif fstype == "cgroup2":
            try:
                with open(os.path.join(point, "cgroup.controllers"), encoding="utf-8") as f:
                    if controller not in f.read().split():
                        continue
            except OSError:
                continue
            paths = [p for hid, _, p in own if hid == "0"]
            v2 = True
        else:
            continue
        for path in paths:
            rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
            out.append(_Hierarchy(controller, os.path.normpath(os.path.join(point, rel)), v2))
    return out


def _make(hierarchy: _Hierarchy, tag: str) -> str | None:
    """Create a child cgroup with the controller's files, or None where we may not."""
    path = os.path.join(hierarchy.parent, f"ttc-sandbox-{os.getpid()}-{tag}-{next(_names)}")
    try:
        os.mkdir(path)
    except OSError:
        return None
    limit = "pids.max" if hierarchy.controller == "pids" else _memory_file(hierarchy)
    if os.access(os.path.join(path, limit), os.W_OK) and os.access(
        os.path.join(path, "cgroup.procs"), os.W_OK
    ):
        return path
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return None


def _memory_file(hierarchy: _Hierarchy) -> str:
    return "memory.max" if hierarchy.v2 else "memory.limit_in_bytes"


class RunCgroup:
    """The cgroups of one run: create, join from the child, read why it stopped, remove.

    Args:
        max_processes: ``pids.max`` (tasks, counted over the whole run).
        memory_bytes: memory limit of the whole run; ``None`` for no memory cgroup.

    Example:
        >>> group = RunCgroup(max_processes=8, memory_bytes=None)
        >>> group.stop_reason() is None
        True
        >>> group.remove()
    """

    def __init__(self, max_processes: int, memory_bytes: int | None) -> None:
        self.paths: dict[str, str] = {}
        self._fds: list[int] = []
        support = cgroup_support()
        wanted = {"pids": str(int(max_processes))}
        if memory_bytes is not None:
            wanted["memory"] = str(int(memory_bytes))
        try:
            for controller, value in wanted.items():
                hierarchy = support.get(controller)
                path = None if hierarchy is None else _make(hierarchy, "run")
                if path is None:
                    continue
                self.paths[controller] = path
                limit = "pids.max" if controller == "pids" else _memory_file(hierarchy)
                _write(os.path.join(path, limit), value)
                if controller == "memory" and not hierarchy.v2:
                    with contextlib.suppress(OSError):  # no swap accounting: nothing to cap
                        _write(os.path.join(path, "memory.memsw.limit_in_bytes"), value)
                elif controller == "memory":
                    with contextlib.suppress(OSError):
                        _write(os.path.join(path, "memory.swap.max"), "0")
                self._fds.append(os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY))
        except OSError:
            self.remove()
            raise

    @property
    def limits_processes(self) -> bool:
        """Whether ``pids.max`` applies to this run."""
        return "pids" in self.paths

    def join(self) -> None:
        """Move the calling process into the run's cgroups (the child, between fork and exec).

        Only ``os.write`` on descriptors opened beforehand: safe after ``fork``.
        """
        for fd in self._fds:
            os.write(fd, b"0")  # "0": the writing process

    def stop_reason(self) -> str | None:
        """ "process limit" or "memory limit" when the run hit one, else None."""
        pids = self.paths.get("pids")
        if pids is not None and _event(os.path.join(pids, "pids.events"), "max") > 0:
            return "process limit"
        memory = self.paths.get("memory")
        if memory is not None:
            name = (
                "memory.events"
                if os.path.exists(os.path.join(memory, "memory.events"))
                else ("memory.oom_control")
            )
            if _event(os.path.join(memory, name), "oom_kill") > 0:
                return "memory limit"
        return None

    def kill_all(self) -> None:
        """SIGKILL every process still in the run's cgroups."""
        for path in self.paths.values():
            for pid in _pids(path):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Close the descriptors and remove the cgroups (waiting briefly for the last exits)."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        deadline = time.monotonic() + _RMDIR_WAIT_S
        for path in self.paths.values():
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY: a killed process not yet reaped
                    if time.monotonic() > deadline:
                        logger.warning("sandbox: could not remove cgroup %s", path)
                        break
                    for pid in _pids(path):
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                    time.sleep(0.01)
        self.paths = {}


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _pids(path: str) -> list[int]:
    try:
        with open(os.path.join(path, "cgroup.procs"), encoding="ascii") as f:
            return [int(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def _event(path: str, key: str) -> int:
    """The counter ``key`` in a flat-keyed cgroup file (``pids.events``, ``memory.events``)."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0
