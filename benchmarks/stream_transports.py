"""Client CPU per streamed request over the library's own stack (aiohttp on the backend loop)
and through a user's ``openai.AsyncOpenAI`` client (``client=``): 16 concurrent 16-token streams
per question, 10 questions, against the instant server in its own process; rounds interleaved,
medians reported.

python benchmarks/stream_transports.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf.servers import InstantProcess  # noqa: E402

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams  # noqa: E402

QUESTIONS, STREAMS = 10, 16


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def never(done) -> bool:
    """An ``until`` that never fires: it makes every sample its own streamed request."""
    return False


async def measure(base_url: str, rounds: int) -> dict[bool, list[tuple[float, float]]]:
    import openai

    sdk = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    backends = {
        True: OpenAICompatibleBackend(base_url, "instant", honours_n=False),
        False: OpenAICompatibleBackend(base_url, "instant", honours_n=False, client=sdk),
    }
    params = SamplingParams(seed=1, max_tokens=16)
    for backend in backends.values():  # warm: connections
        await backend.asample([("human", "warm")], STREAMS, params, until=never)
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for round_index in range(rounds):
        for on_aiohttp in (True, False) if round_index % 2 else (False, True):
            began, cpu0 = time.perf_counter(), cpu_s()
            for q in range(QUESTIONS):
                draw = await backends[on_aiohttp].asample(
                    [("human", f"What is {q} + 1?")], STREAMS, params, until=never
                )
                assert all(c.ok for c in draw.completions), draw.completions
            runs[on_aiohttp].append((time.perf_counter() - began, cpu_s() - cpu0))
    return runs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    with InstantProcess() as server:
        runs = asyncio.run(measure(server.base_url, args.rounds))
    streams = QUESTIONS * STREAMS
    print(f"{streams} streams ({QUESTIONS} x {STREAMS}), median of {args.rounds} rounds")
    for on_aiohttp, results in runs.items():
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        name = "aiohttp" if on_aiohttp else "openai client"
        print(f"{name:14} wall {wall:.3f} s  cpu {1000 * cpu / streams:.2f} ms per stream")


if __name__ == "__main__":
    main()
