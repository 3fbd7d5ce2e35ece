"""The README's set-up commands and its Python examples stay true: each example runs as written.

Where an example needs something this machine cannot have (a hosted model, a vLLM server), the
test puts a local stand-in behind the same names and says so: a scripted chat model as
``langchain_openai.ChatOpenAI``, the instant server in its vLLM reasoning mode at the example's URL.
The ``langgraph dev`` example runs in tests/integration/test_langgraph_server.py.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

from langgraph_ttc.testing import FakeToolCallingModel
from langgraph_ttc.testing_server import InstantServer

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


def test_every_python_example_is_tested():
    markers = [
        "agent.add_node",
        "as_runnable",
        "TTCChatModel(model=ChatOpenAI",
        "TTCMiddleware(",
        "DeepConfOnline(",
        "reasoning=True",
        "get_sync_client",
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
    run_block(block("as_runnable"))
    printed = capsys.readouterr().out.strip()
    replies = eval(printed)  # noqa: S307 - the example prints a list of strings
    assert isinstance(replies, list) and len(replies) == 2
    assert all(isinstance(r, str) for r in replies)


def adder(messages, seed):
    """A stand-in for a hosted tool-calling model: calls add(7, 5), then reads the result."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return f"The answer is {last.content}."
    return AIMessage("", tool_calls=[{"name": "add", "args": {"a": 7, "b": 5}, "id": f"c{seed}"}])


class StandInChatOpenAI(FakeToolCallingModel):
    """Takes ChatOpenAI's ``model=`` argument; answers by :func:`adder`."""

    model: str = "stand-in"
    script: object = adder


def test_chat_model_example_runs_in_create_agent(capsys, monkeypatch):
    # Stand-in: no hosted model or langchain-openai here; the example runs as written against it.
    monkeypatch.setitem(
        sys.modules, "langchain_openai", types.SimpleNamespace(ChatOpenAI=StandInChatOpenAI)
    )
    namespace = run_block(block("TTCChatModel(model=ChatOpenAI"))
    assert capsys.readouterr().out.strip() == "The answer is 12."
    assert namespace["model"].n == 5


@tool
def buy(item: str, quantity: int, request_id: str = "") -> str:
    """Buy some units of an item."""
    return f"Bought {quantity} {item}."


def shopper(messages, seed):
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return last.content
    args = {"item": "apples", "quantity": 2, "request_id": f"r{seed}"}
    return AIMessage("", tool_calls=[{"name": "buy", "args": args, "id": f"b{seed}"}])


def test_middleware_example_votes_and_keeps_a_ledger(capsys):
    namespace = {"model": FakeToolCallingModel(script=shopper), "tools": [buy]}
    namespace = run_block(block("TTCMiddleware("), namespace)
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


def test_serve_commands_run_as_written(capsys):
    """The "Serve it" commands: `langgraph-ttc serve` (on a free port instead of 8000), then
    the openai SDK example against it, as written."""
    import subprocess
    import time
    import urllib.request

    from langgraph_ttc.testing_server import free_port, stop_process_group

    (start,) = re.findall(
        r"^pip install -c constraints.txt -e '\.\[local,serve\]' && (langgraph-ttc serve)$",
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
    text, tally_and_tokens = capsys.readouterr().out.strip().rsplit("\n", 1)
    assert text  # the voted reply (the weak model's answer is data)
    tally, tokens = tally_and_tokens.rsplit(" ", 1)
    assert sum(eval(tally).values()) <= 4 and int(tokens) > 0  # noqa: S307 - printed dict
