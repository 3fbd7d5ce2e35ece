"""Sample pools built on a Ray cluster: the questions become a Ray Dataset and an actor pool of
samplers draws them, each question's samples, critiques, verifier scores and confidences
exactly as the single-process :func:`~langgraph_ttc.scaling.build_pool` would (same seeds, same
rows), so ``calibrate``, ``compare`` and ``curves`` read the result unchanged.

How a build goes:

1. The driver (this process) opens the pool file, checks its identity (task, model, params,
   seed) and finds the questions with work left: samples missing or failed, critiques or
   verifier scores missing. Done questions are skipped.
2. Those questions, with the rows they already have, become a Ray Dataset; ``map_batches``
   runs them through ``actors`` sampler actors (each with its own backend, made from a
   :mod:`recipe <langgraph_ttc.distributed.recipes>`). A sampler draws a batch of questions
   into an in-memory copy of the pool's table and returns their rows: a *shard*.
3. The driver lands each shard in the pool in one transaction, as it arrives, with the pool's
   upsert: a row is added or replaces a failed one; a good row is never doubled or lost.

Failures: an actor that dies (a node lost, ``ray.kill``) is restarted by Ray and its batch
retried (Ray Data's defaults for actor pools: restarts and retries without limit); the batch
starts again from the rows it was given, so what the dead actor drew is drawn again, never
landed twice. A killed driver loses only the batches in flight; the next run resumes. A
backend that fails 20 samples in a row on one actor stops the build with that
:class:`~langgraph_ttc.errors.BackendError`, as in one process; the shards landed before stay
(the stopped batches are drawn again next time). Samples that failed are retried on the next
run, as with :func:`~langgraph_ttc.scaling.build_pool`.

Example (it starts a local Ray, so it runs in tests/integration/test_ray_pool.py, not here)::

    from langgraph_ttc.distributed import Endpoints, build_pool_on_ray
    from langgraph_ttc.tasks import load_task

    replicas = Endpoints(["http://gpu1:8000/v1", "http://gpu2:8000/v1"], "Qwen/Qwen3-8B")
    report = build_pool_on_ray(load_task("rg:basic_arithmetic", size=500), replicas,
                               "runs/qwen/pool.sqlite", k_max=64, critique=True, actors=8,
                               address="auto")
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from langgraph_ttc import errors
from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.budget import Usage
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.distributed._ray import ray_session
from langgraph_ttc.distributed.recipes import Recipe, as_recipe
from langgraph_ttc.errors import TTCConfigError, TTCError
from langgraph_ttc.extras import require
from langgraph_ttc.scaling._pool_builder import _Builder, _plan, _run_jobs
from langgraph_ttc.scaling._pool_schema import SCHEMA, connect
from langgraph_ttc.scaling.pool import (
    DEFAULT_CONCURRENCY,
    PoolBuildReport,
    _exclusive_lock,
    _finish_build,
    _prepare_build,
    _sampling_params,
)
from langgraph_ttc.tasks.base import Task

logger = logging.getLogger(__name__)

__all__ = ["build_pool_on_ray", "land_shard"]

FEATURE = "building a pool on Ray"
DEFAULT_ACTORS = 2
# Samplers waiting on HTTP servers need little CPU; the embedded model computes.
HTTP_ACTOR_CPUS = 0.25
LOCAL_ACTOR_CPUS = 1.0


def land_shard(conn: sqlite3.Connection, rows: Sequence[dict]) -> int:
    """Merge a shard (sample rows, the pool's columns) into an open pool in one transaction.

    A row is added, or replaces a failed row or an older copy of a good one (a good row gains
    its critique or score); a failed row never replaces a good one. Landing a shard twice
    changes nothing. Returns the rows written.

    Example:
        >>> import sqlite3
        >>> from langgraph_ttc.scaling._pool_schema import SCHEMA
        >>> conn = sqlite3.connect(":memory:", isolation_level=None)
        >>> _ = conn.executescript(SCHEMA)
        >>> row = {"problem_id": "q1", "sample_index": 0, "answer": "4", "error": None}
        >>> land_shard(conn, [row]), land_shard(conn, [row | {"error": "500"}])
        (1, 0)
        >>> conn.execute("SELECT COUNT(*), MAX(answer) FROM samples").fetchone()
        (1, '4')
    """
    written = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            columns = ", ".join(row)
            updates = ", ".join(
                f"{c} = excluded.{c}" for c in row if c not in ("problem_id", "sample_index")
            )
            cursor = conn.execute(
                f"INSERT INTO samples ({columns}) VALUES ({', '.join('?' * len(row))}) "
                f"ON CONFLICT(problem_id, sample_index) DO UPDATE SET {updates} "
                "WHERE samples.error IS NOT NULL OR excluded.error IS NULL",
                tuple(row.values()),
            )
            written += cursor.rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return written


def _rows(conn: sqlite3.Connection, problem_ids: Sequence[str]) -> list[dict]:
    marks = ", ".join("?" * len(problem_ids))
    cursor = conn.execute(
        f"SELECT * FROM samples WHERE problem_id IN ({marks}) ORDER BY problem_id, sample_index",
        tuple(problem_ids),
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


class _Sampler:
    """A Ray Data actor: draws batches of questions into shards (one backend per actor)."""

    def __init__(self, setup: dict) -> None:
        self.setup = setup
        self.task: Task = setup["task"]
        self.recipe: Recipe = setup["recipe"]
        self.backends = self.recipe.make()
        self.problems = {p.id: p for p in self.task.problems()}
        self.loop = asyncio.new_event_loop()
        # Samples failed in a row across this actor's batches: a dead backend stops the build
        # after MAX_CONSECUTIVE_FAILURES, as it stops the single-process builder.
        self.failures = 0
        if setup.get("on_start") is not None:
            setup["on_start"]()  # a test hook (e.g. to learn the actor handles)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        ids = [str(pid) for pid in batch["problem_id"]]
        existing = [row for blob in batch["rows"] for row in json.loads(str(blob))]
        shard, counts, usage = self.loop.run_until_complete(self._draw(ids, existing))
        return {
            "problem_ids": [json.dumps(ids)],
            "shard": [json.dumps(shard)],
            "counts": [json.dumps(counts)],
            "usage": [json.dumps(usage)],
        }

    async def _draw(self, ids: list[str], existing: list[dict]):
        s = self.setup
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            conn.executescript(SCHEMA)
            for row in existing:
                conn.execute(
                    f"INSERT INTO samples ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
            groups: dict[int, list] = {}
            for pid in ids:
                groups.setdefault(self.recipe.route(pid), []).append(self.problems[pid])
            builders = []
            for index, problems in groups.items():
                builder = _Builder(
                    conn,
                    self.task,
                    self.backends[index],
                    s["params"],
                    s["seed"],
                    s["critique"],
                    s["verifier"],
                    s["confidence"],
                )
                builder.prompts = {p.id: self.task.messages(p.question) for p in problems}
                builder.consecutive_failures = self.failures
                jobs = _plan(conn, problems, s["k_max"], s["critique"], s["verifier"] is not None)
                builders.append((builder, jobs))
            try:
                await asyncio.gather(
                    *(
                        _run_jobs(builder, jobs, s["concurrency"], False, self.task.name)
                        for builder, jobs in builders
                    )
                )
            finally:
                self.failures = max(b.consecutive_failures for b, _ in builders)
            counts: dict[str, int] = {}
            usage = Usage()
            for builder, _ in builders:
                for key, value in builder.counts.items():
                    counts[key] = counts.get(key, 0) + value
                usage = usage.merged(builder.meter.usage.merged(builder.verify_usage))
            return _rows(conn, ids), counts, usage.to_dict()
        finally:
            conn.close()


def _work(conn, problems, k_max: int, critique: bool, verify: bool) -> list[dict]:
    """The questions with work left, in the pool's order, each with the rows it has."""
    jobs = _plan(conn, problems, k_max, critique, verify)
    todo = list(dict.fromkeys(job.problem.id for job in jobs))
    have: dict[str, list[dict]] = {pid: [] for pid in todo}
    for start in range(0, len(todo), 500):  # SQLite caps the parameters of one statement
        for row in _rows(conn, todo[start : start + 500]):
            have[row["problem_id"]].append(row)
    return [{"problem_id": pid, "rows": json.dumps(have[pid])} for pid in todo]


def _ttc_cause(exc: BaseException) -> TTCError | None:
    """The library error a Ray task raised, under Ray's wrappers (for a one-line message).

    Ray Data re-raises a UDF's error as ``RayTaskError(UserCodeException)`` whose chain may not
    hold the original object, only its traceback text: the error is then made again from the
    ``langgraph_ttc.errors.<Name>: <message>`` line of that text.
    """
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TTCError) and type(current).__module__.startswith("langgraph_ttc"):
            return current
        current = current.__cause__ or getattr(current, "cause", None) or current.__context__
    for match in re.finditer(r"langgraph_ttc\.errors\.(\w+): ([^\n]*)", str(exc)):
        kind = getattr(errors, match[1], None)
        if isinstance(kind, type) and issubclass(kind, TTCError):
            return kind(match[2].strip())
    return None


def build_pool_on_ray(
    task: Task,
    backend: Any,
    path: str | os.PathLike,
    *,
    k_max: int,
    params: SamplingParams | None = None,
    seed: int = 0,
    critique: bool = False,
    verifier=None,
    confidence: ConfidenceSpec | None = None,
    actors: int = DEFAULT_ACTORS,
    concurrency: int = DEFAULT_CONCURRENCY,
    questions_per_batch: int = 1,
    actor_cpus: float | None = None,
    address: str | None = None,
    progress: bool = True,
    on_actor_start: Callable[[], None] | None = None,
) -> PoolBuildReport:
    """Draw the missing samples of the pool at ``path`` on a Ray cluster (see the module doc).

    Args:
        task: problems, prompts, answer extraction and scoring (sent to every actor).
        backend: a recipe: ``"local"``, :class:`~langgraph_ttc.distributed.Endpoints`, a
            function returning a backend, or a picklable backend (see
            :mod:`~langgraph_ttc.distributed.recipes`).
        path: the pool's SQLite file, on the driver (created, extended or resumed).
        k_max, params, seed, critique, verifier, confidence: as for
            :func:`~langgraph_ttc.scaling.build_pool`; the pool is the same.
        actors: sampler actors (a fixed-size pool).
        concurrency: requests in flight per actor.
        questions_per_batch: questions one actor call draws (a shard); 1 balances best and
            loses least when an actor dies.
        actor_cpus: CPUs reserved per actor (default 1 for ``"local"``, 0.25 otherwise).
        address: the Ray cluster (``"auto"``, ``"ray://head:10001"``; ``None``: the session
            this process has, ``$RAY_ADDRESS``, else a new local one, shut down afterwards).
        progress: a progress bar over questions on stderr.
        on_actor_start: called in each actor when it starts (a hook for tests and logging).

    Returns:
        What this run did (``drawn`` counts the samples of the shards that landed).

    Raises:
        PoolBusy: another process is building this pool.
        TTCConfigError: a bad argument, or the pool was built with another setup.
        MissingExtra: Ray is not installed (``pip install 'langgraph-ttc[ray]'``).

    Example:
        Two sampler actors against two ``vllm serve`` replicas (each question goes to one)::

            from langgraph_ttc.distributed import Endpoints, build_pool_on_ray
            replicas = Endpoints(["http://gpu-0:8000/v1", "http://gpu-1:8000/v1"], "Qwen/Qwen3-8B")
            report = build_pool_on_ray(task, replicas, "pool.sqlite", k_max=64, actors=2)

        Arguments are checked before Ray starts:

        >>> from langgraph_ttc.tasks import load_task
        >>> build_pool_on_ray(load_task("rg:basic_arithmetic", size=2), "local", "p.sqlite",
        ...                   k_max=0)
        Traceback (most recent call last):
        ...
        langgraph_ttc.errors.TTCConfigError: k_max must be an integer >= 1; got 0.
    """
    for name, value in (
        ("k_max", k_max),
        ("actors", actors),
        ("concurrency", concurrency),
        ("questions_per_batch", questions_per_batch),
    ):
        if not isinstance(value, int) or value < 1:
            raise TTCConfigError(f"{name} must be an integer >= 1; got {value!r}.")
    if actor_cpus is not None and actor_cpus < 0:
        raise TTCConfigError(f"actor_cpus must be >= 0; got {actor_cpus}.")
    recipe, probe = as_recipe(backend)
    if actor_cpus is None:
        actor_cpus = LOCAL_ACTOR_CPUS if backend == "local" else HTTP_ACTOR_CPUS
    params = _sampling_params(probe, params, confidence)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    setup = {
        "task": task,
        "recipe": recipe,
        "params": params,
        "seed": seed,
        "verifier": verifier,
        "confidence": confidence,
        "k_max": k_max,
        "concurrency": concurrency,
        "on_start": on_actor_start,
    }
    options = {
        "actors": actors,
        "batch": questions_per_batch,
        "cpus": actor_cpus,
        "progress": progress,
    }
    with _exclusive_lock(path):
        started = time.perf_counter()
        conn = connect(path)
        try:
            meta, critique, problems, _ = _prepare_build(
                conn,
                path,
                task,
                recipe.model_id,
                params,
                seed,
                critique,
                verifier,
                confidence,
                k_max,
            )
            setup["critique"] = critique
            work = _work(conn, problems, k_max, critique, verifier is not None)
            totals = {"drawn": 0, "critiqued": 0, "verified": 0, "failed": 0}
            usage = Usage()
            interrupted = False
            try:
                if work:
                    with ray_session(address, FEATURE, **_local_options()) as ray:
                        for counts, used in _draw_on_ray(ray, conn, work, setup, options):
                            for key in totals:
                                totals[key] += counts.get(key, 0)
                            usage = usage.merged(Usage.from_dict(used))
            except KeyboardInterrupt:
                interrupted = True
                logger.warning(
                    "Interrupted: %s keeps every landed shard; run again to resume.", path
                )
                raise
            finally:
                seconds = time.perf_counter() - started
                _finish_build(conn, path, meta, seconds, interrupted)
        finally:
            conn.close()
    return PoolBuildReport(str(path), **totals, seconds=seconds, usage=usage.to_dict())


def _local_options() -> dict:
    """For a Ray started here: no dashboard, quiet workers (a cluster keeps its own settings)."""
    return {"include_dashboard": False, "log_to_driver": False}


def _draw_on_ray(ray, conn, work: list[dict], setup: dict, options: dict):
    """Run the questions through the actor pool; land each shard; yield its counts."""
    tqdm = require("tqdm.auto", "eval", FEATURE).tqdm
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts questions
    batches = math.ceil(len(work) / options["batch"])
    dataset = ray.data.from_items(work, override_num_blocks=min(batches, 10_000))
    drawn = dataset.map_batches(
        _Sampler,
        fn_constructor_kwargs={"setup": setup},
        batch_size=options["batch"],
        compute=ray.data.ActorPoolStrategy(size=options["actors"]),
        num_cpus=options["cpus"],
    )
    bar = tqdm(
        total=len(work),
        desc="pool on ray",
        unit="question",
        file=sys.stderr,
        disable=not options["progress"],
        dynamic_ncols=True,
    )
    try:
        for batch in drawn.iter_batches(batch_size=None, batch_format="numpy"):
            for ids, shard, counts, used in zip(
                batch["problem_ids"], batch["shard"], batch["counts"], batch["usage"], strict=True
            ):
                land_shard(conn, json.loads(str(shard)))
                bar.update(len(json.loads(str(ids))))
                yield json.loads(str(counts)), json.loads(str(used))
    except Exception as exc:
        cause = _ttc_cause(exc)
        if cause is not None:
            raise cause from None
        raise
    finally:
        bar.close()
