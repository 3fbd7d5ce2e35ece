"""What a new user meets on the command line: every failure says what happened and what to
try, with a nonzero exit; progress, the plan's worst case and a known reference are shown."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from langgraph_ttc.cli import main
from langgraph_ttc.testing.instant_server import InstantServer


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


def _sigint_as_in_a_terminal():
    # A shell starts a backgrounded job (`cmd &`, no job control) with SIGINT ignored, and a
    # child inherits that, so a suite run that way would see the CLI sleep through Ctrl-C.
    # In a terminal SIGINT has its default action; give the child that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_one_line_and_exits_at_once():
    """SIGINT while samples are in flight on a slow server: one line, exit code 130, without
    waiting for the requests (each takes 30 s here)."""
    with InstantServer(delay_s=30) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "langgraph_ttc", "run", "q?", *server_args(server), "--n", "4"],
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_sigint_as_in_a_terminal,
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
    assert process.returncode == 130, (seconds, out[-2000:], err[-2000:])
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert seconds < 25  # well before the 30 s requests could have finished


# -- round two (issue 22): one-line errors, readable output, the router and confidence -------


@pytest.mark.parametrize(
    "argv,says",
    [
        (["--n", "0"], "argument --n: expected a whole number >= 1, got 0"),
        (["--n", "abc"], "argument --n: expected a whole number >= 1, got 'abc'"),
        (["--strategy", "nope"], "argument --strategy: invalid choice: 'nope'"),
        (["--budget-calls", "0"], "argument --budget-calls: expected a whole number >= 1, got 0"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2(argv, says):
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", "run", "q?", *argv], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("langgraph-ttc run: error: ") and says in lines[0]
    assert "usage:" not in done.stderr and "langgraph-ttc run --help" in lines[0]


def test_help_shows_no_contradictory_defaults():
    for command in ("run", "curves", "calibrate", "compare", "plot"):
        done = subprocess.run(
            [sys.executable, "-m", "langgraph_ttc", command, "--help"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0
        text = " ".join(done.stdout.split())  # help wraps lines
        assert "(default: None)" not in text and "(default: False)" not in text, command
    # the values that apply are still said once each
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", "run", "--help"], capture_output=True, text=True
    )
    text = " ".join(done.stdout.split())
    assert "sampling temperature (0.7)" in text and text.count("(default: majority)") == 1


def test_verbose_after_the_subcommand(capsys, instant_server):
    from langgraph_ttc.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "-v", "q"]).verbose is True
    assert parser.parse_args(["-v", "run", "q"]).verbose is True
    assert parser.parse_args(["run", "q"]).verbose is False
    code, out, _ = run_cli(capsys, "run", "-v", "What is 2 + 2?", *server_args(instant_server))
    assert code == 0 and out.startswith("answer:")


def test_progress_marks_each_sample_against_the_reference(capsys):
    replies = {0: "The answer is 4.", 1: "The answer is 5.", 2: "The answer is 4."}
    with InstantServer(reply=lambda prompt, seed, index: replies[index % 3]) as server:
        code, out, err = run_cli(
            capsys, "run", "What is 2 + 2?", *server_args(server), "--n", "3", "--seed", "0",
            "--progress", "--reference", "4",
        )  # fmt: skip
    assert code == 0
    samples = [line for line in err.splitlines() if line.startswith("  sample ")]
    assert len(samples) == 3
    marks = [line.rsplit(" ", 1)[-1] for line in samples]
    assert sorted(marks) == ["right", "right", "wrong"]
    assert all(("4  right" in s) or ("5  wrong" in s) for s in samples)
    assert "single samples right 2 of 3" in out


def test_progress_without_a_reference_marks_nothing(capsys, instant_server):
    code, _, err = run_cli(
        capsys, "run", "q?", *server_args(instant_server), "--n", "2", "--progress"
    )
    assert code == 0
    assert not any(line.endswith(("right", "wrong")) for line in err.splitlines())


def test_long_texts_end_with_an_ellipsis_and_answers_keep_their_case(capsys):
    long = "The capital city of the country asked about is in the north. The answer is Paris."
    with InstantServer(reply=lambda prompt, seed, index: long) as server:
        code, out, _ = run_cli(
            capsys, "run", "What is the capital of France?", *server_args(server), "--n", "2"
        )
    assert code == 0
    assert out.startswith("answer: Paris ")  # votes compare "paris"; the display keeps "Paris"
    rows = [line for line in out.splitlines() if line.startswith(("  0 ", "  1 "))]
    assert len(rows) == 2
    for row in rows:
        assert row.endswith("…") and "  Paris  " in row
        assert len(row.split("  ")[-1]) <= 50


def test_an_empty_question_is_refused_before_any_model_loads(capsys, monkeypatch):
    import langgraph_ttc.cli.run as run_module

    def no_backend(args):
        raise AssertionError("the model was loaded for an empty question")

    monkeypatch.setattr(run_module, "backend_from_args", no_backend)
    code, out, err = run_cli(capsys, "run", "  ")  # --model local: the embedded model
    assert code == 2 and out == ""
    assert err.strip() == "error: The question is empty: pass a question with some text in it."


def test_an_empty_endpoint_says_why_before_and_instead_of_empty_rows():
    with InstantServer(reply=lambda prompt, seed, index: "") as server:
        done = subprocess.run(
            [sys.executable, "-m", "langgraph_ttc", "run", "What is 7 + 5?", "--base-url",
             server.base_url, "--model", server.model, "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    why = next(i for i, line in enumerate(lines) if line.startswith("no answer: "))
    assert "came back empty" in lines[why] and "--mode completion" in lines[why]
    assert "(all 8 samples came back empty)" in done.stdout
    assert why < next(i for i, line in enumerate(lines) if line.startswith("answer: "))
    assert not any(line.startswith("  0 ") for line in lines)  # no row per empty sample


def test_adaptive_plan_says_probes_then_policy_and_its_whole_budget(capsys, instant_server):
    code, out, err = run_cli(
        capsys, "run", "What is 2 + 2?", *server_args(instant_server), "--strategy", "adaptive"
    )
    assert code == 0
    first = next(line for line in err.splitlines() if line.startswith("model: "))
    assert "4 probes, then the plan the policy gives their difficulty bin" in first
    assert first.endswith("at most 16 calls")
    plan = next(line for line in out.splitlines() if line.startswith("plan: "))
    assert plan.count("width=") == 1 and plan.count("depth=") == 1  # said once
    difficulty = next(line for line in out.splitlines() if line.startswith("difficulty: "))
    assert difficulty.startswith("difficulty: bin ") and "4 probes, agreement " in difficulty
    assert "{" not in difficulty and "None" not in difficulty
    calls = int(out.split("usage: ", 1)[1].split(" calls", 1)[0])
    assert 4 <= calls <= 16


def test_confidence_says_what_it_means_per_method(capsys, instant_server):
    code, out, _ = run_cli(capsys, "run", "What is 2 + 2?", *server_args(instant_server))
    assert code == 0
    assert "(confidence " in out and ": its share of the votes; " in out
    assert " of 8 samples gave it)" in out
    code, out, _ = run_cli(
        capsys, "run", "What is 2 + 2?", *server_args(instant_server), "--strategy",
        "confidence_vote", "--n", "4",
    )  # fmt: skip
    assert code == 0 and "its share of the votes weighted by token confidence" in out
    from langgraph_ttc.cli.run import answer_line

    online = {
        "answer": "4", "confidence": 1.0, "method": "confidence_weighted",
        "plan": {"method": "deepconf_online", "options": {"threshold": 2.5}},
        "candidates": [{"answer": "4", "text": "The answer is 4.", "ok": True, "step": 0}] * 3
        + [{"answer": "5", "text": "The answer is 5.", "ok": True, "step": 0}],
    }  # fmt: skip
    line = answer_line(online)  # beside 3 of 4 samples: the vote among the traces kept
    assert "of the traces at or above the warm-up's threshold; 3 of 4 samples gave it" in line


def test_deepconf_online_with_n_at_most_the_warmup_says_it_cannot_stop(capsys, caplog):
    from langgraph_ttc.methods import DeepConfOnline

    with caplog.at_level("WARNING", logger="langgraph_ttc.methods.deepconf_online"):
        DeepConfOnline(n=5, warmup=5)
        DeepConfOnline(n=5, warmup=5, eta=90)  # said once per n and warm-up
    assert caplog.text.count("not above warmup") == 1
    assert "n=5 is not above warmup=5" in caplog.text and "none can stop early" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="langgraph_ttc.methods.deepconf_online"):
        DeepConfOnline(n=32)
    assert caplog.text == ""
    # On the command line the warning is one plain line on stderr.
    with InstantServer() as server:
        done = subprocess.run(
            [sys.executable, "-m", "langgraph_ttc", "run", "What is 2 + 2?", "--base-url",
             server.base_url, "--model", server.model, "--strategy", "deepconf_online",
             "--n", "16", "--max-tokens", "16"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    warning = [line for line in done.stderr.splitlines() if "not above warmup" in line]
    assert len(warning) == 1 and warning[0].startswith("deepconf_online: n=16")
    assert "e.g. --n 32" in warning[0]
