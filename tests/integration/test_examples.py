"""Every script in examples/ runs as a user would run it (``python examples/X.py``) on the
embedded model, with tiny sizes, and prints what its docstring promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
N = 2
PROBLEMS = 2
TIMEOUT_S = 300


def run_example(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TTC_MODEL", "TTC_BASE_URL")}
    env.update(
        TTC_N=str(N),
        TTC_MAX_TOKENS="24",
        TTC_PROBLEMS=str(PROBLEMS),
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, (
        f"{name} exited with {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
        f"\n--- stderr\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_every_example_is_tested():
    tested = {
        "react_agent_with_ttc.py",
        "lcel_chain.py",
        "compare_strategies.py",
        "custom_graph.py",
        "agent_middleware.py",
    }
    assert {path.name for path in EXAMPLES.glob("*.py")} == tested


def test_react_agent_with_ttc():
    out = run_example("react_agent_with_ttc.py")

    assert "route: math" in out and "route: chat" in out
    assert "I am a calculator agent" in out
    assert re.search(r"ttc answer: .+ \(\d+ of \d+ samples agree", out)
    calls = [int(c) for c in re.findall(rf"ttc calls: (\d+) of {N}\b", out)]
    assert calls and all(1 <= c <= N for c in calls)
    # ttc_result reaches only the parent that declares it; private channels reach neither.
    assert "plain parent keys: ['messages']" in out
    assert "plain parent reply: " in out


def test_lcel_chain():
    out = run_example("lcel_chain.py")

    assert re.search(r"^invoke: .*'strategy': 'majority'", out, re.M)
    batch = re.findall(r"^batch: (\d+ \+ \d+) -> (.*) \[(right|wrong)\]$", out, re.M)
    assert [q for q, _, _ in batch] == ["2 + 3", "10 + 5", "7 + 8"]
    right = [verdict for _, _, verdict in batch].count("right")
    assert re.search(rf"^right: {right} of 3 \(each the vote of {N} samples\)$", out, re.M)
    assert re.search(r"^invoke: .* \[(right|wrong)\]$", out, re.M)


def test_compare_strategies():
    out = run_example("compare_strategies.py")

    assert f"rg:basic_arithmetic: {PROBLEMS} problems, {N} calls per question" in out
    assert len(re.findall(r"reference=\S+\s+majority=.*filter_vote=", out)) == PROBLEMS
    assert re.search(r"^strategy\s+single\s+voted\s+calls", out, re.M)
    rows = dict(re.findall(r"^(majority|filter_vote)\s+(\S+\s+\S+\s+\d+\s+\d+\s+\d+)", out, re.M))
    assert set(rows) == {"majority", "filter_vote"}
    for row in rows.values():
        single, accuracy, calls, prompt_tokens, completion_tokens = row.split()
        assert 0.0 <= float(single) <= 1.0 and 0.0 <= float(accuracy) <= 1.0
        assert 1 <= int(calls) <= PROBLEMS * N
        assert int(prompt_tokens) > 0 and int(completion_tokens) > 0


def test_custom_graph():
    out = run_example("custom_graph.py")

    assert "critique -> numbers_only" in out and "numbers_only -> aggregate" in out
    candidates = re.findall(r"^candidate \S+: answer=(.*) verdict=(\S+)$", out, re.M)
    assert len(candidates) == N // 2
    for answer, verdict in candidates:  # our own step dropped every non-numeric answer
        if answer != "None" and not re.fullmatch(r"'-?\d+(\.\d+)?'", answer):
            assert verdict == "False"
    assert re.search(r"^answer: .* \(filter_vote(_fallback)?\)$", out, re.M)
    assert re.search(rf"^calls: \d+ of {N}$", out, re.M)
    found = re.search(
        r"^reference 9: single samples right (\d+) of (\d+); the answer (.*) is (\w+)$", out, re.M
    )
    assert found and int(found[1]) <= int(found[2]) == N // 2
    assert found[4] == ("right" if found[3] == "9" else "wrong")


def test_agent_middleware():
    out = run_example("agent_middleware.py")

    tallies = re.findall(r"^step (\d+): (\d+) samples, tally (.*)$", out, re.M)
    assert [(step, samples) for step, samples, _ in tallies] == [
        ("1", str(N)),
        ("2", str(N)),
        ("2", "4"),  # the first two disagreed: SampleMore drew up to 4
        ("3", str(N)),
    ]
    assert "step 2: agreement 0.5 -> sample_more" in out
    assert "step 2: agreement 0.5 -> ask_human" in out
    assert "decision: edit" in out
    # The voted call ran once, with the person's edit, however many samples voted on it.
    assert "purchases: ['3 apples'] (buy ran 1 time)" in out
    calls, steps = map(int, re.search(r"^ledger: (\d+) calls over (\d+) steps", out, re.M).groups())
    assert (calls, steps) == (N + 4 + N, 3)
