"""Pool-building throughput, in its own process so its memory is its own.

python benchmarks/perf/pool_main.py raw  SPEC_JSON   # the raw client's samples/s (the ceiling)
python benchmarks/perf/pool_main.py pool SPEC_JSON   # build_pool's samples/s, growing k_max

SPEC: base_url, model, problems, concurrency, max_tokens, and ``samples`` (raw) or ``steps``
(pool: the k_max of each successive build of one growing pool) and ``out`` (pool directory).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from contenders import cpu_s, peak_rss_mb

from langgraph_ttc.tasks import load_task


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def prompts(spec: dict) -> list[list[dict]]:
    from langchain_core.messages import convert_to_openai_messages

    task = load_task("rg:basic_arithmetic", size=spec["problems"], seed=0)
    return [convert_to_openai_messages(task.messages(p.question)) for p in task.problems()]


async def raw(spec: dict) -> dict:
    """The server's own ceiling: the bare client sending the pool's prompts, nothing else."""
    from openai import AsyncOpenAI

    messages = prompts(spec)
    client = AsyncOpenAI(base_url=spec["base_url"], api_key="EMPTY", max_retries=0)
    gate = asyncio.Semaphore(spec["concurrency"])

    async def one(index: int) -> None:
        async with gate:
            await client.chat.completions.create(
                model=spec["model"],
                messages=messages[index % len(messages)],
                max_tokens=spec["max_tokens"],
                temperature=0.7,
                seed=index,
            )

    began, cpu0 = time.perf_counter(), cpu_s()
    await asyncio.gather(*(one(i) for i in range(spec["samples"])))
    wall = time.perf_counter() - began
    await client.close()
    return {
        "samples": spec["samples"],
        "wall_s": wall,
        "cpu_s": cpu_s() - cpu0,
        "samples_per_s": spec["samples"] / wall,
    }


def pool(spec: dict) -> dict:
    from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
    from langgraph_ttc.scaling.pool import build_pool, load_pool

    task = load_task("rg:basic_arithmetic", size=spec["problems"], seed=0)
    backend = OpenAICompatibleBackend(spec["base_url"], spec["model"], mode="chat")
    params = SamplingParams(max_tokens=spec["max_tokens"])
    path = Path(spec["out"]) / "pool.sqlite"
    steps = []
    for k_max in spec["steps"]:
        began, cpu0 = time.perf_counter(), cpu_s()
        report = build_pool(
            task,
            backend,
            path,
            k_max=k_max,
            params=params,
            concurrency=spec["concurrency"],
            progress=False,
        )
        wall, cpu = time.perf_counter() - began, cpu_s() - cpu0
        loaded_at = time.perf_counter()
        samples = load_pool(path)
        load_s = time.perf_counter() - loaded_at
        total = sum(len(p.answers) for p in samples.problems)
        steps.append(
            {
                "k_max": k_max,
                "pool_samples": total,
                "drawn": report.drawn,
                "failed": report.failed,
                "wall_s": wall,
                "cpu_s": cpu,
                "samples_per_s": report.drawn / wall if wall else None,
                "ms_per_sample": 1000 * wall / report.drawn if report.drawn else None,
                "load_pool_s": load_s,
                "rss_mb": current_rss_mb(),
                "peak_rss_mb": peak_rss_mb(),
                "db_mb": path.stat().st_size / 2**20,
            }
        )
        print(json.dumps(steps[-1]), file=sys.stderr, flush=True)
    return {"steps": steps}


if __name__ == "__main__":
    mode, spec = sys.argv[1], json.loads(sys.argv[2])
    result = asyncio.run(raw(spec)) if mode == "raw" else pool(spec)
    print(json.dumps(result))
