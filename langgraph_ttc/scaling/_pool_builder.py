"""The worker side of a pool build: per-sample seeds, the jobs, and the model calls.

Each job draws one sample (one request, ``n=1``, seed ``sample_seed(seed, problem, index)``),
then its Filter-Vote critique and verifier score, writing each result in its own statement
(autocommit) the moment it arrives. See :mod:`langgraph_ttc.scaling.pool` for the guarantees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass

from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.budget import Meter, Usage
from langgraph_ttc.errors import BackendError
from langgraph_ttc.extras import require
from langgraph_ttc.prompts import critique_messages
from langgraph_ttc.tasks.base import Problem
from langgraph_ttc.verifiers import parse_verdict

MAX_CONSECUTIVE_FAILURES = 20


def sample_seed(seed: int, problem_id: str, index: int) -> int:
    """The seed of sample ``index`` of a problem: a stable hash, the same in every process.

    Example:
        >>> sample_seed(0, "q1", 3) == sample_seed(0, "q1", 3) != sample_seed(0, "q1", 4)
        True
    """
    digest = hashlib.sha256(f"{seed}\x1f{problem_id}\x1f{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1  # 31 bits: every backend accepts it


def _critique_seed(seed: int) -> int:
    return (seed * 2654435761 + 1_000_003) % 2**31


def _prompt_hash(messages) -> str:
    payload = json.dumps([(m.type, str(m.content)) for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# Sampling fields added after the first pools were written: left out of a pool's identity
# while at their default, so older pools still resume.
_LATER_FIELDS = {"top_logprobs": 0, "thinking_budget": None}


def _params_dict(params: SamplingParams) -> dict:
    data = dataclasses.asdict(params)
    data.pop("seed", None)
    data["stop"] = list(data["stop"])
    return normal_params(data)


def normal_params(data: dict) -> dict:
    """A pool's sampling params without the later fields at their default, however the pool
    wrote them (a pool written while ``thinking_budget`` was new stored ``null``).

    Example:
        >>> normal_params({"max_tokens": 256, "thinking_budget": None, "top_logprobs": 0})
        {'max_tokens': 256}
    """
    data = dict(data)
    for name, default in _LATER_FIELDS.items():
        if name in data and data[name] == default:
            data.pop(name)
    return data


@dataclass
class _Job:
    problem: Problem
    index: int
    draw: bool
    text: str | None = None
    ok: bool = False
    answered: bool = False
    need_critique: bool = False
    need_verify: bool = False


class _Builder:
    """Runs the jobs of one build against an open pool connection."""

    def __init__(self, conn, task, backend, params, seed, critique, verifier, confidence) -> None:
        self.conn, self.task, self.backend = conn, task, backend
        self.confidence = confidence
        self.params, self.seed, self.critique, self.verifier = params, seed, critique, verifier
        self.meter = Meter()
        self.verify_usage = Usage()
        self.counts = {"drawn": 0, "critiqued": 0, "verified": 0, "failed": 0}
        self.consecutive_failures = 0
        self.prompts = {}

    # -- model calls ----------------------------------------------------------------------
    async def run(self, job: _Job) -> None:
        if job.draw:
            await self._draw(job)
        if job.need_critique and job.ok and job.answered:
            await self._critique(job)
        if job.need_verify and job.ok and job.answered:
            await self._verify(job)

    async def _draw(self, job: _Job) -> None:
        problem, seed = job.problem, sample_seed(self.seed, job.problem.id, job.index)
        params = self.params.with_seed(seed)
        started = time.perf_counter()
        try:
            draw = await self.meter.asample(
                self.backend, self.prompts[problem.id], 1, "generate", params
            )
            completion = draw.completions[0] if draw.completions else None
            error = None if completion is not None else "no completion returned"
            error = error or completion.error
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # recorded as a failed sample, retried on resume
            draw, completion, error = None, None, f"{type(exc).__name__}: {exc}"
        latency = (completion.latency_s if completion else 0.0) or time.perf_counter() - started
        text = completion.text if completion is not None and error is None else ""
        answer = self.task.extract_answer(text) if error is None else None
        score = 0.0
        if error is None:  # scoring may run code (HumanEval): keep the event loop free
            score = float(await asyncio.to_thread(self.task.score, problem, text))
        self._note_outcome(error)
        row = {
            "problem_id": problem.id,
            "sample_index": job.index,
            "seed": seed,
            "params": json.dumps({**_params_dict(self.params), "seed": seed}),
            "prompt_hash": _prompt_hash(self.prompts[problem.id]),
            "text": text,
            "answer": answer,
            "score": score,
            "correct": int(score >= 1.0 - 1e-9),
            "prompt_tokens": draw.prompt_tokens if draw else 0,
            "completion_tokens": draw.completion_tokens if draw else 0,
            "cached_tokens": draw.cached_tokens if draw else 0,
            "latency_s": latency,
            "finish_reason": completion.finish_reason if completion else None,
            "model_id": self.backend.model_id,
            "error": error,
            "created_at": time.time(),
            "confidence": self._confidence(completion if error is None else None),
            "thinking_tokens": draw.thinking_tokens if draw else 0,
            "truncated_in_thinking": int(bool(completion and completion.truncated_in_thinking)),
        }
        columns = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("problem_id",))
        # Insert, or replace a FAILED row on retry; a good row is never overwritten or doubled.
        self.conn.execute(
            f"INSERT INTO samples ({columns}) VALUES ({', '.join('?' * len(row))}) "
            f"ON CONFLICT(problem_id, sample_index) DO UPDATE SET {updates} "
            "WHERE samples.error IS NOT NULL",
            tuple(row.values()),
        )
        job.text, job.ok, job.answered = text, error is None, answer is not None
        self.counts["drawn"] += 1
        self.counts["failed"] += error is not None

    def _note_outcome(self, error: str | None) -> None:
        if error is None:
            self.consecutive_failures = 0
            return
        self.consecutive_failures += 1
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            raise BackendError(
                f"{self.consecutive_failures} samples failed in a row (last: {error}). Check the "
                "model backend; the pool keeps what was drawn and resumes on the next run."
            )

    def _confidence(self, completion) -> str | None:
        """The sample's confidence summary as JSON (not its log-probabilities)."""
        if self.confidence is None or completion is None:
            return None
        vocab = getattr(self.backend, "vocab_size", None) if completion.top_logprobs else None
        trace = self.confidence.summarize(completion.top_logprobs, completion.logprobs, vocab)
        return None if trace is None else json.dumps(trace.to_dict())

    async def _critique(self, job: _Job) -> None:

        messages = critique_messages(self.backend, job.problem.question, job.text or "")
        params = self.params.with_seed(
            _critique_seed(sample_seed(self.seed, job.problem.id, job.index))
        )
        try:
            draw = await self.meter.asample(self.backend, messages, 1, "critique", params)
            completion = draw.completions[0] if draw.completions else None
            error = "no completion returned" if completion is None else completion.error
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            draw, completion, error = None, None, f"{type(exc).__name__}: {exc}"
        text = completion.text if completion is not None and error is None else None
        verdict = parse_verdict(text) if text is not None else None
        self.conn.execute(
            "UPDATE samples SET critique_text = ?, critique_verdict = ?, critique_calls = 1, "
            "critique_prompt_tokens = ?, critique_completion_tokens = ?, critique_error = ? "
            "WHERE problem_id = ? AND sample_index = ?",
            (
                text,
                None if verdict is None else float(verdict >= 0.5),
                draw.prompt_tokens if draw else 0,
                draw.completion_tokens if draw else 0,
                error,
                job.problem.id,
                job.index,
            ),
        )
        self.counts["critiqued"] += 1

    async def _verify(self, job: _Job) -> None:
        meter = Meter()
        try:
            verdict = await self.verifier.averify(
                job.problem.question,
                job.text or "",
                problem=job.problem,
                backend=self.backend,
                meter=meter,
            )
            score, error = float(verdict.score), None if verdict.parsed else "unparsed"
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            score, error = None, f"{type(exc).__name__}: {exc}"
        spent = meter.usage.total()
        self.verify_usage = self.verify_usage.merged(meter.usage)
        self.conn.execute(
            "UPDATE samples SET verifier_score = ?, verify_calls = ?, verify_prompt_tokens = ?, "
            "verify_completion_tokens = ?, verify_error = ? "
            "WHERE problem_id = ? AND sample_index = ?",
            (
                score,
                spent.calls,
                spent.prompt_tokens,
                spent.completion_tokens,
                error,
                job.problem.id,
                job.index,
            ),
        )
        self.counts["verified"] += 1


def _plan(conn, problems, k_max, critique, verify) -> list[_Job]:
    rows = {
        (r[0], r[1]): r[2:]
        for r in conn.execute(
            "SELECT problem_id, sample_index, error IS NULL, answer IS NOT NULL, "
            "critique_text IS NOT NULL, verifier_score IS NOT NULL AND verify_error IS NULL, "
            "text FROM samples"
        )
    }
    jobs = []
    for index in range(k_max):  # index-major: an interrupted pool stays balanced
        for problem in problems:
            row = rows.get((problem.id, index))
            if row is None or not row[0]:
                jobs.append(_Job(problem, index, True, need_critique=critique, need_verify=verify))
                continue
            ok, answered, has_critique, has_score, text = row
            job = _Job(problem, index, False, text, bool(ok), bool(answered))
            job.need_critique = critique and answered and not has_critique
            job.need_verify = verify and answered and not has_score
            if job.need_critique or job.need_verify:
                jobs.append(job)
    return jobs


async def _run_jobs(builder: _Builder, jobs: list[_Job], concurrency: int, progress: bool, name):
    tqdm = require("tqdm.auto", "eval", "building a sample pool").tqdm
    queue: asyncio.Queue[_Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    bar = tqdm(
        total=len(jobs),
        desc=f"pool {name}",
        unit="sample",
        file=sys.stderr,
        disable=not progress or not jobs,
        dynamic_ncols=True,
    )

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await builder.run(job)
            bar.update(1)
            if builder.counts["failed"]:
                bar.set_postfix(failed=builder.counts["failed"], refresh=False)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(jobs) or 1))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        bar.close()
