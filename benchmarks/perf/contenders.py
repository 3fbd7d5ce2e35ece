"""One contender answering majority@N over a question list, in its own process.

python benchmarks/perf/contenders.py CONTENDER SPEC_JSON   (prints one JSON line)

CONTENDER is ``floor`` (a hand-written loop over the raw ``openai.AsyncOpenAI`` client: the
cheapest correct implementation, the baseline every ratio is taken against), ``graph``
(``create_ttc_graph(...).ainvoke``), ``graph_sync`` (``.invoke``) or ``runnable``
(``as_runnable(...).invoke``). Every contender runs the questions one after another and the N
samples of a question concurrently, with the same seeds, temperature, top_p and max_tokens.
Imports, client construction and one untimed warm-up question (``setup_s``) are kept apart
from answering the questions (``wall_s``, ``cpu_s``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Measurement helpers shared with the peer drivers (stdlib only, so both environments load it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
from _common import WARM_UP, cpu_s, gc_s, peak_rss_mb, warmed_up  # noqa: E402


def seed_of(run_seed: int, index: int) -> int:
    """The per-sample seed our graph uses, so the floor sends byte-identical seeds."""
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def last_number(text: str | None) -> str | None:
    found = NUMBER.findall(text or "")
    return found[-1] if found else None


async def run_floor(spec: dict) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=spec["base_url"], api_key="EMPTY", max_retries=0)
    gate = asyncio.Semaphore(spec["concurrency"])
    counts = Counter()

    async def one(question: str, index: int):
        async with gate:
            reply = await client.chat.completions.create(
                model=spec["model"],
                messages=[{"role": "user", "content": question}],
                temperature=spec["temperature"],
                top_p=spec["top_p"],
                max_tokens=spec["max_tokens"],
                seed=seed_of(spec["seed"], index),
            )
        counts["requests"] += 1
        counts["prompt_tokens"] += reply.usage.prompt_tokens
        counts["completion_tokens"] += reply.usage.completion_tokens
        return reply.choices[0].message.content

    await asyncio.gather(*(one(WARM_UP, i) for i in range(spec["n"])))
    counts.clear()
    warmed_up()
    setup_done, cpu0 = time.perf_counter(), cpu_s()
    answers = []
    for question in spec["questions"]:
        texts = await asyncio.gather(*(one(question, i) for i in range(spec["n"])))
        counts["calls"] += len(texts)
        votes = Counter(a for a in map(last_number, texts) if a is not None)
        answers.append(votes.most_common(1)[0][0] if votes else None)
    wall, cpu = time.perf_counter() - setup_done, cpu_s() - cpu0
    await client.close()
    return {"wall_s": wall, "cpu_s": cpu, "answers": answers, **counts}


def _ours(spec: dict):
    import openai  # noqa: F401 - imported lazily by the backend; pay it in setup like the floor

    from langgraph_ttc import create_ttc_graph
    from langgraph_ttc.backends import OpenAICompatibleBackend
    from langgraph_ttc.strategies import Majority

    backend = OpenAICompatibleBackend(
        spec["base_url"], spec["model"], mode="chat", max_concurrency=spec["concurrency"]
    )
    strategy = Majority(
        n=spec["n"],
        temperature=spec["temperature"],
        max_tokens=spec["max_tokens"],
        seed=spec["seed"],
    )
    return backend, strategy, create_ttc_graph(backend, strategy)


def _usage_totals(results: list[dict]) -> dict:
    keys = ("calls", "requests", "prompt_tokens", "completion_tokens")
    return {k: sum(r["usage"][k] for r in results) for k in keys}


class _LoopCounter:
    """Counts the event loops created while it is on (a sync run should create none)."""

    def __init__(self) -> None:
        self.made = 0
        self._original = asyncio.BaseEventLoop.__init__

    def __enter__(self) -> _LoopCounter:
        original = self._original

        def counting(loop, *args, **kwargs):
            self.made += 1
            original(loop, *args, **kwargs)

        asyncio.BaseEventLoop.__init__ = counting
        return self

    def __exit__(self, *exc) -> None:
        asyncio.BaseEventLoop.__init__ = self._original


async def run_graph(spec: dict) -> dict:
    _, _, graph = _ours(spec)
    await graph.ainvoke({"question": WARM_UP})
    warmed_up()
    setup_done, cpu0 = time.perf_counter(), cpu_s()
    results = [(await graph.ainvoke({"question": q}))["ttc_result"] for q in spec["questions"]]
    wall, cpu = time.perf_counter() - setup_done, cpu_s() - cpu0
    answers = [r["answer"] for r in results]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "answers": answers,
        **_usage_totals(results),
    }


def run_graph_sync(spec: dict) -> dict:
    _, _, graph = _ours(spec)
    graph.invoke({"question": WARM_UP})
    warmed_up()
    setup_done, cpu0 = time.perf_counter(), cpu_s()
    with _LoopCounter() as loops:
        results = [graph.invoke({"question": q})["ttc_result"] for q in spec["questions"]]
    wall, cpu = time.perf_counter() - setup_done, cpu_s() - cpu0
    answers = [r["answer"] for r in results]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "answers": answers,
        "event_loops": loops.made,
        **_usage_totals(results),
    }


def run_runnable(spec: dict) -> dict:
    from langgraph_ttc import as_runnable

    backend, strategy, _ = _ours(spec)
    chain = as_runnable(backend, strategy)
    chain.invoke(WARM_UP)
    warmed_up()
    setup_done, cpu0 = time.perf_counter(), cpu_s()
    with _LoopCounter() as loops:
        messages = [chain.invoke(q) for q in spec["questions"]]
    wall, cpu = time.perf_counter() - setup_done, cpu_s() - cpu0
    # The Runnable returns only the AIMessage: its usage is read from the server's counters.
    answers = [m.response_metadata["ttc"]["answer"] for m in messages]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "answers": answers,
        "event_loops": loops.made,
        "calls": None,
        "requests": None,
    }


CONTENDERS = {
    "floor": lambda spec: asyncio.run(run_floor(spec)),
    "graph": lambda spec: asyncio.run(run_graph(spec)),
    "graph_sync": run_graph_sync,
    "runnable": run_runnable,
}


def main() -> None:
    started = time.perf_counter()
    name, spec = sys.argv[1], json.loads(sys.argv[2])
    before = peak_rss_mb()
    result = CONTENDERS[name](spec)
    total = time.perf_counter() - started
    result.update(
        contender=name,
        setup_s=round(total - result["wall_s"], 4),
        peak_rss_mb=round(peak_rss_mb(), 1),
        start_rss_mb=round(before, 1),
        gc_s=gc_s(),
    )
    ours = sys.modules.get("langgraph_ttc")
    if ours is not None:  # which checkout was measured (a baseline's, or this one)
        result["checkout"] = str(Path(ours.__file__).resolve().parents[1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
