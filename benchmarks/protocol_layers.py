"""Client CPU per request of each HTTP layer a non-streamed request can go through, against the
instant server in its own process: what the ``openai`` package costs over a bare HTTP client.

python benchmarks/protocol_layers.py [--rounds 7] [--questions 20] [--n 16]

Every layer sends the same chat bodies (questions one after another, ``n`` requests of a
question concurrently, as majority@n on a server that ignores ``n``) and parses the reply JSON.
Rows: the SDK's ``create`` (a pydantic model per reply), ``with_raw_response.create`` (its
typed-dict transform, no model), ``post`` with ``cast_to=bytes``, the SDK's transports used bare
(httpx; aiohttp when installed), the SDK's blocking client on threads, and the library's own
transport (``langgraph_ttc.backends.http_transport``, what ``OpenAICompatibleBackend`` sends
non-streamed requests through): async, and blocking with a question's requests sent at once from
one thread. Rounds are interleaved; medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
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

from langgraph_ttc.backends.http_transport import AsyncHTTPTransport, HTTPTransport  # noqa: E402

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

    async def ours():
        transport = AsyncHTTPTransport(url, {"Authorization": "Bearer EMPTY"})

        async def send(b):
            return json.loads(await transport.post("/chat/completions", b, 60))

        return send, transport.aclose

    layers = {
        "ttc transport, async": ours,
        "sdk create (pydantic)": create,
        "sdk with_raw_response": raw_create,
        "sdk post, httpx": post_on(lambda: None),
        "httpx bare": bare_httpx,
    }
    try:
        import aiohttp

        openai.DefaultAioHttpClient()  # raises without openai's aiohttp transport
    except (ImportError, RuntimeError, AttributeError):
        return layers

    async def bare_aiohttp():
        session = aiohttp.ClientSession()

        async def send(b):
            async with session.post(
                url + "/chat/completions", data=json.dumps(b), headers=HEADERS
            ) as reply:
                return json.loads(await reply.read())

        return send, session.close

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


def run_sync_ours(url: str, questions: int, n: int) -> tuple[float, float]:
    transport = HTTPTransport(url, {"Authorization": "Bearer EMPTY"})

    def ask(q: int) -> list:
        replies = transport.post_all("/chat/completions", [body(q, i) for i in range(n)], 60)
        return [json.loads(r) for r in replies]

    ask(0)
    began, cpu0 = time.perf_counter(), cpu_s()
    for q in range(questions):
        ask(q)
    measured = time.perf_counter() - began, cpu_s() - cpu0
    transport.close()
    return measured


SYNC_LAYERS = {
    "sdk post, blocking on threads": run_sync_post,
    "ttc transport, blocking round": run_sync_ours,
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
    return table


if __name__ == "__main__":
    main()
