"""What the code sandbox's boundary costs: milliseconds per run, and a HumanEval pool build.

Three ways to run model-written code are compared:

* ``before``: ``run_untrusted`` as it was before the boundary (git ``--before-ref``, default
  the commit this work started from): a child process with rlimits, an in-process prelude and
  ``unshare`` namespaces, the caller's file system in reach;
* ``unsandboxed``: today's module with ``allow_unsandboxed=True`` on a machine without a
  boundary (the same path as ``before``, kept for such machines);
* ``boundary``: today's default, bubblewrap plus a per-run cgroup.

Per run: ``--runs`` sequential runs of a trivial program and of a HumanEval check (a canonical
solution with its tests). Pool build: ``build_pool`` of HumanEval, ``--problems`` x ``--k``
samples from a scripted model (canonical solution or a wrong one, by seed: the model costs
nothing, so the wall time is the scoring), at the pool builder's default concurrency.

    python benchmarks/sandbox_cost.py                        # 30 runs; 20 problems x 4 samples
    python benchmarks/sandbox_cost.py --runs 100 --problems 40 --k 8
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from langgraph_ttc.scaling.pool import build_pool
from langgraph_ttc.tasks import humaneval as humaneval_module
from langgraph_ttc.tasks import sandbox
from langgraph_ttc.tasks.humaneval import HumanEvalTask
from langgraph_ttc.testing import FakeBackend, stable_uniform

REPO = Path(__file__).resolve().parents[1]
BEFORE_REF = "9cbe377"  # main before the boundary (issue 28)


def load_before(ref: str):
    """The sandbox module as it was at ``ref`` (it imports only the standard library)."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:langgraph_ttc/tasks/sandbox.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "sandbox_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("sandbox_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox_before"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def runners(before) -> dict:
    """name -> run(code) for each way of running code."""
    boundary = sandbox.sandbox_boundary()
    if not boundary.available:
        raise SystemExit(f"no sandbox boundary here: {boundary.missing}")

    def unsandboxed(code, timeout_s=10, cpu_s=5, memory_mb=512):
        # The path allow_unsandboxed=True takes where no boundary can be made.
        workdir = tempfile.mkdtemp(prefix="ttc-sandbox-")
        try:
            return sandbox._run_in(workdir, code, timeout_s, cpu_s, memory_mb, 10_000)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    out = {"before": lambda code, **kw: before.run_untrusted(code, **kw)}
    out["unsandboxed"] = unsandboxed
    out["boundary"] = sandbox.run_untrusted
    return out


def per_run_ms(run, code: str, runs: int) -> tuple[float, float]:
    """Median and mean milliseconds of ``runs`` sequential runs (after one warm-up)."""
    result = run(code)
    assert result.passed, result.stderr
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = run(code)
        times.append((time.perf_counter() - started) * 1000)
        assert result.passed, result.stderr
    return statistics.median(times), statistics.fmean(times)


def scripted_model(task: HumanEvalTask) -> FakeBackend:
    """Answers each problem with its canonical solution (60% of seeds) or a wrong function."""
    by_question = {p.question: p for p in task.problems()}

    def reply(messages, seed):
        text = str(messages[-1].content)
        problem = next(p for q, p in by_question.items() if q in text)
        if stable_uniform(problem.id, seed) < 0.6:
            return f"```python\n{problem.reference}\n```"
        entry = problem.metadata["entry_point"]
        return f"```python\ndef {entry}(*args):\n    return None\n```"

    return FakeBackend(reply=reply, model_id="scripted-humaneval")


def pool_seconds(run, problems: int, k: int) -> tuple[float, float]:
    """Wall seconds of a fresh pool build scored with ``run``, and its accuracy."""
    task = HumanEvalTask(size=problems, seed=0)
    original = humaneval_module.run_untrusted
    humaneval_module.run_untrusted = lambda code, allow_unsandboxed=False, **kw: run(code, **kw)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pool.sqlite"
            started = time.perf_counter()
            report = build_pool(task, scripted_model(task), path, k_max=k, progress=False)
            seconds = time.perf_counter() - started
            assert report.drawn == problems * k and report.failed == 0, report
            with sqlite3.connect(path) as conn:
                (accuracy,) = conn.execute("SELECT AVG(correct) FROM samples").fetchone()
    finally:
        humaneval_module.run_untrusted = original
    return seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="sequential runs per program")
    parser.add_argument("--problems", type=int, default=20, help="HumanEval problems")
    parser.add_argument("--k", type=int, default=4, help="samples per problem")
    parser.add_argument("--before-ref", default=BEFORE_REF, help="git ref of the 'before' run")
    args = parser.parse_args()

    print(f"boundary here: {sandbox.sandbox_boundary().describe()}")
    ways = runners(load_before(args.before_ref))
    task = HumanEvalTask(size=1, seed=0)
    problem = task.problems()[0]
    meta = problem.metadata
    check = f"{problem.reference}\n\n{meta['test']}\n\ncheck({meta['entry_point']})\n"
    programs = {"trivial": "assert 1 + 1 == 2", "humaneval check": check}

    print(f"\nms per run ({args.runs} sequential runs, median / mean)")
    print(f"{'program':<18}" + "".join(f"{name:>22}" for name in ways))
    for label, code in programs.items():
        cells = [per_run_ms(run, code, args.runs) for run in ways.values()]
        print(f"{label:<18}" + "".join(f"{m:>12.1f} / {a:>6.1f}" for m, a in cells))

    print(f"\nHumanEval pool build: {args.problems} problems x {args.k} samples, scripted model")
    for name, run in ways.items():
        seconds, accuracy = pool_seconds(run, args.problems, args.k)
        per_sample = seconds / (args.problems * args.k) * 1000
        print(
            f"{name:<12} {seconds:7.2f} s  ({per_sample:6.1f} ms per sample, "
            f"accuracy {accuracy:.3f})"
        )


if __name__ == "__main__":
    sys.exit(main())
