"""Scaling curves on the real embedded model (Gemma 3 270M via llama.cpp), in-process and via the
``langgraph-ttc curves`` command. Invariants only: files, strategies, ks, accuracies in [0, 1],
every call counted; never the weak model's accuracy."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.backends.base import SamplingParams
from langgraph_ttc.scaling import load_pool, run_curves
from langgraph_ttc.tasks import load_task

pytestmark = pytest.mark.integration

SIZE, K_MAX, MAX_TOKENS = 2, 4, 24  # about 16 generations: well under a minute
STRATEGIES = ["coverage", "majority", "filter_vote", "best_of_n"]
FILES = ("pool.sqlite", "curves.csv", "summary.json", "curves.png")


def test_curves_on_the_embedded_model(tmp_path):
    task = load_task("rg:basic_arithmetic", size=SIZE, seed=0)
    backend = resolve_backend("local")
    summary = run_curves(
        task,
        backend,
        tmp_path,
        k_max=K_MAX,
        strategies=STRATEGIES,
        params=SamplingParams(max_tokens=MAX_TOKENS),
        progress=False,
        n_boot=200,
    )
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    assert summary["model_id"] == backend.model_id
    assert list(summary["strategies"]) == STRATEGIES
    assert summary["ks"] == [1, 2, 3, 4]
    for points in summary["strategies"].values():
        assert [p["k"] for p in points] == [1, 2, 3, 4]
        for p in points:
            assert 0.0 <= p["ci_low"] <= p["accuracy"] <= p["ci_high"] <= 1.0
    # Every call is counted: generations, plus one filter call per answered sample.
    this_run = summary["pool"]["this_run"]
    by_purpose = this_run["usage"]["by_purpose"]
    assert by_purpose["generate"]["calls"] == this_run["drawn"] == SIZE * K_MAX
    assert by_purpose["generate"]["completion_tokens"] > 0
    pool = load_pool(tmp_path / "pool.sqlite")
    answered = sum(a is not None for p in pool.problems for a in p.answers)
    assert by_purpose.get("critique", {}).get("calls", 0) == this_run["critiqued"] == answered
    assert summary["strategies"]["majority"][-1]["mean_calls"] == K_MAX
    assert summary["strategies"]["filter_vote"][-1]["mean_calls"] == pytest.approx(
        K_MAX * (1 + answered / (SIZE * K_MAX))
    )
    # Seeded samples differ (temperature 0.7).
    with sqlite3.connect(tmp_path / "pool.sqlite") as conn:
        texts = [row[0] for row in conn.execute("SELECT text FROM samples WHERE error IS NULL")]
    assert len(texts) == SIZE * K_MAX and len(set(texts)) > 1
    assert summary["pool"]["build_seconds"] > 0

    # The command resumes the same directory: nothing left to draw, same files rewritten.
    command = [sys.executable, "-m", "langgraph_ttc", "curves", "--task", "rg:basic_arithmetic"]
    command += ["--size", str(SIZE), "--k-max", str(K_MAX), "--max-tokens", str(MAX_TOKENS)]
    # revise cannot be read off the pool: it is run live at each k.
    command += ["--strategies", ",".join([*STRATEGIES, "revise"]), "--out", str(tmp_path)]
    command += ["--no-progress"]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, "CI": "1"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "filter_vote" in done.stdout and "built in" in done.stdout
    resumed = json.loads((tmp_path / "summary.json").read_text())
    assert resumed["pool"]["this_run"]["drawn"] == 0
    assert resumed["pool"]["samples"] == SIZE * K_MAX
    live = resumed["live"]["revise"]
    assert [row["k"] for row in live] == [row["k"] for row in resumed["strategies"]["majority"]]
    assert all(0 < row["mean_calls"] <= row["k"] and 0 <= row["accuracy"] <= 1 for row in live)
