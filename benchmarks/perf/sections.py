"""Sections 2-5: concurrency, n-coalescing, pool-building throughput, scale."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perf.overhead import run_contender, with_ratios
from perf.servers import InstantProcess, checkout_env

HERE = Path(__file__).resolve().parent
QUESTION = "What is 17 + 25?"


def _graph(base_url: str, model: str, n: int, *, honours_n: bool | None = None):
    from langgraph_ttc import create_ttc_graph
    from langgraph_ttc.backends import OpenAICompatibleBackend
    from langgraph_ttc.strategies import Majority

    backend = OpenAICompatibleBackend(
        base_url, model, mode="chat", honours_n=honours_n, max_concurrency=max(n, 1)
    )
    return create_ttc_graph(backend, Majority(n=n, max_tokens=16, seed=0))


def _timed_invoke(graph, sync: bool, config: dict | None = None) -> tuple[float, dict]:
    began = time.perf_counter()
    if sync:
        out = graph.invoke({"question": QUESTION}, config)
    else:
        out = asyncio.run(graph.ainvoke({"question": QUESTION}))
    return time.perf_counter() - began, out["ttc_result"]["usage"]


def concurrency(widths=(1, 4, 16), delay_s: float = 0.25, log=print, gated: bool = False) -> dict:
    """N branches against a server answering requests in parallel after ``delay_s`` each.

    ``gated``: the server also holds each timed request until N are in flight at once, so
    ``max_in_flight == N`` shows the branches ran in parallel whatever the machine's speed (the
    wall times then measure nothing).
    """
    rows = []
    with InstantProcess(delay_s=delay_s) as server:
        # Sync invoke runs branches on LangGraph's thread pool, min(32, cpus + 4) threads
        # unless the config says max_concurrency: measured both ways.
        paths = (("ainvoke", False, None), ("invoke", True, None))
        paths += (("invoke max_concurrency=N", True, "n"),)
        for path, sync, bound in paths:
            for n in widths:
                graph = _graph(server.base_url, server.model, n, honours_n=False)
                config = {"max_concurrency": n} if bound else None
                _timed_invoke(graph, sync, config)  # warm: imports, first connection
                server.reset()
                if gated:
                    server.gate(n)
                wall, usage = _timed_invoke(graph, sync, config)
                if gated:
                    server.gate(0)
                seen = server.stats()
                rows.append(
                    {
                        "path": path,
                        "branches": n,
                        "requests": seen["requests"],
                        "max_in_flight": seen["max_in_flight"],
                        "wall_s": round(wall, 4),
                        "request_latency_s": delay_s,
                        # ~1 when parallel, N when serial
                        "latencies": round(wall / delay_s, 2) if delay_s else None,
                        "calls": usage["calls"],
                    }
                )
                log(f"  concurrency {rows[-1]}")
    return {"delay_s": delay_s, "rows": rows}


def coalescing(widths=(4, 16, 64), log=print) -> dict:
    """With a server that honours ``n``: N samples in one request and one prompt prefill."""
    rows = []
    with InstantProcess(honour_n=True) as server:
        for n in widths:
            for coalesce in (True, False):
                graph = _graph(
                    server.base_url, server.model, n, honours_n=None if coalesce else False
                )
                server.reset()
                wall, usage = _timed_invoke(graph, sync=False)
                seen = server.stats()
                rows.append(
                    {
                        "samples": n,
                        "coalescing": coalesce,
                        "requests": seen["requests"],
                        "prompt_tokens_sent": seen["prompt_tokens"],
                        "calls": usage["calls"],
                        "client_requests": usage["requests"],
                        "client_prompt_tokens": usage["prompt_tokens"],
                        "wall_s": round(wall, 4),
                    }
                )
                log(f"  coalescing {rows[-1]}")
    return {"rows": rows}


def _pool_main(mode: str, spec: dict, timeout_s: float = 7200) -> dict:
    done = subprocess.run(
        [sys.executable, str(HERE / "pool_main.py"), mode, json.dumps(spec)],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pool_spec(server, problems: int, concurrency: int, **extra) -> dict:
    """What ``pool_main.py`` needs: the server, the problem count, requests in flight."""
    return {
        "base_url": server.base_url,
        "model": server.model,
        "problems": problems,
        "concurrency": concurrency,
        "max_tokens": 16,
        **extra,
    }


def pool_throughput(server, *, problems: int, k_max: int, concurrency: int, log=print) -> dict:
    """build_pool's samples/s against the raw client's, same prompts, server and concurrency."""
    spec = _pool_spec(server, problems, concurrency, samples=problems * k_max)
    raw = _pool_main("raw", spec)
    log(f"  raw client: {raw}")
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as out:
        built = _pool_main("pool", {**spec, "steps": [k_max], "out": out})
    step = built.get("steps", [{}])[-1] if "steps" in built else built
    log(f"  build_pool: {step}")
    ratio = None
    if raw.get("samples_per_s") and step.get("samples_per_s"):
        ratio = round(step["samples_per_s"] / raw["samples_per_s"], 3)
    return {"spec": spec, "raw": raw, "build_pool": step, "pool_vs_raw": ratio}


def scale_samples(widths, log=print) -> dict:
    """Per-sample wall/CPU and peak memory of one majority@N question as N grows."""
    rows = []
    with InstantProcess() as server:
        for n in widths:
            spec = {
                "base_url": server.base_url,
                "model": server.model,
                "questions": [QUESTION],
                "n": n,
                "max_tokens": 16,
                "temperature": 0.7,
                "top_p": 0.95,
                "seed": 0,
                "concurrency": 16,
            }
            results = {}
            for name in ("floor", "graph"):
                results[name] = run_contender(name, spec, on_warm=server.reset)
                results[name]["server_requests"] = server.stats()["requests"]
            if any("error" in r for r in results.values()):
                log(f"  scale N={n} failed: {results}")
                rows.append({"samples": n, "error": str(results)})
                continue
            with_ratios(results, n)
            graph, floor = results["graph"], results["floor"]
            rows.append(
                {
                    "samples": n,
                    "requests": graph.get("server_requests"),
                    "graph_ms_per_sample": round(1000 * graph["wall_s"] / n, 3),
                    "floor_ms_per_sample": round(1000 * floor["wall_s"] / n, 3),
                    "graph_cpu_ms_per_sample": round(1000 * graph["cpu_s"] / n, 3),
                    "floor_cpu_ms_per_sample": round(1000 * floor["cpu_s"] / n, 3),
                    "overhead_ms_per_sample": graph.get("overhead_ms_per_sample"),
                    "graph_peak_rss_mb": graph["peak_rss_mb"],
                    "floor_peak_rss_mb": floor["peak_rss_mb"],
                }
            )
            log(f"  scale N {rows[-1]}")
    return {"rows": rows, "wall_exponent": growth_exponent(rows, "graph_ms_per_sample")}


def growth_exponent(rows: list[dict], per_item_key: str, size_key: str = "samples") -> float | None:
    """Slope of log(total cost) vs log(size) from N=16 to the last row: 1 is linear."""
    points = [(r[size_key], r[per_item_key] * r[size_key]) for r in rows if r.get(per_item_key)]
    points = [(n, t) for n, t in points if n >= 16] or points  # small N: fixed costs dominate
    if len(points) < 2:
        return None
    (n0, t0), (n1, t1) = points[0], points[-1]
    return round(math.log(t1 / t0) / math.log(n1 / n0), 3)


def scale_pool(steps, problems: int = 100, concurrency: int = 16, log=print) -> dict:
    """One pool grown step by step (k_max per problem) to ``problems * steps[-1]`` samples."""
    with InstantProcess() as server, tempfile.TemporaryDirectory(prefix="bench-scale-") as out:
        built = _pool_main(
            "pool", _pool_spec(server, problems, concurrency, steps=list(steps), out=out)
        )
    rows = built.get("steps", [])
    for row in rows:
        log(f"  pool {row}")
    return {
        "problems": problems,
        "rows": rows,
        "error": built.get("error"),
        "ms_per_sample_first_vs_last": [
            rows[0]["ms_per_sample"] if rows else None,
            rows[-1]["ms_per_sample"] if rows else None,
        ],
    }
