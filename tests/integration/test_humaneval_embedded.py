"""A HumanEval pool from the real embedded model (Gemma 3 270M via llama.cpp): the model's own
code is scored inside the sandbox. Invariants only (never the weak model's accuracy): every
sample is scored 0 or 1, a re-run in the sandbox agrees with the stored score, and the
unit-test verifier gives the same verdicts."""

from __future__ import annotations

import sqlite3

import pytest

from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.scaling.pool import build_pool
from langgraph_ttc.tasks import load_task
from langgraph_ttc.tasks.sandbox import sandbox_boundary
from langgraph_ttc.verifiers import UnitTestVerifier

pytestmark = pytest.mark.integration

SIZE, K_MAX, MAX_TOKENS = 2, 2, 96  # 4 generations of up to 96 tokens: well under a minute


def test_humaneval_pool_from_the_embedded_model_is_scored_in_the_sandbox(tmp_path):
    boundary = sandbox_boundary()
    assert boundary.available, boundary.missing  # this machine can make one (see the README)
    task = load_task("humaneval", size=SIZE, seed=0)
    path = tmp_path / "pool.sqlite"
    report = build_pool(
        task,
        resolve_backend("local"),
        path,
        k_max=K_MAX,
        params=SamplingParams(max_tokens=MAX_TOKENS),
        progress=False,
    )
    assert report.drawn == SIZE * K_MAX and report.failed == 0
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT problem_id, text, score FROM samples").fetchall()
    assert len(rows) == SIZE * K_MAX
    problems = {p.id: p for p in task.problems()}
    verifier = UnitTestVerifier(task)
    for problem_id, text, score in rows:
        assert text and score in (0.0, 1.0)
        problem = problems[problem_id]
        result = task.run_tests(problem, text)
        if result is None:  # no runnable code in the completion
            assert score == 0.0
        else:
            assert result.sandboxed
            assert float(result.passed) == score, result.reason
        verdict = verifier.verify(problem.question, text, problem=problem)
        assert verdict.score == score
    for problem in problems.values():  # and the reference solutions pass in the same sandbox
        assert task.score(problem, problem.reference) == 1.0
