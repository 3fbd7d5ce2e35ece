"""Sample pools: resumption gives what an uninterrupted build gives, kill -9 loses and duplicates
nothing, a second writer is refused, a pool refuses another task/model/params."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling import PoolBusy, build_pool, load_pool, sample_seed
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle
from langgraph_ttc.verifiers import LLMJudge

ROW_COLUMNS = (
    "problem_id, sample_index, seed, params, prompt_hash, text, answer, score, correct, "
    "error, critique_text, critique_verdict, verifier_score"
)

# Shared by this process and the subprocesses below (they import this file by path).
TASK_SIZE = 5


def make_task(size: int = TASK_SIZE):
    return load_task("rg:basic_arithmetic", size=size, seed=3)


def make_backend(task, delay: float = 0.0, model_id: str = "fake", fail=None) -> FakeBackend:
    accuracies = (0.2, 0.5, 0.8, 0.35, 0.65)
    questions = {
        p.question: (p.reference, accuracies[i % len(accuracies)])
        for i, p in enumerate(task.problems())
    }
    backend = SlowFake(reply=NoisyOracle(questions), model_id=model_id, fail=fail)
    backend.delay = delay
    return backend


class SlowFake(FakeBackend):
    delay = 0.0

    async def asample(self, messages, n, params, *, timeout=None):
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().asample(messages, n, params, timeout=timeout)


class Interrupting(SlowFake):
    """Raises KeyboardInterrupt (like Ctrl-C) on its ``after``-th request."""

    after = 10
    calls = 0

    async def asample(self, messages, n, params, *, timeout=None):
        type(self).calls += 1
        if type(self).calls == self.after:
            raise KeyboardInterrupt
        return await super().asample(messages, n, params, timeout=timeout)


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT {ROW_COLUMNS} FROM samples ORDER BY problem_id, sample_index"
        ).fetchall()


def test_pool_rows_and_load(tmp_path):
    task = make_task()
    path = tmp_path / "pool.sqlite"
    report = build_pool(task, make_backend(task), path, k_max=6, critique=True, progress=False)
    assert report.drawn == TASK_SIZE * 6
    assert report.usage["by_purpose"]["generate"]["calls"] == TASK_SIZE * 6
    assert report.usage["by_purpose"]["critique"]["calls"] == report.critiqued > 0
    pool = load_pool(path)
    assert pool.meta["task"] == "rg:basic_arithmetic" and pool.meta["model_id"] == "fake"
    assert pool.meta["k_max"] == 6 and pool.meta["critique"] is True
    assert [p.n for p in pool.problems] == [6] * TASK_SIZE
    first = pool.problems[0]
    assert set(np.unique(first.correct)) <= {0.0, 1.0}
    assert set(first.verdicts[np.isfinite(first.verdicts)]) <= {0.0, 1.0}
    assert (first.generate_tokens > 0).all()
    seeds = [r[2] for r in rows(path) if r[0] == first.problem_id]
    assert seeds == [sample_seed(0, first.problem_id, i) for i in range(6)]
    # A finished pool is one file: no -wal, -shm or lock file left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool.sqlite"]


def test_resume_after_partial_build_equals_uninterrupted(tmp_path):
    task = make_task()
    full, partial = tmp_path / "full.sqlite", tmp_path / "partial.sqlite"
    build_pool(task, make_backend(task), full, k_max=8, critique=True, progress=False)
    build_pool(task, make_backend(task), partial, k_max=3, progress=False)  # smaller, no critique
    interrupting = Interrupting(reply=make_backend(task).reply, model_id="fake")
    with pytest.raises(KeyboardInterrupt):
        build_pool(task, interrupting, partial, k_max=8, critique=True, progress=False)
    assert 3 * TASK_SIZE <= len(rows(partial)) < 8 * TASK_SIZE
    again = build_pool(task, make_backend(task), partial, k_max=8, critique=True, progress=False)
    assert again.drawn < 8 * TASK_SIZE
    assert rows(partial) == rows(full)
    done = build_pool(task, make_backend(task), partial, k_max=8, critique=True, progress=False)
    assert (done.drawn, done.critiqued) == (0, 0)


def test_failed_samples_are_stored_then_retried(tmp_path):
    task = make_task()
    path = tmp_path / "pool.sqlite"

    def flaky(messages, seed):
        return seed % 3 == 0

    report = build_pool(task, make_backend(task, fail=flaky), path, k_max=6, progress=False)
    stored = rows(path)
    assert report.failed == sum(r[9] is not None for r in stored) > 0
    assert len(stored) == 6 * TASK_SIZE
    assert load_pool(path).problems[0].errors >= 0
    build_pool(task, make_backend(task), path, k_max=6, progress=False)
    healed = rows(path)
    assert len(healed) == 6 * TASK_SIZE and all(r[9] is None for r in healed)
    clean = tmp_path / "clean.sqlite"
    build_pool(task, make_backend(task), clean, k_max=6, progress=False)
    assert healed == rows(clean)


def test_pool_refuses_another_model_task_or_params(tmp_path):
    task = make_task()
    path = tmp_path / "pool.sqlite"
    build_pool(task, make_backend(task), path, k_max=2, progress=False)
    with pytest.raises(TTCConfigError, match="model_id"):
        build_pool(task, make_backend(task, model_id="other"), path, k_max=2, progress=False)
    with pytest.raises(TTCConfigError, match="params"):
        build_pool(
            task,
            make_backend(task),
            path,
            k_max=2,
            params=SamplingParams(temperature=0.1),
            progress=False,
        )
    with pytest.raises(TTCConfigError, match="task"):
        other = load_task("rg:chain_sum", size=2, seed=3)
        build_pool(other, make_backend(task), path, k_max=2, progress=False)
    with pytest.raises(TTCConfigError, match="seed"):
        build_pool(task, make_backend(task), path, k_max=2, seed=7, progress=False)


def test_verifier_scores_and_calls_are_stored(tmp_path):
    task = make_task(2)
    judge_backend = FakeBackend(reply=lambda m, s: "Fine. [[correct]] Score: 0.8")
    path = tmp_path / "pool.sqlite"
    report = build_pool(
        task,
        make_backend(task),
        path,
        k_max=3,
        verifier=LLMJudge(backend=judge_backend),
        progress=False,
    )
    pool = load_pool(path)
    answered = [p for p in pool.problems for a in p.answers if a is not None]
    assert report.usage["by_purpose"]["verify"]["calls"] == report.verified == len(answered)
    for problem in pool.problems:
        has = np.array([a is not None for a in problem.answers])
        assert np.allclose(problem.verifier_scores[has], 0.8)
        assert (problem.verify_calls[has] == 1).all()
    with pytest.raises(TTCConfigError, match="verifier"):
        build_pool(task, make_backend(task), path, k_max=3, verifier=_Other(), progress=False)


class _Other(LLMJudge):
    pass


# -- real processes ----------------------------------------------------------------------------

BUILDER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_scaling_pool import make_backend, make_task
    from langgraph_ttc.scaling import build_pool
    task = make_task()
    build_pool(task, make_backend(task, delay={delay}), {path!r}, k_max={k_max}, critique=True,
               concurrency=3, progress=False)
    """
)


def start_builder(path: Path, k_max: int, delay: float) -> subprocess.Popen:
    script = BUILDER.format(
        tests=str(Path(__file__).parent), path=str(path), k_max=k_max, delay=delay
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    return subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)


def wait_for_rows(path: Path, process: subprocess.Popen, at_least: int, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"builder exited early: {process.stderr.read().decode()[-2000:]}")
        try:
            if len(rows(path)) >= at_least:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError("builder made no progress")


def test_kill_9_mid_build_then_resume_loses_and_duplicates_nothing(tmp_path):
    task = make_task()
    k_max = 24
    path = tmp_path / "pool.sqlite"
    process = start_builder(path, k_max, delay=0.01)
    try:
        wait_for_rows(path, process, at_least=25)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    killed_at = len(rows(path))
    assert 25 <= killed_at < k_max * TASK_SIZE  # really mid-run
    build_pool(task, make_backend(task), path, k_max=k_max, critique=True, progress=False)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        duplicates = conn.execute(
            "SELECT COUNT(*) FROM (SELECT problem_id, sample_index, COUNT(*) AS c FROM samples "
            "GROUP BY problem_id, sample_index HAVING c > 1)"
        ).fetchone()[0]
        pending = conn.execute(
            "SELECT COUNT(*) FROM samples WHERE answer IS NOT NULL AND critique_text IS NULL"
        ).fetchone()[0]
    assert duplicates == 0 and pending == 0
    pairs = {(r[0], r[1]) for r in rows(path)}
    assert pairs == {(p.id, i) for p in task.problems() for i in range(k_max)}
    reference = tmp_path / "reference.sqlite"
    build_pool(task, make_backend(task), reference, k_max=k_max, critique=True, progress=False)
    assert rows(path) == rows(reference)


def test_second_concurrent_writer_is_refused(tmp_path):
    task = make_task()
    path = tmp_path / "pool.sqlite"
    process = start_builder(path, k_max=400, delay=0.01)
    try:
        wait_for_rows(path, process, at_least=5)
        with pytest.raises(PoolBusy, match="being built by pid"):
            build_pool(task, make_backend(task), path, k_max=400, critique=True, progress=False)
        assert load_pool(path).problems  # reading while it builds is fine
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
    # The lock dies with its holder: the pool can be resumed right away.
    build_pool(task, make_backend(task), path, k_max=2, progress=False)
