"""The README's set-up commands and its Python examples stay true: each example runs as written.

The agent examples carry their own named stand-in (a scripted ``FakeToolCallingModel``) and run
as written. Where an example needs a server this machine cannot have (vLLM), the test puts a
local stand-in at the example's URL and says so: the instant server in its vLLM reasoning mode.
The ``langgraph dev`` example runs in tests/integration/test_langgraph_server.py.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_ttc.testing.instant_server import InstantServer

pytestmark = pytest.mark.integration

README = (Path(__file__).parents[2] / "README.md").read_text()
CI_SCRIPT = (Path(__file__).parents[2] / ".ci" / "run").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block(containing: str) -> str:
    """The one README Python example that contains ``containing``."""
    found = [b for b in BLOCKS if containing in b]
    assert len(found) == 1, f"{len(found)} README examples contain {containing!r}"
    return found[0]


def run_block(code: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"^(?:python -m )?pip install .*$", README, re.M)
    assert len(commands) >= 2
    assert commands[1] in CI_SCRIPT


def test_the_first_command_shows_single_samples_against_the_vote():
    """The README's first command, as written (after its install), on the embedded model: it
    prints every sample, how many single samples were right and whether the vote was. The weak
    model's verdicts are data; the shape of the answer is what is checked."""
    command = re.search(r"^pip install .*'\.\[local\]' && langgraph-ttc (run .*)$", README, re.M)
    assert command, "the README's first command is `pip install ... && langgraph-ttc run ...`"
    argv = shlex.split(command[1])
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_ttc", *argv], capture_output=True, text=True,
        timeout=600, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: no sample gave an answer
    reference = argv[argv.index("--reference") + 1]
    found = re.search(
        rf"^reference {re.escape(reference)}: single samples right (\d+) of 8 \(\d+%\); "
        r"the vote \((.*)\) is (right|wrong)$",
        done.stdout,
        re.M,
    )
    assert found, done.stdout
    assert (found[3] == "right") == (found[2].lower() == reference.lower())
    rows = [line for line in done.stdout.splitlines() if re.match(r"^\s+\d+\s+\d+\s+0\s", line)]
    assert len(rows) == 8  # every sample shown
    assert "at most 8 calls" in done.stderr


def test_every_python_example_is_tested():
    markers = [
        "agent.add_node",
        'as_runnable("local", "majority"',
        "allocation=BatchAllocation(",
        "TTCChatModel(model=chat",
        "TTCMiddleware(",
        "DeepConfOnline(",
        "GenSelect(n=8)",
        "reasoning=True",
        "get_sync_client",
        "default_query=",
        "OpenAI(base_url=",
    ]
    assert len(BLOCKS) == len(markers)
    for marker in markers:
        block(marker)


def test_graph_example_runs_on_the_embedded_model(capsys):
    run_block(BLOCKS[0])
    printed = capsys.readouterr().out.strip()
    assert printed  # the chosen answer (the weak model may get it wrong; any answer is data)


def test_runnable_example_answers_both_questions(capsys):
    run_block(block('as_runnable("local", "majority"'))
    printed = capsys.readouterr().out.strip()
    replies = eval(printed)  # noqa: S307 - the example prints a list of strings
    assert isinstance(replies, list) and len(replies) == 2
    assert all(isinstance(r, str) for r in replies)


def test_batch_allocation_example_answers_every_question_within_the_total(capsys):
    namespace = run_block(block("allocation=BatchAllocation("))
    replies = eval(capsys.readouterr().out.strip())  # noqa: S307 - a list of strings
    assert len(replies) == len(namespace["questions"]) == 3
    assert all(isinstance(r, str) for r in replies)
    calls = [r.response_metadata["ttc_allocation"]["samples"] for r in namespace["replies"]]
    assert all(1 <= c <= 8 for c in calls) and sum(calls) <= 4 * 3  # cap each, budget in all


def test_chat_model_example_runs_in_create_agent_as_written(capsys):
    # Its stand-in is in the example itself: no hosted model, no key, no langchain-openai.
    namespace = run_block(block("TTCChatModel(model=chat"))
    assert capsys.readouterr().out.strip() == "The answer is 12."
    assert namespace["model"].n == 5


def test_middleware_example_votes_and_keeps_a_ledger_as_written(capsys):
    namespace = run_block(block("TTCMiddleware("))  # model and tools: the example's stand-in
    state = namespace["state"]
    ledger = state["ttc_ledger"]
    # Two model steps (the buy call, then the reply), three samples each; request_id ignored.
    assert ledger["steps"] == 2 and ledger["usage"]["calls"] == 6
    assert state["messages"][-1].content == "Bought 2 apples."
    assert "'steps': 2" in capsys.readouterr().out  # the example prints the ledger


def test_deepconf_example_runs_on_the_embedded_model(capsys):
    run_block(block("DeepConfOnline("))
    answer, threshold, tokens = capsys.readouterr().out.split()
    assert float(threshold) > 0 and int(tokens) > 0


def test_genselect_example_runs_on_the_embedded_model(capsys):
    run_block(block("GenSelect(n=8)"))
    answer, selections = capsys.readouterr().out.split()[-2:]
    assert int(selections) <= 1  # one selection among the 7 samples (none if one answered)


def test_reasoning_example_on_a_server_shaped_like_vllm():
    # Stand-in: the instant server answers as vLLM with a reasoning parser does (see
    # tests/unit/test_reasoning_backends.py for the documented shapes), at the example's URL.
    code = block("reasoning=True")
    with InstantServer(reasoning="vllm") as server:
        code = code.replace("http://127.0.0.1:8000/v1", server.base_url)
        code = code.replace('"Qwen/Qwen3-8B"', repr(server.model))
        namespace = run_block(code)
        result = namespace["graph"].invoke({"question": "What is 7 + 5?"})["ttc_result"]
        bodies = server.stats.bodies
    assert len(result["candidates"]) == 8
    assert all(c["thinking_tokens"] > 0 for c in result["candidates"])
    assert all("<think>" not in c["text"] for c in result["candidates"])
    assert all(b.get("thinking_token_budget") == 4096 for b in bodies)


def test_http_options_example_on_a_tls_server_shaped_like_azure(tmp_path, monkeypatch):
    # Stand-in: a TLS 1.3 server with a private CA at the example's host, path and CA file.
    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from http_servers import ScriptedServer, make_ca_and_server_cert

    from langgraph_ttc.backends import SamplingParams

    ca_file, context = make_ca_and_server_cert(tmp_path)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-123")
    code = block("default_query=")
    with ScriptedServer(tls=context) as server:
        root = server.base_url.rsplit("/v1", 1)[0]
        code = code.replace("https://my-resource.openai.azure.com", root)
        code = code.replace("/etc/ssl/corp-ca.pem", str(ca_file))
        backend = run_block(code)["backend"]
        draw = backend.sample([("human", "What is 2+3?")], 2, SamplingParams(seed=1))
    assert all(c.ok for c in draw.completions)
    assert server.counts.targets[0] == (
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    )
    assert b"api-key: azure-key-123" in server.counts.raw_heads[0]


def test_serve_commands_run_as_written(capsys):
    """The "Serve it" commands: `langgraph-ttc serve` (on a free port instead of 8000), then
    the openai SDK example against it, as written."""
    import subprocess
    import time
    import urllib.request

    from langgraph_ttc.testing.processes import free_port, stop_process_group

    (start,) = re.findall(
        r"^pip install -c constraints.txt -e '\.\[local,serve,openai\]' && (langgraph-ttc serve)$",
        README,
        re.M,
    )
    port = free_port()
    command = [sys.executable, "-m", "langgraph_ttc", *start.split()[1:], "--port", str(port)]
    server = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "langgraph-ttc serve exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "langgraph-ttc serve did not start"
                time.sleep(0.25)
        code = block("OpenAI(base_url=").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        run_block(code)
    finally:
        stop_process_group(server)
    text, tally_and_tokens, batch = capsys.readouterr().out.strip().rsplit("\n", 2)
    assert text  # the voted reply (the weak model's answer is data)
    tally, tokens = tally_and_tokens.rsplit(" ", 1)
    assert sum(eval(tally).values()) <= 4 and int(tokens) > 0  # noqa: S307 - printed dict
    # The batch: two prompts, at most 3 x 2 calls in all, each prompt 2 to 4 of them.
    spent, tokens = batch.rsplit(" ", 1)
    spent = eval(spent)  # noqa: S307 - a printed list
    assert len(spent) == 2 and sum(spent) <= 6 and all(2 <= s <= 4 for s in spent)
    assert int(tokens) > 0
