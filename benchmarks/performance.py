"""Performance suite: framework overhead vs the raw client and peers, concurrency, n-coalescing,
pool-building throughput and scale. Prints tables and writes ``results.json``.

bash benchmarks/peers/setup.sh && python benchmarks/performance.py --out runs/bench

Sections (``--sections``, default all): overhead, concurrency, coalescing, pool, scale.
``--quick`` shrinks every size (a smoke run of a minute or two); ``--no-llama`` skips the real
llama.cpp server; the peers (its_hub, optillm) run when ``benchmarks/peers/.venv`` (or
``$PEERS_VENV``) exists.

The overhead section runs every contender once per round, in a rotated order, and compares each
of ours with its_hub round by round (the wall ratio of two runs moments apart, whose spread is
far smaller than that of either wall time on a shared machine): median, quartiles and a
bootstrap 95% interval. ``--baseline DIR`` adds our contenders importing ``langgraph_ttc`` from
another checkout (``graph@base``...), interleaved, so a change's before and after share a run:

    git archive <commit> | tar -x -C /tmp/before
    flock /tmp/ttc-heavy.lock python benchmarks/performance.py --sections overhead --no-llama \
        --rounds 15 --baseline /tmp/before
What each HTTP layer under the ``openai`` client costs per request: ``protocol_layers.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from perf import overhead, report, sections  # noqa: E402
from perf.servers import InstantProcess, llama_server  # noqa: E402

SECTIONS = ("overhead", "concurrency", "coalescing", "pool", "scale")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench", help="directory for results.json")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (median)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="another checkout whose graph, graph_sync and runnable run too (as name@base)",
    )
    parser.add_argument(
        "--contenders", default=None, help="comma-separated subset of the overhead contenders"
    )
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--n", type=int, default=16, help="samples per question (majority@n)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--llama-questions", type=int, default=None, help="default: --questions")
    parser.add_argument("--no-llama", action="store_true", help="skip the llama.cpp server")
    parser.add_argument("--no-instant-overhead", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-peers", action="store_true", help="skip its_hub and optillm")
    parser.add_argument("--scale-max-n", type=int, default=1024)
    parser.add_argument("--pool-max", type=int, default=100_000, help="samples in the big pool")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.questions, args.n = 1, 4, 8
        args.scale_max_n, args.pool_max = 64, 2_000
        args.llama_questions = args.llama_questions or 2
    return args


def contenders(args, llama: bool) -> list[str]:
    names = ["floor", "graph", "runnable"] + ([] if llama else ["graph_sync"])
    if args.baseline:
        names += [f"{name}@base" for name in names if name != "floor"]
    if not args.no_peers:
        names += overhead.peers_available()
    if args.contenders:
        wanted = args.contenders.split(",")
        names = [name for name in names if name in wanted]
    return names


def run_overhead(args, server, label: str, questions: int, log) -> dict:
    spec = {
        "base_url": server.base_url,
        "model": server.model,
        "questions": overhead.questions(questions),
        "n": args.n,
        "max_tokens": args.max_tokens,
        "temperature": 0.7,
        "top_p": 0.95,
        "seed": 0,
        "concurrency": args.n,
    }
    log(f"\n== overhead: majority@{args.n} x {questions} questions on {label} ==")
    runs: dict[str, list[dict]] = {}
    checkouts = {"base": args.baseline} if args.baseline else None
    names = contenders(args, "llama" in label)
    results = overhead.measure(server, names, spec, args.rounds, log, checkouts, runs)
    overhead.with_ratios(results, questions * args.n)
    log(report.overhead_table(results))
    paired = overhead.paired_summary(runs, questions * args.n)
    log("\nRound by round (each of ours against its_hub run in the same round; CPU against the")
    log("--baseline checkout's same contender):")
    log(report.paired_table(paired))
    return {
        "server": label,
        "questions": questions,
        "n": args.n,
        "results": results,
        "paired": paired,
        "runs": {name: [_lean(r) for r in rs] for name, rs in runs.items()},
    }


def _lean(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "answers"}


def main(argv=None) -> dict:
    args = parse_args(argv)
    wanted = set(args.sections.split(","))
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
        },
        "args": vars(args),
        "peers": overhead.peers_available() and not args.no_peers,
    }

    def save() -> None:
        results["load_avg_at_end"] = os.getloadavg()
        (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))

    def log(line: str) -> None:
        print(line, flush=True)

    if "overhead" in wanted and not args.no_instant_overhead:
        with InstantProcess() as server:
            results["overhead_instant"] = run_overhead(
                args, server, "instant server (ignores n)", args.questions, log
            )
        save()
    llama = contextlib.nullcontext() if args.no_llama else llama_server()
    with llama as info:
        if info is not None and "overhead" in wanted:
            results["overhead_llama"] = run_overhead(
                args, info, "llama.cpp server", args.llama_questions or args.questions, log
            )
            save()
        if "pool" in wanted:
            log("\n== pool building throughput ==")
            with InstantProcess() as server:
                results["pool_instant"] = sections.pool_throughput(
                    server, problems=20, k_max=10 if args.quick else 50, concurrency=16, log=log
                )
            if info is not None:
                results["pool_llama"] = sections.pool_throughput(
                    info, problems=4, k_max=2 if args.quick else 4, concurrency=4, log=log
                )
            save()
    if "concurrency" in wanted:
        log("\n== concurrency: N branches, each request takes 0.25 s ==")
        results["concurrency"] = sections.concurrency(log=log)
        log(report.table(results["concurrency"]["rows"], _columns(results["concurrency"])))
        save()
    if "coalescing" in wanted:
        log("\n== n-coalescing on a server that honours n ==")
        widths = (4, 16) if args.quick else (4, 16, 64)
        results["coalescing"] = sections.coalescing(widths, log=log)
        log(report.table(results["coalescing"]["rows"], _columns(results["coalescing"])))
        save()
    if "scale" in wanted:
        log("\n== scale: samples per question ==")
        widths = [n for n in (1, 4, 16, 64, 256, 1024) if n <= args.scale_max_n]
        results["scale_samples"] = sections.scale_samples(widths, log=log)
        log(report.table(results["scale_samples"]["rows"], _columns(results["scale_samples"])))
        log("\n== scale: one pool grown to --pool-max samples (100 problems) ==")
        steps = [k for k in (10, 100, 1000) if k * 100 <= args.pool_max] or [args.pool_max // 100]
        results["scale_pool"] = sections.scale_pool(steps, log=log)
        log(report.table(results["scale_pool"]["rows"], _columns(results["scale_pool"])))
        save()
    save()
    log(f"\nresults: {out_dir / 'results.json'}")
    return results


def _columns(section: dict) -> list[tuple[str, str]]:
    rows = section.get("rows") or [{}]
    return [(key, key) for key in rows[0]]


if __name__ == "__main__":
    main()
