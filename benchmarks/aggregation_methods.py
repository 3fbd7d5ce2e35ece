"""Methods that call the model to aggregate (GenSelect, RSA, particle filtering) against majority
and best-of-N, at equal call budgets: accuracy, calls and tokens per question.

Every method gets the same ``Budget(max_calls=B)`` per question and is sized to spend it:

* majority: B samples;
* best-of-N: B/2 samples, each scored by an LLM judge on the same model (one call each);
* GenSelect: as many samples as leave room for the knockout's selection calls (B=8: 7 + 1);
* RSA: a population N = ``--population`` and T = B/N - 1 aggregation steps, K = ``--k``;
* particle filtering: ``--particles`` particles (default B/2), each step scored by the LLM step
  judge (the fake: a process reward as noisy as its judge), until the budget is spent
  (``--step-tokens`` per step, at most ``--max-rounds`` steps).

Calls count every model call (samples, judges, selections, aggregations); tokens are prompt
plus completion tokens. ``coverage`` is the share of questions where any candidate (any
population member, any finished particle) was right: the ceiling of any selection. Accuracy
comes with a 95% percentile bootstrap interval over questions, and every method's difference
from majority with a paired one (the same questions resampled for both), so a difference whose
interval holds 0 is not one.

Two models:

* ``--model fake``: a scripted model (:class:`~langgraph_ttc.testing.AggregationOracle`) that
  is right on a question with probability ``--p-correct`` per sample, and that selects (GenSelect)
  and aggregates (RSA) well (``--select-accuracy``, ``--aggregate-accuracy``); its step judge is
  a process reward that knows right steps. A setting where aggregation helps by construction: it
  checks that each method turns that into accuracy, within its budget.
* ``--model local``: the embedded Gemma 3 270M on reasoning-gym basic arithmetic (two one-digit
  terms; ``+ - * /``, negatives and parentheses). A weak base model: it reads, selects and aggregates poorly; the numbers are what they
  are.

Run::

    python benchmarks/aggregation_methods.py --model fake --size 200 --budget 12   # 10 s
    for m in majority best_of_n genselect rsa particle_filter; do   # one heavy job per method
      flock /tmp/ttc-heavy.lock python benchmarks/aggregation_methods.py --model local \
          --methods $m --size 20 --budget 6 --max-tokens 32 --population 2 --k 2 \
          --particles 2 --step-tokens 16 --threads 2 --out runs/aggregation_local_$m.json
    done
    python benchmarks/aggregation_methods.py --merge runs/aggregation_local_*.json

Every run uses the same run seed (``--seed``), so the questions and draws do not depend on which
methods run together, and runs of one method each merge into one table with paired intervals.

Measured (README, "Methods that aggregate with the model"): on the fake, GenSelect and RSA far
above majority and best-of-N at 12 calls; on the embedded model (20 questions) see the README.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from langgraph_ttc import Budget, create_ttc_graph, load_task
from langgraph_ttc.methods import RSA, GenSelect, ParticleFilter
from langgraph_ttc.scaling import bootstrap_ci
from langgraph_ttc.search import LLMStepJudge
from langgraph_ttc.strategies import BestOfN, Majority
from langgraph_ttc.testing import AggregationOracle, FakeBackend, stable_uniform
from langgraph_ttc.verifiers import LLMJudge, ProgrammaticVerifier

CONFIG = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
METHODS = ("majority", "best_of_n", "genselect", "rsa", "particle_filter")


def strategies(args) -> dict:
    """Each method sized to the call budget B (see the module docstring)."""
    b = args.budget
    # A fixed run seed: the same draws on every run, so runs of one method each can be merged.
    common = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
    population = min(args.population, b)
    return {
        "majority": Majority(n=b, **common),
        "best_of_n": BestOfN(n=b, **common),
        "genselect": GenSelect(n=b, **common),
        "rsa": RSA(
            n=b, population=population, k=args.k, steps=max(b // population - 1, 0), **common
        ),
        "particle_filter": ParticleFilter(
            n=args.particles or max(b // 2, 1),
            max_rounds=args.max_rounds,
            temperature=args.temperature,
            max_tokens=args.step_tokens,
            seed=args.seed,
            segmentation="newline" if args.model == "fake" else "auto",
        ),
    }


def interval(values, *, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of per-question ``values``."""
    low, high = bootstrap_ci(np.asarray(values, dtype=float)[:, None], n_boot=2000, seed=seed)
    return float(low[0]), float(high[0])


HEADER = (
    f"{'method':<16} {'acc':>5} {'95% CI':>12} {'cover':>5} {'calls/q':>7} {'tokens/q':>8} "
    f"{'s/q':>6}  calls by purpose"
)


def print_row(row: dict) -> None:
    low, high = row["accuracy_ci95"]
    split = ", ".join(f"{p} {c:.1f}" for p, c in row["calls_by_purpose_per_question"].items())
    print(
        f"{row['method']:<16} {row['accuracy']:>5.2f} {f'[{low:.2f}, {high:.2f}]':>12} "
        f"{row['coverage']:>5.2f} {row['calls_per_question']:>7.1f} "
        f"{row['tokens_per_question']:>8.0f} {row['seconds_per_question']:>6.2f}  {split}",
        flush=True,
    )


def differences(rows: list[dict], correct: dict[str, list[float]], seed: int) -> None:
    """Each method minus majority, question by question, with a paired bootstrap interval."""
    if "majority" not in correct:
        return
    print("difference from majority (paired bootstrap over questions, 95%):")
    base = np.asarray(correct["majority"])
    for row in rows:
        if row["method"] == "majority":
            continue
        diff = np.asarray(correct[row["method"]]) - base
        low, high = interval(diff, seed=seed)
        row["minus_majority"] = float(diff.mean())
        row["minus_majority_ci95"] = [low, high]
        print(f"  {row['method']:<16} {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")


def write(path: str, payload: dict) -> None:
    Path(os.path.dirname(path) or ".").mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}", file=sys.stderr)


def merge(paths: list[str], out: str | None, seed: int) -> int:
    """One table from runs of single methods on the same questions (each run its own
    heavy job), with the paired intervals over the questions they share."""
    rows, records, runs = [], [], []
    for path in paths:
        payload = json.loads(Path(path).read_text())
        rows += payload["summary"]
        records += payload["questions"]
        runs.append(payload["args"])
    questions = sorted({r["question"] for r in records})
    by_method: dict[str, dict[str, float]] = {}
    for r in records:
        by_method.setdefault(r["method"], {})[r["question"]] = float(r["correct"])
    missing = {m: len(set(questions) - set(got)) for m, got in by_method.items()}
    if any(missing.values()):
        raise SystemExit(f"the runs do not share their questions (missing per method: {missing})")
    correct = {m: [got[q] for q in questions] for m, got in by_method.items()}
    budgets = {run["budget"] for run in runs}
    print(
        f"merged {len(paths)} runs: questions={len(questions)} budget={sorted(budgets)} calls/question"
    )
    print(HEADER)
    for row in rows:
        print_row(row)
    differences(rows, correct, seed)
    if out:
        write(out, {"runs": runs, "summary": rows, "questions": records})
    return 0


def fake_setup(args):
    """The scripted model: questions, a judge and a step scorer that know the right answers."""
    questions = {
        f"What is {a} + {b}?": (str(a + b), args.p_correct) for a in range(2, 102) for b in (3, 7)
    }
    oracle = AggregationOracle(
        questions,
        critique_accuracy=args.judge_accuracy,
        select_accuracy=args.select_accuracy,
        aggregate_accuracy=args.aggregate_accuracy,
    )

    markers = ("[[correct]]", "Judgment: [IDX]", "andidate solution", "[New Step]")

    def reply(messages, seed):
        last = messages[-1]
        if last.type == "ai":  # a particle's second step: its answer
            asked = [m for m in messages if m.type == "human"][-1:]
            return oracle(asked, f"{seed}:{last.content}")
        if any(marker in str(last.content) for marker in markers):
            return oracle(messages, seed)  # a judge, a selection or an aggregation
        return "Let me add the numbers.\n" + oracle(messages, seed)

    def step_score(question: str, text: str) -> float:
        """A process reward as noisy as the judge: right about a final step with probability
        ``--judge-accuracy``; 0.5 for a step without an answer."""
        last = text.strip().splitlines()[-1] if text.strip() else ""
        if "answer is" not in last:
            return 0.5
        right = f"answer is {questions[question][0]}." in last
        truthful = stable_uniform("prm", question, text) < args.judge_accuracy
        return 0.9 if right == truthful else 0.1

    items = list(questions)[: args.size]
    return FakeBackend(reply=reply), items, {q: questions[q][0] for q in items}, step_score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("fake", "local"), default="fake")
    parser.add_argument("--size", type=int, default=20, help="questions")
    parser.add_argument("--budget", type=int, default=8, help="calls per question, every method")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--population", type=int, default=4, help="RSA's N (K below)")
    parser.add_argument("--k", type=int, default=2, help="RSA's K")
    parser.add_argument(
        "--particles", type=int, default=None, help="default: B/2 (two steps each on the fake)"
    )
    parser.add_argument("--step-tokens", type=int, default=24)
    parser.add_argument("--max-rounds", type=int, default=3)
    parser.add_argument("--judge-tokens", type=int, default=16)
    parser.add_argument("--p-correct", type=float, default=0.3, help="fake: per-sample accuracy")
    parser.add_argument("--judge-accuracy", type=float, default=0.7, help="fake: judge")
    parser.add_argument("--select-accuracy", type=float, default=0.8, help="fake: GenSelect")
    parser.add_argument("--aggregate-accuracy", type=float, default=0.8, help="fake: RSA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    parser.add_argument("--out", default=None, help="write the summary and per-question rows")
    parser.add_argument(
        "--merge", nargs="+", default=None, metavar="JSON",
        help="print one table from earlier --out files (e.g. one method each) and exit",
    )  # fmt: skip
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out, args.seed)

    if args.model == "fake":
        backend, questions, references, step_score = fake_setup(args)
        task = None
        judge = LLMJudge()
        scorer = ProgrammaticVerifier(step_score)
    else:
        from langgraph_ttc.backends.embedded import EmbeddedBackend

        backend = (
            EmbeddedBackend() if args.threads is None else EmbeddedBackend(n_threads=args.threads)
        )
        task = load_task("rg:basic_arithmetic", size=args.size, seed=args.seed, config=CONFIG)
        questions = [p.question for p in task.problems()]
        problems = {p.question: p for p in task.problems()}
        judge = LLMJudge(max_tokens=args.judge_tokens)
        scorer = LLMStepJudge(max_tokens=args.judge_tokens)

    def is_right(question: str, text: str | None, answer) -> bool:
        if task is None:
            return answer == references[question]
        return bool(task.is_correct(problems[question], text or ""))

    chosen = [m.strip() for m in args.methods.split(",") if m.strip()]
    configs = strategies(args)
    print(f"model={args.model} questions={len(questions)} budget={args.budget} calls/question")
    print(HEADER, flush=True)
    rows, records = [], []
    correct: dict[str, list[float]] = {}  # per question, in the same order for every method
    for name in chosen:
        strategy = configs[name]
        verifier = scorer if name == "particle_filter" else judge if name == "best_of_n" else None
        graph = create_ttc_graph(
            backend, strategy, budget=Budget(max_calls=args.budget), verifier=verifier, task=task
        )
        right = covered = calls = tokens = 0
        purposes: dict[str, int] = {}
        started = time.perf_counter()
        for i, question in enumerate(questions):
            result = graph.invoke({"question": question}, {"configurable": {"thread_id": str(i)}})[
                "ttc_result"
            ]
            ok = is_right(question, result["text"], result["answer"])
            any_ok = any(
                is_right(question, c.get("text"), c.get("answer")) for c in result["candidates"]
            )
            usage = result["usage"]
            right += ok
            covered += any_ok
            calls += usage["calls"]
            tokens += usage["prompt_tokens"] + usage["completion_tokens"]
            for purpose, counters in usage["by_purpose"].items():
                purposes[purpose] = purposes.get(purpose, 0) + counters["calls"]
            records.append(
                {"method": name, "question": question, "answer": result["answer"],
                 "correct": bool(ok), "covered": bool(any_ok), "calls": usage["calls"]}
            )  # fmt: skip
        size = len(questions)
        correct[name] = [float(r["correct"]) for r in records if r["method"] == name]
        low, high = interval(correct[name], seed=args.seed)
        row: dict = {
            "method": name,
            "strategy": strategy.describe(),
            "accuracy": right / size,
            "accuracy_ci95": [low, high],
            "coverage": covered / size,
            "calls_per_question": calls / size,
            "tokens_per_question": tokens / size,
            "seconds_per_question": (time.perf_counter() - started) / size,
            "calls_by_purpose_per_question": {p: c / size for p, c in sorted(purposes.items())},
        }
        rows.append(row)
        print_row(row)
    differences(rows, correct, args.seed)
    if args.out:
        write(args.out, {"args": vars(args), "summary": rows, "questions": records})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
