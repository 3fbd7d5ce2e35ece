"""Pools survive kill -9 at random moments, round after round (issue 8, reliability).

Each round forks a builder of one seeded pool (from a fork server that imported the library
once, so a builder starts in milliseconds) and SIGKILLs it at a random moment; a finished pool
starts a new sweep. A sweep's first round only draws, so later kills also land while samples
drawn earlier get their critiques and verifier scores.

After every kill, a copy of the files must pass ``PRAGMA integrity_check``, hold no duplicate
(problem, sample), keep every row and field it had (nothing lost) and agree with an uninterrupted
build wherever it has data. Every finished sweep, and the last one after a final in-process
resume, must equal that build exactly. Every 4th round starts two builders at once: one of them
must be refused with PoolBusy naming the other, or the pool must still check out.

``python -m pytest tests/soak --soak 200 -s`` runs 200 rounds instead of 5 (the same test, so
nothing is skipped by default). ``TTC_SOAK_SEED=n`` replays a schedule (timings still vary).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import PIPE

import pool_child
import pytest

SHORT_ROUNDS = 5
KILL_WINDOW_S = 0.4  # a sweep takes ~0.4 s (no delay) to ~1 s (delay), so most kills land mid-build
DELAYS_S = (0.0, 0.003)  # CPU-bound rounds land kills in Python/SQLite; slow ones in waits
CONCURRENT_EVERY = 4

TIMINGS = {"latency_s", "created_at"}  # stored fields that differ from run to run
VOLATILE_META = {"build_seconds", "created_at", "updated_at"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``rounds`` is 5, or the ``--soak`` value: one test either way, never a skip."""
    if "rounds" in metafunc.fixturenames:
        rounds = metafunc.config.getoption("soak") or SHORT_ROUNDS
        timeout = pytest.mark.timeout(max(600, 3 * rounds))
        metafunc.parametrize("rounds", [pytest.param(rounds, marks=timeout, id=f"{rounds}-rounds")])


@pytest.fixture(scope="module")
def server():
    server = BuilderServer()
    yield server
    server.close()


# -- what a pool holds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    rows: dict = field(default_factory=dict)  # (problem_id, sample_index) -> {column: value}
    problems: tuple = ()
    meta: dict = field(default_factory=dict)

    def count(self, column: str) -> int:
        return sum(row[column] is not None for row in self.rows.values())

    def unscored(self) -> set:
        """Answered samples still missing their critique or verifier score."""
        return {
            key
            for key, row in self.rows.items()
            if row["answer"] is not None and None in (row["critique_text"], row["verifier_score"])
        }

    def line(self) -> str:
        return f"{len(self.rows)}/{self.count('critique_text')}/{self.count('verifier_score')}"


def snapshot(path: Path, scratch: Path) -> Snapshot:
    """Check and read a copy of the pool, so that the next builder itself recovers the WAL a
    kill left behind (opening the original here would recover it first)."""
    scratch.mkdir(exist_ok=True)
    copy = scratch / "pool.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal"):  # not -shm: a reader rebuilds it, as after a crash
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
    if not copy.exists():
        return Snapshot()  # killed before SQLite created the file
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "problems", "samples"} <= tables:
            return Snapshot()  # killed while creating the schema
        duplicates = conn.execute(
            "SELECT problem_id, sample_index FROM samples "
            "GROUP BY problem_id, sample_index HAVING COUNT(*) > 1"
        ).fetchall()
        assert duplicates == [], f"duplicate samples: {duplicates[:5]}"
        problems = conn.execute("SELECT * FROM problems ORDER BY position").fetchall()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        conn.row_factory = sqlite3.Row
        rows = [dict(row) for row in conn.execute("SELECT * FROM samples")]
    for row in rows:
        for column in TIMINGS:
            del row[column]
    return Snapshot({(r["problem_id"], r["sample_index"]): r for r in rows}, tuple(problems), meta)


def check_progress(before: Snapshot, after: Snapshot, reference: Snapshot) -> None:
    """Nothing lost (every row and filled field kept) and nothing that an uninterrupted build
    would not have written."""
    lost = [key for key in before.rows if key not in after.rows]
    assert not lost, f"rows lost: {lost[:5]}"
    for key, row in after.rows.items():
        assert key in reference.rows, f"{key}: a sample an uninterrupted build does not have"
        old = before.rows.get(key, {})
        changed = [c for c, v in old.items() if v is not None and v != row[c]]
        assert not changed, f"{key}: stored fields changed: {changed}"
        wrong = [c for c, v in row.items() if v not in (None, reference.rows[key][c])]
        assert not wrong, f"{key}: fields differ from an uninterrupted build: {wrong}"
    assert after.problems == reference.problems[: len(after.problems)]


def check_complete(pool: Snapshot, reference: Snapshot) -> None:
    assert pool.rows == reference.rows
    assert pool.problems == reference.problems
    stable = {k: v for k, v in reference.meta.items() if k not in VOLATILE_META}
    assert {k: v for k, v in pool.meta.items() if k not in VOLATILE_META} == stable


# -- builders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    pid: int
    kind: str  # "killed", "finished" or "busy"
    message: str = ""


class BuilderServer:
    """Drives ``pool_child.py`` running as a fork server (see there)."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, pool_child.__file__], stdin=PIPE, stdout=PIPE, text=True, env=env
        )
        self.unread: list[list] = []

    def start(self, path: Path, delay: float, score: bool) -> int:
        self.send("build", str(path), delay, score)
        return self.receive("ready")[1]

    def stop(self, pid: int) -> Outcome:
        os.kill(pid, signal.SIGKILL)  # harmless if it already exited: a zombie until reaped
        self.send("reap", pid)
        code = self.receive("exit", pid)[2]
        if code == -signal.SIGKILL:
            return Outcome(pid, "killed")
        if code == 0:
            return Outcome(pid, "finished")
        assert code == pool_child.BUSY_EXIT, f"builder {pid} exited with {code}"
        return Outcome(pid, "busy", self.receive("busy", pid)[2])

    def send(self, *command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def receive(self, kind: str, pid: int | None = None) -> list:
        """The next message of this kind (about ``pid``), keeping the others for later."""

        def wanted(message: list) -> bool:
            return message[0] == kind and pid in (None, message[1])

        while not any(map(wanted, self.unread)):
            line = self.process.stdout.readline()
            assert line, f"the builder server died (exit code {self.process.poll()})"
            self.unread.append(json.loads(line))
        message = next(filter(wanted, self.unread))
        self.unread.remove(message)
        return message

    def close(self) -> None:
        self.process.stdin.close()  # the server ends at end of input
        self.process.wait(timeout=30)


def check_refusals(outcomes: list[Outcome]) -> None:
    """A refused builder names the one holding the lock (or, if it read the lock file in the
    instant between truncation and write, 'another process')."""
    refused = [o for o in outcomes if o.kind == "busy"]
    assert len(refused) < len(outcomes), "every builder was refused; nobody held the lock"
    for outcome in refused:
        holders = "|".join(str(o.pid) for o in outcomes if o is not outcome)
        assert re.search(rf"is being built by (pid ({holders})|another process)", outcome.message)


def kill_round(server: BuilderServer, path: Path, rng: random.Random, score: bool, builders: int):
    delay = rng.choice(DELAYS_S)
    pids = [server.start(path, delay, score) for _ in range(builders)]
    time.sleep(rng.uniform(0.0, KILL_WINDOW_S))
    return delay, [server.stop(pid) for pid in pids]


# -- the soak ------------------------------------------------------------------------------------


@dataclass
class Sweep:
    number: int
    path: Path
    rounds: int = 0
    pool: Snapshot = field(default_factory=Snapshot)
    done: bool = False


def next_sweep(tmp_path: Path, previous: Sweep | None) -> Sweep:
    if previous is not None:  # keep the disk light over long soaks
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{previous.path}{suffix}").unlink(missing_ok=True)
    number = 0 if previous is None else previous.number + 1
    return Sweep(number, tmp_path / f"sweep-{number}.sqlite")


def test_random_kill_9_rounds_lose_and_duplicate_nothing(rounds, tmp_path, server):
    seed = int(os.environ.get("TTC_SOAK_SEED") or random.SystemRandom().randrange(2**32))
    print(f"soak seed {seed} (replay: TTC_SOAK_SEED={seed}), {rounds} rounds")
    rng = random.Random(seed)
    scratch = tmp_path / "check"
    pool_child.build(tmp_path / "reference.sqlite")
    reference = snapshot(tmp_path / "reference.sqlite", scratch)
    stats: Counter = Counter()
    started = time.monotonic()
    sweep = next_sweep(tmp_path, None)
    for number in range(rounds):
        if sweep.done:
            sweep = next_sweep(tmp_path, sweep)
        score = sweep.rounds > 0
        builders = 2 if number % CONCURRENT_EVERY == CONCURRENT_EVERY - 1 else 1
        delay, outcomes = kill_round(server, sweep.path, rng, score, builders)
        check_refusals(outcomes)
        pool = snapshot(sweep.path, scratch)
        check_progress(sweep.pool, pool, reference)
        sweep.done = pool.rows == reference.rows
        if sweep.done:
            check_complete(pool, reference)
        tally(stats, outcomes, sweep, pool, score)
        print(
            f"round {number} sweep {sweep.number} delay {delay} "
            f"{'score' if score else 'draw'}: {','.join(o.kind for o in outcomes)}; "
            f"rows/critiqued/verified {sweep.pool.line()} -> {pool.line()}"
            + (" (sweep done)" if sweep.done else "")
        )
        sweep.pool, sweep.rounds = pool, sweep.rounds + 1
    report = pool_child.build(sweep.path)  # the final resume
    check_complete(snapshot(sweep.path, scratch), reference)
    stats["final resume drew"] = report.drawn
    print(f"{dict(stats)}; {time.monotonic() - started:.1f} s")
    assert stats["kills mid-build"] >= 1


def tally(stats: Counter, outcomes, sweep: Sweep, pool: Snapshot, score: bool) -> None:
    """Where the round's kill landed (``sweep.pool`` still holds the pool before the round)."""
    kinds = Counter(o.kind for o in outcomes)
    stats.update({"rounds": 1, **kinds})
    stats["sweeps done"] += sweep.done
    if kinds["killed"] and not sweep.done:
        stats["kills mid-build"] += 1
        stats["kills with nothing new stored"] += pool.rows == sweep.pool.rows
        rescoring = pool.unscored() & set(sweep.pool.rows)  # drawn in an earlier round
        stats["kills while scoring earlier draws"] += score and bool(rescoring)
        torn = pool.unscored() - set(sweep.pool.rows)  # drawn this round, scoring cut short
        stats["kills between the writes of one sample"] += score and bool(torn)
