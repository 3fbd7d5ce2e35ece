"""Compare two strategies at the same call budget on a small reasoning-gym task.

Majority vote spends its K calls on K samples; filter-vote (Chen et al. 2024) spends them on K/2
samples plus one self-critique of each, and votes only over answers its critic kept. Both run
on the same problems with the same seed, so their first samples are identical, and each chosen
answer is scored by the task's own checker, and so is every single sample: ``single`` is how
often one sample alone is right, ``voted`` how often the strategy's answer is. The embedded
270M base model is weak on these sums (both columns are often 0.00 at this size); read the
numbers as a demonstration of the bookkeeping (accuracy, calls and tokens per strategy), not a
result, and see the README's first command for a question where the vote does help.

Run it (24 model calls: about a minute on two CPU cores; TTC_PROBLEMS, TTC_N and
TTC_MAX_TOKENS shrink it)::

    python examples/compare_strategies.py
"""

from __future__ import annotations

import os
import time

from langgraph_ttc import create_ttc_graph, get_strategy, load_task

PROBLEMS = int(os.environ.get("TTC_PROBLEMS", "3"))
CALLS = int(os.environ.get("TTC_N", "4"))  # the call budget K per question, for both strategies
MAX_TOKENS = int(os.environ.get("TTC_MAX_TOKENS", "32"))
STRATEGIES = ("majority", "filter_vote")
ROW = "{:<12} {:>7} {:>6} {:>6} {:>11} {:>15} {:>6}"

# Two-term sums and differences of numbers up to 99: hard enough to disagree, easy enough to score.
task = load_task(
    "rg:basic_arithmetic",
    size=PROBLEMS,
    seed=0,
    config={"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2},
)


def evaluate(strategy: str) -> dict:
    """Run one strategy over every problem; return its accuracy and what it spent."""
    config = get_strategy(strategy, n=CALLS, max_tokens=MAX_TOKENS, seed=0)
    graph = create_ttc_graph("local", config, task=task)
    correct = calls = prompt_tokens = completion_tokens = 0
    answers, singles = [], []
    started = time.perf_counter()
    for problem in task.problems():
        result = graph.invoke({"question": problem.question})["ttc_result"]
        correct += task.is_correct(problem, result["text"] or "")
        singles += [
            task.is_correct(problem, c["text"] or "")
            for c in result["candidates"]
            if c.get("step", 0) == 0 and c.get("purpose") != "critique"
        ]
        usage = result["usage"]
        calls += usage["calls"]
        prompt_tokens += usage["prompt_tokens"]
        completion_tokens += usage["completion_tokens"]
        answers.append(result["answer"])
    return {
        "strategy": strategy,
        "correct": correct,
        "single": sum(singles) / len(singles) if singles else 0.0,
        "calls": calls,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "seconds": time.perf_counter() - started,
        "answers": answers,
    }


def main() -> None:
    print(f"{task.name}: {PROBLEMS} problems, {CALLS} calls per question")
    rows = [evaluate(strategy) for strategy in STRATEGIES]

    for i, problem in enumerate(task.problems()):
        chosen = "  ".join(f"{row['strategy']}={row['answers'][i]}" for row in rows)
        print(f"  {problem.question}  reference={problem.reference}  {chosen}")
    print(ROW.format("strategy", "single", "voted", "calls", "prompt tok", "completion tok", "s"))
    for row in rows:
        single, voted = f"{row['single']:.2f}", f"{row['correct'] / PROBLEMS:.2f}"
        spent = (row["calls"], row["prompt_tokens"], row["completion_tokens"])
        print(ROW.format(row["strategy"], single, voted, *spent, f"{row['seconds']:.1f}"))


if __name__ == "__main__":
    main()
