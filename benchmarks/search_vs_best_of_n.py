"""Accuracy vs calls: beam search and REBASE against weighted best-of-N, same process scorer.

Every method uses the same scorer, :class:`~langgraph_ttc.search.LLMStepJudge` on the same
model: as a process scorer it judges each new step; as best-of-N's verifier it judges the last
step of each full solution (Snell et al. 2024, sec. 5.1: a process verifier's solution score is
its last step's). All methods sample at the same temperature, with the same seeds per problem.
Calls count every model call (generations and judge calls). Accuracy is the task's own check
of the chosen answer; "coverage" is the share of problems where any finished solution was
right (the ceiling any selection can reach).

Run (the embedded Gemma 3 270M; about 20-60 min on two CPU cores, longer on a busy machine)::

    python benchmarks/search_vs_best_of_n.py --size 10 --n 4,8 --threads 1 \
        --out runs/search_vs_bon.json

The embedded model is weak and judges steps poorly: read the numbers as a measurement of the
machinery on this model, not as evidence about search in general.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from langgraph_ttc import create_ttc_graph, get_strategy, load_task
from langgraph_ttc.backends.embedded import EmbeddedBackend
from langgraph_ttc.search import LLMStepJudge
from langgraph_ttc.strategies import BeamSearch, Rebase

CONFIG = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


def methods(n: int, args) -> dict:
    """The methods compared at width N (built fresh per N)."""
    common = {"temperature": args.temperature, "seed": args.seed}
    return {
        "weighted_best_of_n": get_strategy(
            "weighted_best_of_n", n=n, max_tokens=args.solution_tokens, **common
        ),
        "beam_search": BeamSearch(
            n=n, m="sqrt", max_rounds=args.max_rounds, max_tokens=args.step_tokens, **common
        ),
        "rebase": Rebase(n=n, max_rounds=args.max_rounds, max_tokens=args.step_tokens, **common),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="rg:basic_arithmetic")
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--n", default="4,8", help="comma-separated widths N")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--step-tokens", type=int, default=32)
    parser.add_argument("--solution-tokens", type=int, default=64)
    parser.add_argument("--judge-tokens", type=int, default=16)
    parser.add_argument("--max-rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="llama.cpp threads (default: all cores; 1 is much faster when another process "
        "is using the cores)",
    )
    parser.add_argument("--out", default=None, help="write per-problem results as JSON")
    args = parser.parse_args()

    task = load_task(args.task, size=args.size, seed=args.seed, config=CONFIG)
    model = "local" if args.threads is None else EmbeddedBackend(n_threads=args.threads)
    scorer = LLMStepJudge(max_tokens=args.judge_tokens)
    widths = [int(x) for x in args.n.split(",")]
    rows, records = [], []
    columns = ("N", "accuracy", "coverage", "calls/q", "gen/q", "judge/q", "s/q")
    widths_ = (3, 9, 9, 8, 7, 8, 6)
    print(
        f"{'method':<20}" + "".join(f" {c:>{w}}" for c, w in zip(columns, widths_, strict=True)),
        flush=True,
    )
    for n in widths:
        for name, strategy in methods(n, args).items():
            graph = create_ttc_graph(model, strategy, task=task, verifier=scorer)
            correct = covered = calls = generated = judged = 0
            started = time.perf_counter()
            for problem in task.problems():
                result = graph.invoke({"question": problem.question})["ttc_result"]
                ok = task.is_correct(problem, result["text"] or "")
                any_ok = any(
                    task.is_correct(problem, c["text"] or "") for c in result["candidates"]
                )
                usage = result["usage"]
                by_purpose = usage["by_purpose"]
                correct += ok
                covered += any_ok
                calls += usage["calls"]
                generated += by_purpose.get("generate", {}).get("calls", 0)
                judged += by_purpose.get("verify", {}).get("calls", 0)
                records.append(
                    {
                        "method": name,
                        "n": n,
                        "problem": problem.id,
                        "reference": problem.reference,
                        "answer": result["answer"],
                        "correct": bool(ok),
                        "covered": bool(any_ok),
                        "calls": usage["calls"],
                        "rounds": result.get("search", {}).get("rounds"),
                    }
                )
            size = len(task.problems())
            row = {
                "method": name,
                "n": n,
                "accuracy": correct / size,
                "coverage": covered / size,
                "calls_per_question": calls / size,
                "generate_per_question": generated / size,
                "judge_per_question": judged / size,
                "seconds_per_question": (time.perf_counter() - started) / size,
            }
            rows.append(row)
            print(
                f"{name:<20} {n:>3} {row['accuracy']:>9.2f} {row['coverage']:>9.2f} "
                f"{row['calls_per_question']:>8.1f} {row['generate_per_question']:>7.1f} "
                f"{row['judge_per_question']:>8.1f} {row['seconds_per_question']:>6.1f}",
                flush=True,
            )
    if args.out:
        Path(os.path.dirname(args.out) or ".").mkdir(parents=True, exist_ok=True)
        payload = {"args": vars(args), "config": CONFIG, "summary": rows, "problems": records}
        Path(args.out).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
