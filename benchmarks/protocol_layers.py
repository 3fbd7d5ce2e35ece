"""Client CPU per request of each HTTP layer a non-streamed request can go through, against the
instant server in its own process: what the ``openai`` package costs over a bare HTTP client.

python benchmarks/protocol_layers.py [--rounds 7] [--questions 20] [--n 16]

Every layer sends the same chat bodies (questions one after another, ``n`` requests of a
question concurrently, as majority@n on a server that ignores ``n``) and parses the reply JSON.
Rows: the SDK's ``create`` (a pydantic model per reply), ``with_raw_response.create`` (its
typed-dict transform, no model), ``post`` with ``cast_to=bytes``, the SDK's transports used bare
(httpx; aiohttp), the SDK's blocking client on threads, and the library's own stack
(``langgraph_ttc.backends.http_client``: aiohttp on the backend loop, what
``OpenAICompatibleBackend`` sends every request through), a question's requests run there as one
coroutine, awaited from another event loop (async) or run by the waiting thread (blocking).
Rounds are interleaved; medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import openai

try:  # the HTTP client the openai package is built on: httpx2 since openai 3, else httpx
    import httpx2 as httpx
except ImportError:
    import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf.servers import InstantProcess  # noqa: E402

from langgraph_ttc.backends.event_loop import run_blocking, run_on_backend_loop  # noqa: E402
from langgraph_ttc.backends.http_client import HTTPOptions, Wire  # noqa: E402

HEADERS = {"Authorization": "Bearer EMPTY", "Content-Type": "application/json"}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def body(question: int, index: int) -> dict:
    content = f"Q: What is {7 + 3 * question} + {5 + 2 * index}?\nA:"
    return {
        "model": "instant",
        "messages": [{"role": "user", "content": content}],
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 16,
        "seed": index,
    }


def async_layers(url: str) -> dict:
    """Each layer: an async factory of (send one body, close)."""
    options = dict(base_url=url, api_key="EMPTY", max_retries=0)

    def sdk(http_client=None):
        extra = {} if http_client is None else {"http_client": http_client}
        return openai.AsyncOpenAI(**options, **extra)

    async def create():
        client = sdk()

        async def send(b):
            return (await client.chat.completions.create(**b)).choices[0].message.content

        return send, client.close

    async def raw_create():
        client = sdk()

        async def send(b):
            raw = await client.chat.completions.with_raw_response.create(**b)
            return json.loads(raw.http_response.content)

        return send, client.close

    def post_on(make_http):
        async def post():
            client = sdk(make_http())

            async def send(b):
                content = await client.post(
                    "/chat/completions", body=b, cast_to=bytes, options={"timeout": 60}
                )
                return json.loads(content)

            return send, client.close

        return post

    async def bare_httpx():
        client = httpx.AsyncClient()

        async def send(b):
            reply = await client.post(
                url + "/chat/completions", content=json.dumps(b), headers=HEADERS
            )
            return json.loads(reply.content)

        return send, client.aclose

    layers = {
        "sdk create (pydantic)": create,
        "sdk with_raw_response": raw_create,
        "sdk post, httpx": post_on(lambda: None),
        "httpx bare": bare_httpx,
    }
    import aiohttp

    async def bare_aiohttp():
        session = aiohttp.ClientSession()

        async def send(b):
            async with session.post(
                url + "/chat/completions", data=json.dumps(b), headers=HEADERS
            ) as reply:
                return json.loads(await reply.read())

        return send, session.close

    if hasattr(openai, "DefaultAioHttpClient"):
        with contextlib.suppress(ImportError, RuntimeError):
            openai.DefaultAioHttpClient()  # raises without openai's aiohttp transport
            layers["sdk post, aiohttp"] = post_on(openai.DefaultAioHttpClient)
    layers["aiohttp bare"] = bare_aiohttp
    return layers


async def run_async(factory, questions: int, n: int) -> tuple[float, float]:
    send, close = await factory()
    await asyncio.gather(*(send(body(0, i)) for i in range(n)))  # warm: connections
    began, cpu0 = time.perf_counter(), cpu_s()
    for q in range(questions):
        await asyncio.gather(*(send(body(q, i)) for i in range(n)))
    measured = time.perf_counter() - began, cpu_s() - cpu0
    await close()
    return measured


def run_sync_post(url: str, questions: int, n: int) -> tuple[float, float]:
    client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0)

    def send(b):
        content = client.post("/chat/completions", body=b, cast_to=bytes, options={"timeout": 60})
        return json.loads(content)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        list(pool.map(send, [body(0, i) for i in range(n)]))
        began, cpu0 = time.perf_counter(), cpu_s()
        for q in range(questions):
            list(pool.map(send, [body(q, i) for i in range(n)]))
        measured = time.perf_counter() - began, cpu_s() - cpu0
    client.close()
    return measured


def ttc_wire(url: str) -> tuple[Wire, object]:
    wire = Wire(url, HTTPOptions(), api_key="EMPTY", max_connections=64)

    def ask(q: int, n: int):
        async def round_():
            replies = await asyncio.gather(
                *(
                    wire.post_json("/chat/completions", body(q, i), wire.attempt(60))
                    for i in range(n)
                )
            )
            return [json.loads(r) for r in replies]

        return round_()

    return wire, ask


async def run_async_ours(url: str, questions: int, n: int) -> tuple[float, float]:
    """A question's requests as one coroutine on the backend loop, awaited from this loop."""
    wire, ask = ttc_wire(url)
    await run_on_backend_loop(ask(0, n))
    began, cpu0 = time.perf_counter(), cpu_s()
    for q in range(questions):
        await run_on_backend_loop(ask(q, n))
    measured = time.perf_counter() - began, cpu_s() - cpu0
    await run_on_backend_loop(wire.aclose())
    return measured


def run_sync_ours(url: str, questions: int, n: int) -> tuple[float, float]:
    """The same, waited for from this thread."""
    wire, ask = ttc_wire(url)
    run_blocking(ask(0, n))
    began, cpu0 = time.perf_counter(), cpu_s()
    for q in range(questions):
        run_blocking(ask(q, n))
    measured = time.perf_counter() - began, cpu_s() - cpu0
    run_blocking(wire.aclose())
    return measured


SYNC_LAYERS = {
    "ttc, async (backend loop)": lambda *a: asyncio.run(run_async_ours(*a)),
    "sdk post, blocking on threads": run_sync_post,
    "ttc, blocking (backend loop)": run_sync_ours,
}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args(argv)
    requests = args.questions * args.n
    with InstantProcess() as server:
        layers = async_layers(server.base_url)
        names = [*layers, *SYNC_LAYERS]
        runs: dict[str, list] = {name: [] for name in names}
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                if name in layers:
                    result = asyncio.run(run_async(layers[name], args.questions, args.n))
                else:
                    result = SYNC_LAYERS[name](server.base_url, args.questions, args.n)
                runs[name].append(result)
    print(f"{requests} requests ({args.questions} x {args.n}), median of {args.rounds} rounds")
    print(f"{'layer':32} {'wall s':>7} {'cpu s':>7} {'cpu ms/request':>15}")
    table = {}
    for name, results in runs.items():
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        table[name] = {"wall_s": wall, "cpu_s": cpu, "cpu_ms_per_request": 1000 * cpu / requests}
        print(f"{name:32} {wall:7.3f} {cpu:7.3f} {1000 * cpu / requests:15.2f}")
    for name, (wall, cpu) in hop_costs().items():
        table[name] = {"wall_s": wall, "cpu_s": cpu, "cpu_ms_per_request": 1000 * cpu}
        print(f"{name:32} wall {1e6 * wall:6.1f} us  cpu {1e6 * cpu:6.1f} us per draw")
    return table


def hop_costs(calls: int = 2000) -> dict[str, tuple[float, float]]:
    """What running a draw on the backend loop costs (once per draw, not per request): an
    empty coroutine run by a blocking caller (which runs the loop itself in its thread), and
    handed over from another event loop (the keeper runs it)."""

    async def nothing() -> None:
        return None

    def blocking() -> tuple[float, float]:
        run_blocking(nothing())
        began, cpu0 = time.perf_counter(), cpu_s()
        for _ in range(calls):
            run_blocking(nothing())
        return (time.perf_counter() - began) / calls, (cpu_s() - cpu0) / calls

    async def awaited() -> tuple[float, float]:
        await run_on_backend_loop(nothing())
        began, cpu0 = time.perf_counter(), cpu_s()
        for _ in range(calls):
            await run_on_backend_loop(nothing())
        return (time.perf_counter() - began) / calls, (cpu_s() - cpu0) / calls

    return {"loop run, blocking": blocking(), "hand-over, async": asyncio.run(awaited())}


if __name__ == "__main__":
    main()
