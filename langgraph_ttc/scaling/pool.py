"""Sample pools: draw up to K samples per problem once, store them in SQLite, resume after a crash.

One row per (problem, sample index) holds the sample and everything the curves need later: the
extracted answer, its correctness, the filter critique (Chen et al. 2024 prompt, purpose
``"critique"``), an optional verifier score (purpose ``"verify"``), tokens (a reasoning model's
thinking tokens apart, and whether it was cut off inside its thinking), latency, errors. A
pool's thinking budget is part of its sampling params: the thinking axis of the router is
calibrated from one pool per thinking budget over the same problems.
A curve for every k <= K then costs one pool, not a run per k.

Durability and resumption:

- Every model call goes through a :class:`~langgraph_ttc.budget.Meter`; each sample is written in
  its own transaction as soon as it is drawn, so ``kill -9`` loses at most the samples in flight.
  ``UNIQUE(problem_id, sample_index)`` with an upsert that only replaces failed rows means a
  resumed build never duplicates anything.
- Sample i of problem p is drawn with seed ``sample_seed(seed, p, i)``, one request per sample,
  so a resumed build draws exactly what an uninterrupted one would (given a seeded backend).
  Samples are drawn index-major (sample 0 of every problem, then 1, ...), so an interrupted
  pool is balanced across problems.
- A sample whose critique or verifier score is missing gets it on resume; failed samples (and
  failed critiques or verifications) are retried on resume.
- WAL journal, ``synchronous=NORMAL``: safe against a killed process (not against power loss).
- One writer at a time: an exclusive ``fcntl.flock`` on ``<pool>.lock`` is held for the whole
  build; a second builder gets :class:`PoolBusy` at once. Readers (:func:`load_pool`) never block.
- A pool remembers its task, model, sampling params and seed; extending it with different ones
  raises :class:`~langgraph_ttc.errors.TTCConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from langgraph_ttc.backends.base import Backend, SamplingParams, run_sync
from langgraph_ttc.confidence import ConfidenceSpec, TraceConfidence
from langgraph_ttc.errors import TTCConfigError, TTCError
from langgraph_ttc.scaling._pool_builder import (
    _Builder,
    _params_dict,
    _plan,
    _prompt_hash,
    _run_jobs,
    critique_messages,
    normal_params,
    sample_seed,
)
from langgraph_ttc.scaling._pool_schema import (
    LATER_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    add_missing_columns,
    connect,
    has_column,
)
from langgraph_ttc.scaling.samples import PoolSamples, ProblemSamples
from langgraph_ttc.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = [
    "PoolBuildReport",
    "PoolBusy",
    "build_pool",
    "critique_messages",
    "load_pool",
    "sample_seed",
]

DEFAULT_CONCURRENCY = 4


class PoolBusy(TTCError):
    """Another process is building the same pool (it holds ``<pool>.lock``).

    Example:
        >>> issubclass(PoolBusy, TTCError)
        True
    """


@dataclass(frozen=True)
class PoolBuildReport:
    """What one :func:`build_pool` call did (this run only; the pool may hold more).

    Example:
        >>> PoolBuildReport("pool.sqlite", drawn=8).failed
        0
    """

    path: str
    drawn: int = 0
    critiqued: int = 0
    verified: int = 0
    failed: int = 0
    seconds: float = 0.0
    usage: dict = field(default_factory=dict)
    interrupted: bool = False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, warn and go on
        logger.warning("fcntl unavailable: cannot stop two processes building %s at once", path)
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole build
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PoolBusy(
                f"{path} is being built by {holder} (lock {lock_path} is held). Wait for it to "
                "finish, stop it, or write to another --out directory; readers such as "
                "`langgraph-ttc plot` work meanwhile."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
        # Unlinked while still held: a process that opened it before waits in vain (LOCK_NB
        # fails), one that opens the path later gets a new file. Only a killed build leaves it.
        lock_path.unlink(missing_ok=True)
    finally:
        handle.close()  # closing releases the lock (so does the process dying)


def _check_identity(conn, path: Path, identity: dict) -> dict:
    meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    if isinstance(meta.get("params"), dict):
        meta["params"] = normal_params(meta["params"])
    for key, value in identity.items():
        if key in meta and meta[key] != value:
            raise TTCConfigError(
                f"{path} was built with {key}={meta[key]!r}, but this run has {key}={value!r}. "
                f"A pool holds samples of one task, model and sampling setup: use another output "
                f"directory, or rerun with the pool's {key}."
            )
    return meta


def _set_meta(conn, values: dict) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, json.dumps(v)) for k, v in values.items()],
    )


def _register_problems(conn, path, problems, prompts) -> None:
    """Add the task's new problems (after the known ones); refuse changed ones."""
    known = {
        row[0]: row[1:]
        for row in conn.execute("SELECT problem_id, question, reference, prompt_hash FROM problems")
    }
    position = len(known)
    for problem in problems:
        mine = (problem.question, problem.reference, _prompt_hash(prompts[problem.id]))
        if problem.id in known and tuple(known[problem.id]) != mine:
            raise TTCConfigError(
                f"Problem {problem.id!r} in {path} differs from the task's (question, reference or "
                "prompt/exemplars changed). Use another output directory for the new task."
            )
        if problem.id not in known:
            conn.execute(
                "INSERT INTO problems (problem_id, position, question, reference, prompt_hash) "
                "VALUES (?, ?, ?, ?, ?)",
                (problem.id, position, *mine),
            )
            position += 1


def build_pool(
    task: Task,
    backend: Backend,
    path: str | os.PathLike,
    *,
    k_max: int,
    params: SamplingParams | None = None,
    seed: int = 0,
    critique: bool = False,
    verifier=None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: bool = True,
    confidence: ConfidenceSpec | None = None,
) -> PoolBuildReport:
    """Draw the missing samples (up to ``k_max`` per problem) into the pool at ``path``.

    Args:
        task: problems, prompts, answer extraction and scoring.
        backend: the model.
        path: the SQLite file (created if missing, extended/resumed otherwise).
        k_max: samples per problem wanted in the pool.
        params: sampling params (``seed`` is ignored: per-sample seeds derive from ``seed``).
        seed: base seed of the pool.
        critique: also run the Filter-Vote critique on every answered sample (sticky: once a
            pool has critiques, every later build adds them too).
        verifier: an optional :class:`~langgraph_ttc.verifiers.Verifier` scoring each answered
            sample (an ``LLMJudge`` costs one ``"verify"`` call per sample).
        concurrency: requests in flight at once (the embedded backend serialises anyway).
        progress: show a progress bar with ETA on stderr.
        confidence: ask for the top-k log-probabilities of every sample and store its
            confidence summary (a :class:`~langgraph_ttc.confidence.TraceConfidence`, not the
            log-probabilities), so every confidence method replays from the pool.

    Returns:
        What this run did. Ctrl-C (KeyboardInterrupt) propagates after the pool's bookkeeping
        is written, leaving a consistent pool that the next call resumes.

    Raises:
        PoolBusy: another process is building this pool.
        TTCConfigError: the pool was built with another task, model, params or seed.

    Example:
        >>> import tempfile, pathlib
        >>> from langgraph_ttc.tasks import load_task
        >>> from langgraph_ttc.testing import FakeBackend
        >>> task = load_task("rg:basic_arithmetic", size=2)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "pool.sqlite"
        >>> build_pool(task, FakeBackend(), path, k_max=4, progress=False).drawn
        8
        >>> build_pool(task, FakeBackend(), path, k_max=4, progress=False).drawn  # resumed: done
        0
    """
    if k_max < 1:
        raise TTCConfigError(f"k_max must be >= 1; got {k_max}.")
    if concurrency < 1:
        raise TTCConfigError(f"concurrency must be >= 1; got {concurrency}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = _sampling_params(backend, params, confidence)
    with _exclusive_lock(path):
        return run_sync(
            _abuild(
                task,
                backend,
                path,
                k_max,
                params,
                seed,
                critique,
                verifier,
                concurrency,
                progress,
                confidence,
            )
        )


def _sampling_params(backend, params: SamplingParams | None, confidence) -> SamplingParams:
    """The pool's sampling params: top log-probabilities asked for when confidence is stored
    (refused for a backend that cannot give them)."""
    params = params or SamplingParams()
    if confidence is None:
        return params
    if not getattr(backend, "gives_logprobs", False):
        raise TTCConfigError(
            f"{type(backend).__name__} reports no log-probabilities, so a pool with "
            "confidence cannot be built from it; use an OpenAI-compatible server, the "
            "embedded model, or a LangChain chat model that reports them "
            "(ChatOpenAI(logprobs=True))."
        )
    return dataclasses.replace(params, top_logprobs=confidence.top_k)


def _prepare_build(conn, path, task, model_id, params, seed, critique, verifier, confidence, k_max):
    """Check the pool's identity, register the task's problems and write the build's meta.

    Shared by :func:`build_pool` and the builders that draw elsewhere (a Ray cluster, see
    :mod:`langgraph_ttc.distributed`). Returns ``(meta before this build, critique, problems,
    prompts by problem id)``; ``critique`` is sticky (once a pool has critiques, it keeps them).
    """
    conn.executescript(SCHEMA)
    add_missing_columns(conn)
    identity = {
        "schema_version": SCHEMA_VERSION,
        "task": task.name,
        "task_seed": getattr(task, "seed", None),
        "model_id": model_id,
        "params": _params_dict(params),
        "seed": seed,
    }
    meta = _check_identity(conn, path, identity)
    verifier_name = None if verifier is None else type(verifier).__name__
    if meta.get("verifier") and meta["verifier"] != verifier_name:
        raise TTCConfigError(
            f"{path} was scored by verifier {meta['verifier']!r}; this run has "
            f"{verifier_name!r}. Pass the same verifier (--verifier) or use another directory."
        )
    critique = critique or bool(meta.get("critique"))
    problems = list(task.problems())
    prompts = {p.id: task.messages(p.question) for p in problems}
    _register_problems(conn, path, problems, prompts)
    _set_meta(
        conn,
        {
            **identity,
            "size": max(int(meta.get("size", 0)), len(problems)),
            "k_max": max(int(meta.get("k_max", 0)), k_max),
            "critique": critique,
            "verifier": verifier_name or meta.get("verifier"),
            "confidence": None if confidence is None else dataclasses.asdict(confidence),
            "created_at": meta.get("created_at", time.time()),
        },
    )
    return meta, critique, problems, prompts


def _finish_build(conn, path, meta, seconds: float, interrupted: bool) -> None:
    """Add this build's time to the pool's and, unless interrupted, fold the WAL in."""
    previous = float(meta.get("build_seconds", 0.0))
    _set_meta(conn, {"build_seconds": previous + seconds, "updated_at": time.time()})
    if not interrupted:
        _fold_wal(conn, path)


async def _abuild(
    task, backend, path, k_max, params, seed, critique, verifier, concurrency, progress, confidence
):
    started = time.perf_counter()
    conn = connect(path)
    try:
        meta, critique, problems, prompts = _prepare_build(
            conn, path, task, backend.model_id, params, seed, critique, verifier, confidence, k_max
        )
        builder = _Builder(conn, task, backend, params, seed, critique, verifier, confidence)
        builder.prompts = prompts
        jobs = _plan(conn, problems, k_max, critique, verifier is not None)
        interrupted: BaseException | None = None
        try:
            await _run_jobs(builder, jobs, concurrency, progress, task.name)
        except (KeyboardInterrupt, asyncio.CancelledError) as exc:
            interrupted = exc
            logger.warning("Interrupted: %s is consistent; run again to resume.", path)
        seconds = time.perf_counter() - started
        usage = builder.meter.usage.merged(builder.verify_usage)
        report = PoolBuildReport(
            str(path),
            **builder.counts,
            seconds=seconds,
            usage=usage.to_dict(),
            interrupted=interrupted is not None,
        )
        _finish_build(conn, path, meta, seconds, interrupted is not None)
    finally:
        conn.close()
    if interrupted is not None:
        raise interrupted
    return report


def _fold_wal(conn: sqlite3.Connection, path: Path) -> None:
    """A finished pool is one file: fold the WAL back in (removes -wal and -shm). A reader that
    has the pool open keeps the WAL in place; the next build or reader folds it then."""
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as exc:
        logger.debug("kept %s in WAL mode (%s)", path, exc)


def load_pool(path: str | os.PathLike) -> PoolSamples:
    """Read a pool into memory (no model calls): per problem, arrays in sample-index order.

    Failed samples are kept as answerless, incorrect samples (they were calls).

    Example:
        >>> load_pool("missing.sqlite")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: No sample pool at missing.sqlite...
    """
    path = Path(path)
    if not path.exists():
        raise TTCConfigError(f"No sample pool at {path}; build one with build_pool or `curves`.")
    conn = connect(path, readonly=True)
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        problems = conn.execute(
            "SELECT problem_id, question, reference FROM problems ORDER BY position"
        ).fetchall()
        by_problem: dict[str, list] = {pid: [] for pid, _, _ in problems}
        # Columns an older pool may lack (read as NULL: no confidence, no thinking).
        later = {c: c if has_column(conn, c) else "NULL" for c in LATER_COLUMNS}
        for row in conn.execute(
            "SELECT problem_id, answer, correct, critique_verdict, verifier_score, "
            "prompt_tokens + completion_tokens, "
            "COALESCE(critique_prompt_tokens, 0) + COALESCE(critique_completion_tokens, 0), "
            "COALESCE(verify_prompt_tokens, 0) + COALESCE(verify_completion_tokens, 0), "
            "COALESCE(verify_calls, 0), COALESCE(critique_calls, 0), error, "
            f"COALESCE(completion_tokens, 0), {later['confidence']}, "
            f"COALESCE({later['thinking_tokens']}, 0), "
            f"COALESCE({later['truncated_in_thinking']}, 0) "
            "FROM samples ORDER BY problem_id, sample_index"
        ):
            by_problem.setdefault(row[0], []).append(row[1:])
    finally:
        conn.close()
    spec = ConfidenceSpec(**meta["confidence"]) if meta.get("confidence") else ConfidenceSpec()
    out = []
    for pid, question, reference in problems:
        rows = by_problem[pid]
        columns = list(zip(*rows, strict=False)) if rows else [()] * 14
        traces = [
            None if t is None else TraceConfidence.from_dict(json.loads(t)) for t in columns[11]
        ]
        out.append(
            ProblemSamples.from_lists(
                pid,
                list(columns[0]),
                list(columns[1]),
                verdicts=list(columns[2]),
                verifier_scores=list(columns[3]),
                generate_tokens=list(columns[4]),
                critique_tokens=list(columns[5]),
                verify_tokens=list(columns[6]),
                verify_calls=list(columns[7]),
                critique_calls=list(columns[8]),
                completion_tokens=list(columns[10]),
                thinking_tokens=list(columns[12]),
                truncated_in_thinking=int(sum(columns[13])),
                confidences=[spec.value(t) for t in traces],
                traces=tuple(None if t is None else t.to_dict() for t in traces),
                question=question,
                reference=reference,
                errors=sum(e is not None for e in columns[9]),
            )
        )
    return PoolSamples(meta, tuple(out))
