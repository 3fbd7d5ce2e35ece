"""benchmarks/aggregation_methods.py on its scripted model: every method within the same call
budget, and the methods that aggregate with a model that aggregates well ahead of majority."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_compares_the_methods_at_equal_calls(tmp_path):
    out = tmp_path / "fake.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "aggregation_methods.py"), "--model", "fake",
         "--size", "60", "--budget", "12", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["method"]: row for row in json.loads(out.read_text())["summary"]}
    assert set(rows) == {"majority", "best_of_n", "genselect", "rsa", "particle_filter"}
    assert all(row["calls_per_question"] <= 12 for row in rows.values())
    assert rows["genselect"]["calls_by_purpose_per_question"]["select"] > 0
    assert rows["rsa"]["calls_by_purpose_per_question"]["aggregate"] > 0
    for method in ("genselect", "rsa"):
        assert rows[method]["accuracy"] > rows["majority"]["accuracy"] + 0.2, rows
        # the paired bootstrap interval of the difference from majority lies above 0
        assert rows[method]["minus_majority_ci95"][0] > 0, rows[method]
    for row in rows.values():
        low, high = row["accuracy_ci95"]
        assert low <= row["accuracy"] <= high


def test_runs_of_one_method_each_merge_into_one_paired_table(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "aggregation_methods", ROOT / "benchmarks" / "aggregation_methods.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    questions = [f"q{i}" for i in range(6)]
    paths = []
    for method, right in (("majority", {0, 1}), ("genselect", {0, 1, 2, 3})):
        records = [
            {"method": method, "question": q, "correct": i in right}
            for i, q in enumerate(questions)
        ]
        row = {"method": method, "accuracy": len(right) / 6, "accuracy_ci95": [0.0, 1.0],
               "coverage": 1.0, "calls_per_question": 4.0, "tokens_per_question": 10.0,
               "seconds_per_question": 0.1, "calls_by_purpose_per_question": {"generate": 4.0}}  # fmt: skip
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps({"args": {"budget": 4}, "summary": [row], "questions": records}))
        paths.append(str(path))
    out = tmp_path / "merged.json"
    assert bench.merge(paths, str(out), seed=0) == 0
    merged = {row["method"]: row for row in json.loads(out.read_text())["summary"]}
    assert merged["genselect"]["minus_majority"] == 2 / 6
    low, high = merged["genselect"]["minus_majority_ci95"]
    assert 0 <= low <= 2 / 6 <= high  # never below 0: genselect is right wherever majority is
    assert "genselect        +0.33" in capsys.readouterr().out
