"""What the OpenAI-compatible server adds per request: ``majority@8`` through
``langgraph-ttc serve`` against the same graph called in-process, both over the instant server
(ignoring ``n``: 8 requests per question) in its own process; optillm's proxy in the same run
when it is installed.

python benchmarks/serve_overhead.py [--requests 300] [--optillm /path/to/venv/bin/optillm]

For each contender: p50 and p99 latency per request (sequential requests, one keep-alive
connection, after a warm-up; contenders interleaved in blocks of 25) and CPU per request.
In-process: the benchmark's own CPU (the graph and its HTTP requests), on asyncio's loop and on
uvloop's (the loop uvicorn runs the server on). Served: the server process's CPU (from /proc),
and the client's beside it. Overhead = served - in-process (asyncio). Target (issue 26):
<= 2 ms p50 at majority@8.
optillm's ``majority_voting`` asks the upstream once with ``n=k``; the instant server ignores
``n``, so optillm votes over one sample per request (its CPU is measured the same way).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf.servers import InstantProcess, checkout_env  # noqa: E402

from langgraph_ttc import OpenAICompatibleBackend, create_ttc_graph  # noqa: E402
from langgraph_ttc.testing.processes import free_port, stop_process_group  # noqa: E402

N = 8
WARM_UP = 30
BLOCK = 25  # requests per contender per round
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a process and its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def question(i: int) -> str:
    return f"What is {i} + {i + 3}?"


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1000, p99 * 1000


class InProcess:
    """The graph called in this process, on one event loop (asyncio's, or uvloop's as uvicorn
    uses it)."""

    def __init__(self, name: str, base_url: str, loop_factory=None) -> None:
        self.name = name
        self.runner = asyncio.Runner(loop_factory=loop_factory)
        backend = OpenAICompatibleBackend(base_url, "instant", honours_n=False)
        self.graph = create_ttc_graph(backend, "majority", n=N)
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.block(0, WARM_UP, timed=False)

    def block(self, start: int, count: int, timed: bool = True) -> None:
        self.runner.run(self._block(start, count, timed))

    async def _block(self, start: int, count: int, timed: bool) -> None:
        cpu0 = cpu_self()
        for i in range(start, start + count):
            began = time.perf_counter()
            out = await self.graph.ainvoke({"question": question(i)})
            if timed:
                self.latencies.append(time.perf_counter() - began)
            assert out["ttc_result"]["usage"]["calls"] == N
        if timed:
            self.cpu += cpu_self() - cpu0

    def row(self) -> dict:
        p50, p99 = percentiles(self.latencies)
        return {"contender": self.name, "p50_ms": p50, "p99_ms": p99,
                "cpu_ms_per_request": self.cpu / len(self.latencies) * 1000}  # fmt: skip

    def close(self) -> None:
        self.runner.close()


class Served:
    """A server process and a keep-alive connection to it."""

    def __init__(self, command: list[str], port: int, health: str, env: dict) -> None:
        self.port = port
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with code {self.process.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.2)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: dict) -> dict:
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer EMPTY"}
        try:
            self.connection.request("POST", path, payload, headers)
            reply = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # A server that closes idle keep-alive connections (Flask's): reconnect, and the
            # reconnection is part of what a client of it pays.
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self.connection.request("POST", path, payload, headers)
            reply = self.connection.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"HTTP {reply.status}: {data[:300]!r}")
        return json.loads(data)

    def close(self) -> None:
        stop_process_group(self.process)


class OverHTTP:
    """A served contender: requests over one keep-alive connection, its server's CPU."""

    def __init__(self, name: str, served: Served, body_of, check) -> None:
        self.name, self.served, self.body_of, self.check = name, served, body_of, check
        self.latencies: list[float] = []
        self.cpu = self.client_cpu = 0.0
        for i in range(WARM_UP):
            served.post("/v1/chat/completions", body_of(i))

    def block(self, start: int, count: int) -> None:
        server0, client0 = cpu_of(self.served.process.pid), cpu_self()
        for i in range(start, start + count):
            began = time.perf_counter()
            reply = self.served.post("/v1/chat/completions", self.body_of(i))
            self.latencies.append(time.perf_counter() - began)
            self.check(reply)
        self.cpu += cpu_of(self.served.process.pid) - server0
        self.client_cpu += cpu_self() - client0

    def row(self) -> dict:
        p50, p99 = percentiles(self.latencies)
        done = len(self.latencies)
        return {"contender": self.name, "p50_ms": p50, "p99_ms": p99,
                "cpu_ms_per_request": self.cpu / done * 1000,
                "client_cpu_ms_per_request": self.client_cpu / done * 1000}  # fmt: skip

    def close(self) -> None:
        self.served.close()


def ours(base_url: str) -> OverHTTP:
    port = free_port()
    command = [sys.executable, "-m", "langgraph_ttc", "serve", "--backend", base_url,
               "--model", "instant", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    served = Served(command, port, "/health", checkout_env())

    def body(i: int) -> dict:
        return {"model": f"majority@{N}/instant",
                "messages": [{"role": "user", "content": question(i)}]}  # fmt: skip

    def check(reply: dict) -> None:
        assert reply["ttc"]["calls"] == N, reply["ttc"]

    return OverHTTP("langgraph-ttc serve", served, body, check)


def optillm(binary: str, base_url: str) -> OverHTTP:
    port = free_port()
    env = dict(os.environ, OPENAI_API_KEY="EMPTY")
    env.pop("OPTILLM_API_KEY", None)  # that one switches optillm to local inference
    command = [binary, "--base-url", base_url, "--port", str(port), "--host", "127.0.0.1",
               "--log", "warning"]  # fmt: skip
    served = Served(command, port, "/health", env)

    def body(i: int) -> dict:
        return {"model": "instant", "messages": [{"role": "user", "content": question(i)}],
                "optillm_approach": "majority_voting", "k": N}  # fmt: skip

    def check(reply: dict) -> None:
        assert reply["choices"][0]["message"]["content"], reply

    return OverHTTP("optillm (majority_voting)", served, body, check)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per contender")
    parser.add_argument(
        "--optillm",
        default=os.environ.get("OPTILLM_BIN") or "/tmp/optillm-venv/bin/optillm",
        help="optillm's command (skipped, and said so, when it is not installed)",
    )
    args = parser.parse_args(argv)
    rows, contenders = [], []
    with InstantProcess(honour_n=False) as upstream:
        try:
            import uvloop  # what uvicorn runs on when it is installed
        except ImportError:
            uvloop = None
        contenders.append(InProcess("in-process (asyncio)", upstream.base_url))
        if uvloop is not None:
            contenders.append(
                InProcess("in-process (uvloop)", upstream.base_url, uvloop.new_event_loop)
            )
        contenders.append(ours(upstream.base_url))
        missing = None
        if Path(args.optillm).exists():
            try:
                contenders.append(optillm(args.optillm, upstream.base_url))
            except (RuntimeError, OSError) as exc:
                missing = {"contender": "optillm", "error": str(exc)}
        else:
            missing = {"contender": "optillm", "error": f"not installed ({args.optillm})"}
        try:
            # Interleaved blocks, the order rotated per round: drift on a shared machine hits
            # every contender alike.
            done = 0
            failed: dict = {}
            while done < args.requests:
                size = min(BLOCK, args.requests - done)
                shift = (done // BLOCK) % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    if contender not in failed:
                        try:
                            contender.block(1000 + done, size)
                        except (RuntimeError, OSError, AssertionError) as exc:
                            failed[contender] = (
                                f"failed after {len(contender.latencies)} requests: {exc!r}"[:300]
                            )
                done += size
            rows = [
                {"contender": c.name, "error": failed[c]} if c in failed else c.row()
                for c in contenders
            ]
        finally:
            for contender in contenders:
                contender.close()
        if missing:
            rows.append(missing)
    base = rows[0]
    print(f"majority@{N} over the instant server (ignores n), {args.requests} sequential requests")
    print(f"{'contender':<28}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'overhead p50':>14}")
    for row in rows:
        if "error" in row:
            print(f"{row['contender']:<28}  {row['error']}")
            continue
        extra = row["p50_ms"] - base["p50_ms"]
        print(
            f"{row['contender']:<28}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
            f"{row['cpu_ms_per_request']:>12.2f}{extra:>+14.2f}"
        )
    for row in rows:
        if "error" not in row:
            row["overhead_p50_ms"] = row["p50_ms"] - base["p50_ms"]
            row["overhead_cpu_ms"] = row["cpu_ms_per_request"] - base["cpu_ms_per_request"]
    print(json.dumps({"n": N, "requests": args.requests, "rows": rows}))


if __name__ == "__main__":
    main()
