"""The ``langgraph-ttc run`` command against the in-process OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from langgraph_ttc.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_json_has_answer_candidates_and_usage(capsys, instant_server):
    code, out, _ = run_cli(
        capsys,
        "run",
        "What is 2 + 2?",
        "--base-url",
        instant_server.base_url,
        "--model",
        "m",
        "--n",
        "5",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert {"answer", "candidates", "usage", "strategy", "plan", "difficulty"} <= set(result)
    assert len(result["candidates"]) == 5
    assert all({"text", "answer"} <= set(c) for c in result["candidates"])
    assert result["usage"]["calls"] == 5
    assert result["usage"]["prompt_tokens"] > 0 and result["usage"]["completion_tokens"] > 0


def test_run_table_shows_plan_candidates_and_usage(capsys, instant_server):
    code, out, _ = run_cli(
        capsys,
        "run",
        "What is 2 + 2?",
        "--base-url",
        instant_server.base_url,
        "--model",
        "m",
        "--strategy",
        "filter_vote",
        "--n",
        "4",
        "--budget-calls",
        "4",
    )
    assert code == 0
    assert out.startswith("answer:")
    assert "plan: filter_vote" in out and "critique" in out and "usage: 4 calls" in out


@pytest.mark.parametrize(
    "flag,value",
    [("--budget-calls", "0"), ("--budget-calls", "-2"), ("--n", "x"), ("--budget-seconds", "0")],
)
def test_invalid_budgets_are_rejected(capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "q", flag, value])
    assert exit_info.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_unknown_task_lists_valid_ones(capsys, instant_server):
    code, _, err = run_cli(
        capsys,
        "run",
        "q",
        "--base-url",
        instant_server.base_url,
        "--model",
        "m",
        "--task",
        "rg:no_such_gym",
    )
    assert code == 2
    assert "basic_arithmetic" in err and "no_such_gym" in err


def test_unreachable_endpoint_names_the_url_quickly():
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "langgraph_ttc",
            "run",
            "q",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "http://127.0.0.1:9/v1" in proc.stderr
    assert time.monotonic() - started < 30


def test_code_task_without_a_sandbox_refuses_in_one_line_naming_the_opt_in(
    capsys, monkeypatch, instant_server, tmp_path
):
    from langgraph_ttc.tasks import sandbox

    missing = sandbox.Boundary(None, None, "RLIMIT_AS", "no bwrap executable (test)")
    monkeypatch.setattr(sandbox, "_probe_boundary", lambda: missing)
    common = ["--base-url", instant_server.base_url, "--model", "m"]
    curves = ["curves", "--task", "humaneval", "--size", "1", "--k-max", "1", *common]
    code, _, err = run_cli(capsys, *curves, "--out", str(tmp_path / "refused"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: Refusing to run model-written code")
    assert "no bwrap executable" in err and "--allow-unsandboxed" in err
    assert not (tmp_path / "refused" / "pool.sqlite").exists()  # refused before sampling
    code, _, err = run_cli(capsys, "run", "q", *common, "--task", "humaneval")
    assert code == 2 and "--allow-unsandboxed" in err
    code, out, err = run_cli(
        capsys, "run", "q", *common, "--task", "humaneval", "--allow-unsandboxed", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["answer"] is not None or json.loads(out)["candidates"]
