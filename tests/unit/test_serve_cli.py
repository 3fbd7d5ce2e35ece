"""`langgraph-ttc serve` as a command: its flags reach the app, and the process serves."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

from langgraph_ttc.cli.arguments import build_parser
from langgraph_ttc.cli.serve import app_from_args
from langgraph_ttc.testing.instant_server import InstantServer
from langgraph_ttc.testing.processes import free_port, stop_process_group


def test_flags_reach_the_app(instant_server):
    args = build_parser().parse_args(
        ["serve", "--backend", instant_server.base_url, "--model", "instant",
         "--strategy", "filter_vote", "--n", "4", "--max-calls", "12", "--api-key", "k",
         "--max-choices", "2"]
    )  # fmt: skip
    server = app_from_args(args).state.ttc
    assert server.default == {"progress": False, "strategy": "filter_vote", "n": 4}
    assert server.limits.max_calls == 12 and server.limits.max_choices == 2
    assert server.api_keys == ["k"] and server.engine.base.model_id == "instant"


def test_the_command_serves_until_stopped():
    with InstantServer() as upstream:
        port = free_port()
        command = [sys.executable, "-m", "langgraph_ttc", "serve", "--backend", upstream.base_url,
                   "--port", str(port), "--strategy", "majority", "--n", "3"]  # fmt: skip
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            banner = process.stderr.readline()
            assert f"http://127.0.0.1:{port}/v1" in banner and "default method: majority" in banner
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except OSError:
                    assert time.monotonic() < deadline and process.poll() is None
                    time.sleep(0.1)
            body = json.dumps(
                {"model": "instant", "messages": [{"role": "user", "content": "What is 1 + 1?"}]}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                body,
                {"Content-Type": "application/json"},
            )
            reply = json.load(urllib.request.urlopen(request, timeout=30))
        finally:
            stop_process_group(process)
    assert reply["ttc"]["calls"] == 3  # the server's default method
