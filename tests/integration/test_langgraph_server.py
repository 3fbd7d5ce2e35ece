"""graphs/ served by a real ``langgraph dev`` (in-memory server), called with ``langgraph_sdk``.

The fixture starts ``python -m langgraph_cli dev --config graphs/langgraph.json`` on a free port of
127.0.0.1 in its own process group, with the embedded model, tiny sizes (``TTC_N=2``,
``TTC_MAX_TOKENS=32``) and everything that would phone home switched off, and always stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from langgraph_ttc.testing.processes import die_with_parent, free_port, log_tail, stop_process_group

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "graphs" / "langgraph.json"
STARTUP_TIMEOUT_S = 120.0
N = 2
# Calls one question may cost at TTC_N=N: the best-of-N graphs add one judge call per sample.
MAX_CALLS = {
    "majority": N,
    "filter_vote": N,
    "best_of_n": 2 * N,
    "weighted_best_of_n": 2 * N,
    "revise": N,
    "adaptive": N,
}
STRATEGIES = set(MAX_CALLS)
SERVER_LOG: dict[str, str] = {}  # the running server's log file, for tests that read it


def _server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TTC_MODEL", "TTC_BASE_URL")}
    env.update(
        TTC_N=str(N),
        TTC_MAX_TOKENS="32",
        LANGSMITH_TRACING="false",
        LANGCHAIN_TRACING_V2="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1",
        LANGGRAPH_NO_VERSION_CHECK="true",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def langgraph_url() -> Iterator[str]:
    """The URL of a ``langgraph dev`` server serving graphs/langgraph.json."""
    port = free_port()
    command = [
        sys.executable, "-m", "langgraph_cli", "dev",
        "--config", str(CONFIG),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--no-browser",
        "--no-reload",
    ]  # fmt: skip
    with tempfile.NamedTemporaryFile(prefix="langgraph-dev-", suffix=".log", delete=False) as log:
        log_path = log.name
    SERVER_LOG["path"] = log_path
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # stopped by the kernel if pytest is killed
        )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"langgraph dev exited with code {process.returncode}:\n{log_tail(log_path)}"
                )
            if time.monotonic() - started > STARTUP_TIMEOUT_S:
                pytest.fail(
                    f"langgraph dev did not answer {url}/ok within {STARTUP_TIMEOUT_S:.0f}s:\n"
                    f"{log_tail(log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.25)
        yield url
    finally:
        stop_process_group(process)
        with contextlib.suppress(OSError):
            os.unlink(log_path)


def _client(url: str):
    return get_client(url=url, api_key=None, timeout=300)


async def test_serves_one_graph_per_strategy(langgraph_url):
    assistants = await _client(langgraph_url).assistants.search(limit=50)
    assert {a["graph_id"] for a in assistants} == STRATEGIES


async def test_stateless_run_answers_within_budget(langgraph_url):
    out = await _client(langgraph_url).runs.wait(
        None, "majority", input={"question": "What is 2 + 3?"}
    )

    result = out["ttc_result"]
    assert "answer" in result
    assert result["strategy"] == "majority"
    assert 1 <= result["usage"]["calls"] <= N
    assert result["usage"]["by_purpose"]["generate"]["calls"] == result["usage"]["calls"]
    assert len(result["candidates"]) == result["usage"]["calls"]
    last = out["messages"][-1]
    assert last["type"] == "ai"
    assert last["response_metadata"]["ttc"]["answer"] == result["answer"]
    assert set(out) == {"messages", "ttc_result"}, "private ttc_* channels leaked"


async def test_a_stateless_run_logs_no_warning(langgraph_url):
    """No `durability has no effect when no checkpointer is present` UserWarning (the server
    passes a durability mode to runs that have no thread, as the README's example does)."""
    await _client(langgraph_url).runs.wait(None, "majority", input={"question": "What is 1 + 1?"})
    await asyncio.sleep(0.5)  # the server's log is unbuffered; give it a moment to land
    log = Path(SERVER_LOG["path"]).read_text(errors="replace")
    assert "durability" not in log and "UserWarning" not in log, log[-2000:]


async def test_thread_run_appends_one_ai_message(langgraph_url):
    client = _client(langgraph_url)
    thread = await client.threads.create()
    question = {"type": "human", "content": "What is 4 + 4?"}

    out = await client.runs.wait(thread["thread_id"], "majority", input={"messages": [question]})

    assert [m["type"] for m in out["messages"]] == ["human", "ai"]
    assert out["ttc_result"]["usage"]["calls"] <= N
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["messages"][-1]["id"] == out["messages"][-1]["id"]


@pytest.mark.parametrize("graph_id", sorted(STRATEGIES - {"majority"}))
async def test_every_strategy_graph_answers_within_budget(langgraph_url, graph_id):
    out = await _client(langgraph_url).runs.wait(
        None, graph_id, input={"question": "What is 6 + 1?"}
    )

    result = out["ttc_result"]
    assert result["strategy"] == graph_id
    assert "answer" in result
    usage = result["usage"]
    assert 1 <= usage["calls"] <= MAX_CALLS[graph_id]
    assert sum(p["calls"] for p in usage["by_purpose"].values()) == usage["calls"]
    assert out["messages"][-1]["type"] == "ai"


CONCURRENT_RUNS = 8  # each reply matched to its own request; 16 generations on the embedded model


async def test_concurrent_stateless_runs_all_complete(langgraph_url):
    client = _client(langgraph_url)
    questions = [f"What is {i} + {i + 1}?" for i in range(CONCURRENT_RUNS)]

    outs = await asyncio.gather(
        *(
            client.runs.wait(
                None, "majority", input={"messages": [{"type": "human", "content": q}]}
            )
            for q in questions
        )
    )

    assert len(outs) == CONCURRENT_RUNS
    for question, out in zip(questions, outs, strict=True):
        result = out["ttc_result"]
        assert result["strategy"] == "majority" and "answer" in result
        assert 1 <= result["usage"]["calls"] <= N
        assert len(result["candidates"]) == result["usage"]["calls"]
        assert result["failed"] == []
        human, ai = out["messages"]
        assert human["content"] == question  # each reply belongs to its own request
        assert ai["type"] == "ai" and ai["response_metadata"]["ttc"]["answer"] == result["answer"]
    assert len({out["messages"][-1]["id"] for out in outs}) == CONCURRENT_RUNS


def test_readme_sdk_example_runs_as_written(langgraph_url, capsys):
    """The README's `langgraph dev` example, pointed at this server's port."""
    import re

    readme = (ROOT / "README.md").read_text()
    (code,) = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "get_sync_client" in b
    ]
    code = code.replace("http://127.0.0.1:2024", langgraph_url)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    assert capsys.readouterr().out.strip()  # the answer (the weak model may be wrong: data)


def test_the_openai_endpoint_is_mounted_beside_the_graphs(langgraph_url):
    """graphs/langgraph.json mounts `langgraph-ttc serve`'s app (http.app): any OpenAI client
    gets test-time compute from the same LangGraph server."""
    import openai

    client = openai.OpenAI(base_url=f"{langgraph_url}/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="majority@2",
        messages=[{"role": "user", "content": "What is 2 + 3?"}],
        max_tokens=32,
    )
    ttc = reply.model_extra["ttc"]
    assert ttc["calls"] == 2 and ttc["by_purpose"]["generate"]["calls"] == 2
    assert reply.usage.completion_tokens > 0 and reply.choices[0].message.content
    assert "majority/" in " ".join(m.id for m in client.models.list().data)
