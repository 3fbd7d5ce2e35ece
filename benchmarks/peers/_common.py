"""Measurement helpers shared by the peer drivers (run with the peer venv's python) and our own
contenders (``benchmarks/perf/contenders.py``): standard library only, so both environments load it."""

from __future__ import annotations

import gc
import json
import os
import re
import resource
import sys
import time

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
WARM_UP = "What is 1 + 1?"  # answered once before the clock starts, as by every contender


def last_number(text: str | None) -> str:
    """The vote key: the reply's last number (the same rule as the floor), else the text."""
    found = NUMBER.findall(text or "")
    return found[-1] if found else (text or "").strip()


def peak_rss_mb(pid: str | int = "self") -> float:
    """Peak resident memory (``VmHWM``; ``ru_maxrss`` would survive exec from the parent)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _GcClock:
    """Seconds spent in the cyclic garbage collector since the last reset: a full collection
    walks every object the imports left on the heap, so it costs more the bigger the process."""

    def __init__(self) -> None:
        self.total, self._began = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._began


GC_CLOCK = _GcClock()


def gc_s() -> float:
    """Seconds in the garbage collector since :func:`warmed_up` (the timed part)."""
    return round(GC_CLOCK.total, 4)


def warmed_up() -> None:
    """Tell the parent the warm-up is done and wait for its go (it resets server counters)."""
    if os.environ.get("BENCH_HANDSHAKE"):
        print("warm", flush=True)
        sys.stdin.readline()
    GC_CLOCK.total = 0.0


def spec_from_argv() -> dict:
    return json.loads(sys.argv[1])


def emit(result: dict, started: float) -> None:
    result.setdefault("setup_s", round(time.perf_counter() - started - result["wall_s"], 4))
    result.setdefault("peak_rss_mb", round(peak_rss_mb(), 1))
    result.setdefault("gc_s", gc_s())
    print(json.dumps(result))
