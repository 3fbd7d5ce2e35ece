"""Reasoning models on the command line: --reasoning, --thinking-control and --thinking-budget
reach the server as each knob is documented (backends/reasoning.py); the table shows thinking
apart; curves put thinking or total tokens on the x axis."""

from __future__ import annotations

import json

import pytest

from langgraph_ttc.backends.base import DEFAULT_THINKING_TOKENS
from langgraph_ttc.backends.reasoning import THINKING_CONTROLS
from langgraph_ttc.cli import main
from langgraph_ttc.cli.arguments import THINKING_CONTROLS as CLI_CONTROLS
from langgraph_ttc.cli.arguments import X_AXES, build_parser
from langgraph_ttc.scaling.plots import X_AXES as PLOT_AXES
from langgraph_ttc.testing.instant_server import InstantServer

QUESTION = "What is 2 + 2?"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def vllm():
    with InstantServer(reasoning="vllm") as server:
        yield server


def served(server: InstantServer) -> list[str]:
    return ["--base-url", server.base_url, "--model", server.model]


def test_the_cli_spells_the_knobs_as_the_library_names_them():
    assert (*THINKING_CONTROLS, "force") == CLI_CONTROLS
    assert tuple(PLOT_AXES) == X_AXES
    args = build_parser().parse_args(["run", "q", "--thinking-budget", "0", "--no-reasoning"])
    assert (args.thinking_budget, args.reasoning, args.thinking_control) == (0, False, None)


def test_the_thinking_budget_reaches_vllm_and_the_table_shows_thinking(capsys, vllm):
    before = len(vllm.stats.bodies)
    code, out, _ = run_cli(
        capsys, "run", QUESTION, *served(vllm), "--n", "2", "--thinking-budget", "3",
        "--thinking-control", "vllm",
    )  # fmt: skip
    assert code == 0
    (body,) = vllm.stats.bodies[before:]
    assert body["thinking_token_budget"] == 3 and body["max_tokens"] == 256 + 3
    assert "thinking +" in out and "answer)" in out  # "(N thinking + M answer)"


def test_reasoning_leaves_room_to_think(capsys, vllm):
    before = len(vllm.stats.bodies)
    code, out, _ = run_cli(capsys, "run", QUESTION, *served(vllm), "--n", "1", "--reasoning",
                           "--json")  # fmt: skip
    assert code == 0
    assert vllm.stats.bodies[before]["max_tokens"] == 256 + DEFAULT_THINKING_TOKENS
    result = json.loads(out)
    assert result["usage"]["thinking_tokens"] > 0 and result["truncated_in_thinking"] == 0


def test_force_wraps_a_text_endpoint_in_budget_forcing(capsys, vllm):
    code, out, _ = run_cli(
        capsys, "run", QUESTION, *served(vllm), "--mode", "completion", "--n", "1",
        "--thinking-control", "force", "--thinking-budget", "5", "--json",
    )  # fmt: skip
    assert code == 0
    (candidate,) = json.loads(out)["candidates"]
    assert candidate["thinking_tokens"] == 5 and candidate["text"].startswith("The answer is")


def test_the_local_model_takes_no_server_control(capsys):
    code, _, err = run_cli(capsys, "run", QUESTION, "--model", "local",
                           "--thinking-control", "vllm")  # fmt: skip
    assert code == 2 and "--thinking-control force" in err


def test_curves_plot_thinking_or_total_tokens(capsys, tmp_path, vllm):
    task = tmp_path / "qa.jsonl"
    task.write_text(
        "\n".join(json.dumps({"question": f"What is {a} + 1?", "answer": a + 1}) for a in (2, 3))
    )
    out_dir = tmp_path / "curves"
    code, out, _ = run_cli(
        capsys, "curves", "--task", f"jsonl:{task}", "--size", "2", "--k-max", "2",
        "--strategies", "coverage,majority", "--out", str(out_dir), *served(vllm),
        "--reasoning", "--thinking-control", "vllm", "--thinking-budget", "6",
        "--n-boot", "10", "--no-progress", "--no-plot",
    )  # fmt: skip
    assert code == 0 and "thinking:" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["thinking"]["thinking_budget"] == 6
    assert 0 < summary["thinking"]["mean_thinking_tokens"] <= 6 + 2  # the forced tags
    majority = summary["strategies"]["majority"]
    assert majority[1]["mean_thinking_tokens"] == pytest.approx(
        2 * majority[0]["mean_thinking_tokens"]
    )
    assert run_cli(capsys, "plot", str(out_dir), "--x", "thinking-tokens")[0] == 0
    assert (out_dir / "curves-thinking-tokens.png").stat().st_size > 0
