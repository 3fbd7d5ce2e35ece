"""Questions per second building a sample pool on Ray with 1, 2 and 4 sampler actors, against
instant OpenAI-compatible servers that answer after a fixed latency, beside the single-process
builder in the same run.

Each actor keeps ``--concurrency`` requests in flight, so with a latency L the ideal rate is
``actors * concurrency / (k * L)`` questions per second until the servers saturate. The
single-process builder is run at the same concurrency as one actor and at the concurrency of
the largest actor pool (the async client alone). Ray's actor start-up is measured apart (a
build of one question) and reported, since it is paid once per build, not per question.

    python benchmarks/pool_scaling.py --questions 32 --k 4 --latency 0.2

Writes JSON to stdout (and ``--out`` if given).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.distributed import Endpoints, build_pool_on_ray
from langgraph_ttc.scaling.pool import build_pool
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing.instant_server import InstantServer


def _timed(build, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    report = build(*args, **kwargs)
    return time.perf_counter() - started, report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--k", type=int, default=4, help="samples per question")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight per actor")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--actors", default="1,2,4")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import ray

    actor_counts = [int(a) for a in args.actors.split(",")]
    task = load_task("rg:basic_arithmetic", size=args.questions, seed=0)
    params = SamplingParams(max_tokens=32)
    servers = [InstantServer(delay_s=args.latency) for _ in range(args.servers)]
    for server in servers:
        server.start()
    results: dict = {
        "questions": args.questions,
        "k": args.k,
        "latency_s": args.latency,
        "concurrency_per_actor": args.concurrency,
        "servers": args.servers,
        "ray_cpus": args.cpus,
        "single_process": [],
        "ray": [],
    }
    try:
        replicas = Endpoints([s.base_url for s in servers], servers[0].model)
        with tempfile.TemporaryDirectory() as tmp:
            for concurrency in sorted({args.concurrency, args.concurrency * max(actor_counts)}):
                backend = OpenAICompatibleBackend(servers[0].base_url, servers[0].model)
                seconds, report = _timed(
                    build_pool,
                    task,
                    backend,
                    Path(tmp) / f"single-{concurrency}.sqlite",
                    k_max=args.k,
                    params=params,
                    concurrency=concurrency,
                    progress=False,
                )
                results["single_process"].append(
                    {
                        "concurrency": concurrency,
                        "seconds": round(seconds, 2),
                        "questions_per_s": round(args.questions / seconds, 2),
                        "drawn": report.drawn,
                    }
                )
            # What one process does when the server is no limit: requests per second of the
            # async builder (sampling, answer extraction, SQLite writes) at no latency.
            with InstantServer() as instant:
                backend = OpenAICompatibleBackend(instant.base_url, instant.model)
                seconds, report = _timed(
                    build_pool,
                    task,
                    backend,
                    Path(tmp) / "no-latency.sqlite",
                    k_max=args.k * 4,
                    params=params,
                    concurrency=16,
                    progress=False,
                )
                results["single_process_no_latency"] = {
                    "concurrency": 16,
                    "requests": report.usage["requests"],
                    "seconds": round(seconds, 2),
                    "requests_per_s": round(report.usage["requests"] / seconds, 1),
                }
            started = time.perf_counter()
            ray.init(
                num_cpus=args.cpus,
                include_dashboard=False,
                object_store_memory=200 * 2**20,
                log_to_driver=False,
            )
            results["ray_init_s"] = round(time.perf_counter() - started, 2)
            one = load_task("rg:basic_arithmetic", size=1, seed=99)
            for actors in actor_counts:
                options = dict(
                    k_max=args.k,
                    params=params,
                    actors=actors,
                    concurrency=args.concurrency,
                    progress=False,
                )
                startup, _ = _timed(
                    build_pool_on_ray, one, replicas, Path(tmp) / f"warm-{actors}.sqlite", **options
                )
                seconds, report = _timed(
                    build_pool_on_ray, task, replicas, Path(tmp) / f"ray-{actors}.sqlite", **options
                )
                drawing = max(seconds - startup, 1e-9)
                results["ray"].append(
                    {
                        "actors": actors,
                        "seconds": round(seconds, 2),
                        "startup_s": round(startup, 2),
                        "questions_per_s": round(args.questions / seconds, 2),
                        "questions_per_s_after_startup": round(args.questions / drawing, 2),
                        "ideal_questions_per_s": round(
                            actors * args.concurrency / (args.k * args.latency), 2
                        ),
                        "drawn": report.drawn,
                    }
                )
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for server in servers:
            server.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
