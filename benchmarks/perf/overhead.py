"""Section 1: framework overhead of majority@N, each contender in its own process.

Rounds are interleaved (every contender once per round, in a rotated order) so a machine whose
load drifts penalises nobody in particular; the median round is reported.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from perf import spread
from perf.servers import checkout_env
from perf.spread import quartiles

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent / "peers"
# setup.sh installs the peers into $PEERS_VENV when set, else benchmarks/peers/.venv.
PEER_PYTHON = Path(os.environ.get("PEERS_VENV") or PEERS / ".venv") / "bin" / "python"
OURS = ("floor", "graph", "graph_sync", "runnable")
PEER_DRIVERS = {"its_hub": "its_hub_driver.py", "optillm": "optillm_driver.py"}


def questions(count: int) -> list[str]:
    """Fixed arithmetic questions (the answers do not matter here, only the work).

    In ``Q: ... A:`` form because the embedded Gemma 3 270M is a base model: asked a bare
    question through the chat template it often ends its turn at once (0 tokens), which would
    measure nothing; this form makes it write its max_tokens.
    """
    return [f"Q: What is {7 + 3 * i} + {5 + 2 * i}?\nA:" for i in range(count)]


def peers_available() -> list[str]:
    """The peer libraries installed in the peers' venv (benchmarks/peers/setup.sh)."""
    if not PEER_PYTHON.exists():
        return []
    found = []
    for name in PEER_DRIVERS:
        probe = subprocess.run([str(PEER_PYTHON), "-c", f"import {name}"], capture_output=True)
        if probe.returncode == 0:
            found.append(name)
    return found


def run_contender(
    name: str, spec: dict, on_warm=None, timeout_s: float = 1800, checkouts: dict | None = None
) -> dict:
    """Run one contender; ``on_warm`` is called between its warm-up and its timed part.

    ``graph@base`` is ``graph`` importing ``langgraph_ttc`` from ``checkouts["base"]`` (another
    checkout, e.g. the commit before a change), so before and after run interleaved in one run.
    """
    contender, _, tag = name.partition("@")
    if name in PEER_DRIVERS:
        command = [str(PEER_PYTHON), str(PEERS / PEER_DRIVERS[name])]
        env = dict(os.environ, BENCH_HANDSHAKE="1")
    else:
        command = [sys.executable, str(HERE / "contenders.py"), contender]
        root = Path((checkouts or {})[tag]) if tag else None
        env = checkout_env(BENCH_HANDSHAKE="1", **({"root": root} if root else {}))
    process = subprocess.Popen(
        [*command, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first = process.stdout.readline()
    if first.strip() == "warm":
        if on_warm is not None:
            on_warm()
        process.stdin.write("go\n")
        process.stdin.flush()
        first = ""
    try:
        rest, errors = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return {"contender": name, "error": f"timed out after {timeout_s}s"}
    lines = (first + rest).strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"contender": name, "error": errors.strip().splitlines()[-1:]}
    return dict(json.loads(lines[-1]), contender=name)


def measure(
    server,
    contenders: list[str],
    spec: dict,
    rounds: int,
    log=print,
    checkouts: dict | None = None,
    runs: dict[str, list[dict]] | None = None,
) -> dict:
    """Median-of-rounds results per contender; ``server`` may count requests (``stats()``).
    ``runs`` (if given) receives every round's result per contender, in round order."""
    runs = {} if runs is None else runs
    runs.update({name: [] for name in contenders})
    for round_index in range(rounds):
        shift = round_index % len(contenders)
        for name in contenders[shift:] + contenders[:shift]:
            began: list = []
            result = run_contender(
                name, spec, on_warm=functools.partial(_reset, server, began), checkouts=checkouts
            )
            result["load_avg_1m"] = os.getloadavg()[0]
            ended = _server_cpu(server)
            if began and began[0] is not None and ended is not None:
                result["server_cpu_s"] = ended - began[0]
            if hasattr(server, "stats") and "error" not in result:
                seen = server.stats()
                result["server_requests"] = seen["requests"]
                result["server_prompt_tokens"] = seen["prompt_tokens"]
                result["server_max_in_flight"] = seen["max_in_flight"]
            log(f"  round {round_index + 1} {name:<10} {_brief(result)}")
            runs[name].append(result)
    return {name: _median_run(results) for name, results in runs.items()}


def _server_cpu(server) -> float | None:
    return server.cpu_s() if hasattr(server, "cpu_s") else None


def _reset(server, began: list) -> None:
    """Between a contender's warm-up and its timed part: zero the server's counters and note
    its CPU so far."""
    if hasattr(server, "reset"):
        server.reset()
    began.append(_server_cpu(server))


def _brief(result: dict) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    return f"wall {result['wall_s']:.2f}s cpu {result.get('cpu_s') or 0:.2f}s"


def _median_run(results: list[dict]) -> dict:
    good = [r for r in results if "error" not in r]
    if not good:
        return results[-1]
    walls = [r["wall_s"] for r in good]
    median = sorted(good, key=lambda r: r["wall_s"])[len(good) // 2]
    out = {k: v for k, v in median.items() if k != "answers"}
    out["wall_s_runs"] = [round(w, 4) for w in walls]
    out["wall_s"] = statistics.median(walls)
    cpus = [r["cpu_s"] for r in good if r.get("cpu_s") is not None]
    out["cpu_s"] = statistics.median(cpus) if cpus else None
    out["cpu_s_runs"] = [round(c, 4) for c in cpus]
    gcs = [r["gc_s"] for r in good if r.get("gc_s") is not None]
    out["gc_s"] = statistics.median(gcs) if gcs else None
    servers = [r["server_cpu_s"] for r in good if r.get("server_cpu_s") is not None]
    out["server_cpu_s"] = statistics.median(servers) if servers else None
    out["wall_s_q1"], _, out["wall_s_q3"] = quartiles(walls)
    if cpus:
        out["cpu_s_q1"], _, out["cpu_s_q3"] = quartiles(cpus)
    out["answers"] = median.get("answers")
    return out


def with_ratios(results: dict, samples: int) -> dict:
    """CPU ms per sample; ratios to the floor, and overhead per sample in ms (wall and CPU)."""
    for result in results.values():
        if "error" not in result and result.get("cpu_s") is not None:
            result["cpu_ms_per_sample"] = round(1000 * result["cpu_s"] / samples, 3)
        if "error" not in result and result.get("server_cpu_s") is not None:
            result["server_cpu_ms_per_sample"] = round(1000 * result["server_cpu_s"] / samples, 3)
    floor = results.get("floor")
    if not floor or "error" in floor:
        return results
    for result in results.values():
        if "error" in result:
            continue
        result["wall_ratio"] = round(result["wall_s"] / floor["wall_s"], 3)
        result["overhead_ms_per_sample"] = round(
            1000 * (result["wall_s"] - floor["wall_s"]) / samples, 3
        )
        if result.get("cpu_s") is not None and floor.get("cpu_s"):
            result["cpu_overhead_ms_per_sample"] = round(
                1000 * (result["cpu_s"] - floor["cpu_s"]) / samples, 3
            )
        if floor.get("peak_rss_mb"):
            result["rss_ratio"] = round(result["peak_rss_mb"] / floor["peak_rss_mb"], 2)
        for key in ("server_requests", "completion_tokens"):
            if result.get(key) is not None and floor.get(key):
                result[key.replace("server_", "") + "_ratio"] = round(result[key] / floor[key], 3)
    return results


def paired_summary(runs: dict[str, list[dict]], samples: int, reference: str = "its_hub") -> dict:
    """Per contender: its per-round wall ratio to ``reference`` (run moments apart in the same
    round) and, for ``name@base`` pairs, its per-round CPU difference in ms per sample to the
    baseline checkout; each as median, quartiles and a bootstrap 95% interval of the median."""

    def wall(result: dict) -> float:
        return result["wall_s"]

    def cpu_ms(result: dict) -> float | None:
        cpu = result.get("cpu_s")
        return None if cpu is None else 1000 * cpu / samples

    summary = {"reference": reference, "wall_ratio": {}, "cpu_ms_over_base": {}}
    if reference in runs:
        summary["wall_ratio"] = spread.paired(runs, reference, wall, lambda x, y: x / y)
    for name in runs:
        if "@" in name or f"{name}@base" not in runs:
            continue
        pair = {name: runs[name], f"{name}@base": runs[f"{name}@base"]}
        diff = spread.paired(pair, f"{name}@base", cpu_ms, lambda x, y: x - y)
        summary["cpu_ms_over_base"].update(diff)
    return summary
