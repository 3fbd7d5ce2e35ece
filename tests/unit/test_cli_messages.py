"""What a new user meets on the command line: every failure says what happened and what to
try, with a nonzero exit; progress, the plan's worst case and a known reference are shown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from langgraph_ttc.cli import main
from langgraph_ttc.testing_server import InstantServer


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def server_args(server: InstantServer) -> list[str]:
    return ["--base-url", server.base_url, "--model", server.model]


def test_a_budget_too_small_for_any_call_is_an_error(capsys, instant_server):
    code, out, err = run_cli(
        capsys, "run", "What is 7 + 5?", *server_args(instant_server), "--budget-tokens", "10"
    )
    assert code == 2 and out == ""
    assert "The budget allows no model call" in err and "tokens are left" in err


def test_a_budget_that_cuts_the_plan_says_so(capsys, instant_server):
    code, _, err = run_cli(
        capsys, "run", "What is 7 + 5?", *server_args(instant_server), "--n", "4",
        "--budget-tokens", "80",
    )  # fmt: skip
    assert code == 0
    assert "note: the budget allowed" in err and "of the 4 planned samples" in err


def test_a_url_without_scheme_fails_at_once(capsys):
    started = time.monotonic()
    code, _, err = run_cli(
        capsys, "run", "What is 7 + 5?", "--base-url", "127.0.0.1:8731/v1", "--model", "m"
    )
    assert code == 2 and "needs a scheme" in err and "http://127.0.0.1:8731/v1" in err
    assert time.monotonic() - started < 5  # no connection retries


def test_empty_samples_explain_themselves(capsys):
    with InstantServer(reply=lambda prompt, seed, index: "") as server:
        code, out, err = run_cli(capsys, "run", "What is 7 + 5?", *server_args(server))
    assert code == 1
    assert "answer: None" in out
    assert "came back empty" in err and "--mode completion" in err


def test_n_is_the_call_budget_and_the_plan_shows_its_worst_case(capsys, instant_server):
    code, _, err = run_cli(
        capsys, "run", "What is 7 + 5?", *server_args(instant_server), "--strategy", "revise",
        "--n", "4",
    )  # fmt: skip
    assert code == 0
    assert "2 chains x 2 attempts" in err and "at most 4 calls" in err
    code, out, err = run_cli(
        capsys, "run", "q?", *server_args(instant_server), "--strategy", "revise", "--width",
        "1", "--depth", "3", "--json",
    )  # fmt: skip
    assert code == 0 and '"calls": 3' in out


def test_policy_with_a_strategy_that_does_not_route_is_an_error(capsys, instant_server):
    code, _, err = run_cli(capsys, "run", "q?", *server_args(instant_server), "--policy", "p.json")
    assert code == 2 and "--policy is for --strategy adaptive" in err


def test_best_of_n_without_a_verifier_exits_2(capsys, instant_server):
    code, _, err = run_cli(
        capsys, "run", "q?", *server_args(instant_server), "--strategy", "best_of_n"
    )
    assert code == 2 and "add --verifier judge" in err


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_questions_give_one_message(capsys, instant_server, question):
    code, _, err = run_cli(capsys, "run", question, *server_args(instant_server))
    assert code == 2 and "error: The question is empty" in err


def test_progress_lines_and_a_known_reference(capsys, instant_server):
    code, out, err = run_cli(
        capsys, "run", "What is 2 + 2?", *server_args(instant_server), "--n", "3", "--progress",
        "--reference", "4",
    )  # fmt: skip
    assert code == 0
    assert err.count("  sample ") == 3
    assert "reference 4: single samples right" in out and "of 3" in out


def test_unknown_task_names_the_tasks_command(capsys, instant_server):
    code, _, err = run_cli(
        capsys, "run", "q?", *server_args(instant_server), "--task", "rg:no_such_task"
    )
    assert code == 2 and "langgraph-ttc tasks" in err


def test_version_and_help_show_defaults():
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("langgraph-ttc ")
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", "run", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "(default: majority)" in done.stdout and "call budget per question" in done.stdout
    # --help loads no model machinery (that is what makes it quick).
    probe = (
        "import sys; from langgraph_ttc.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('langgraph', 'openai', 'langchain_core', 'numpy') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_ctrl_c_prints_one_line_and_exits_at_once():
    """SIGINT while samples are in flight on a slow server: one line, exit code 130, without
    waiting for the requests (each takes 30 s here)."""
    with InstantServer(delay_s=30) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "langgraph_ttc", "run", "q?", *server_args(server), "--n", "4"],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while server.stats.requests < 1 and time.monotonic() < deadline:
                time.sleep(0.05)  # wait until the run is really under way
            assert server.stats.requests >= 1
            interrupted_at = time.monotonic()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
            seconds = time.monotonic() - interrupted_at
        finally:
            process.kill()
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert seconds < 25  # well before the 30 s requests could have finished
