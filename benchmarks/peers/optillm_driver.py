"""optillm's ``majority_voting`` approach through its proxy, against SPEC's server.

<peer venv>/bin/python benchmarks/peers/optillm_driver.py SPEC_JSON   (prints one JSON line)

Starts the optillm proxy (Flask, its own process) pointed at SPEC's server, sends each question
once with ``optillm_approach="majority_voting"`` and ``k=N``, and stops the proxy. Peak memory
is the proxy's plus this client's. The plugin asks upstream for ``n=k`` in ONE request and sends
no seed; a server that ignores ``n`` (llama.cpp) returns one choice, so the vote is over one
sample: ``calls`` reports the samples the answers rest on, as the proxy reports them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

started = time.perf_counter()

from _common import WARM_UP, cpu_s, emit, last_number, peak_rss_mb, spec_from_argv, warmed_up  # noqa: E402
from openai import OpenAI  # noqa: E402

STARTUP_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_proxy(upstream: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, OPENAI_API_KEY="EMPTY")
    env.pop("OPTILLM_API_KEY", None)  # that one switches optillm to local inference
    command = [
        str(Path(sys.executable).with_name("optillm")),
        "--base-url",
        upstream,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--log",
        "warning",
    ]
    proxy = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proxy.poll() is not None:
            raise RuntimeError(f"optillm exited with code {proxy.returncode}")
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return proxy, url + "/v1"
        except OSError:
            time.sleep(0.25)
    stop(proxy)
    raise RuntimeError("optillm did not start")


def stop(proxy: subprocess.Popen) -> None:
    if proxy.poll() is None:
        os.killpg(proxy.pid, signal.SIGTERM)
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proxy.pid, signal.SIGKILL)
            proxy.wait()


def main() -> None:
    spec = spec_from_argv()
    proxy, base_url = start_proxy(spec["base_url"])
    try:
        client = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600)

        def ask(question: str):
            return client.chat.completions.create(
                model=spec["model"],
                messages=[{"role": "user", "content": question}],
                temperature=spec["temperature"],
                max_tokens=spec["max_tokens"],
                extra_body={"optillm_approach": "majority_voting", "k": spec["n"]},
            )

        ask(WARM_UP)  # untimed, like every contender
        warmed_up()
        began, cpu0 = time.perf_counter(), cpu_s()
        answers, completion_tokens = [], 0
        for question in spec["questions"]:
            reply = ask(question)
            completion_tokens += (reply.usage.completion_tokens or 0) if reply.usage else 0
            answers.append(last_number(reply.choices[0].message.content))
        wall, cpu = time.perf_counter() - began, cpu_s() - cpu0
        proxy_rss = peak_rss_mb(proxy.pid)
    finally:
        stop(proxy)
    emit(
        {
            "contender": "optillm",
            "wall_s": wall,
            "cpu_s": cpu,  # the client only; the proxy's CPU is not visible from here
            "answers": answers,
            "calls": None,
            "requests": None,
            "completion_tokens": completion_tokens,
            "peak_rss_mb": round(peak_rss_mb() + proxy_rss, 1),
            "proxy_rss_mb": round(proxy_rss, 1),
        },
        started,
    )


if __name__ == "__main__":
    main()
