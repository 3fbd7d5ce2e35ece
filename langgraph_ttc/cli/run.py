"""``langgraph-ttc run`` (answer one question) and ``langgraph-ttc tasks`` (list the tasks)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from langgraph_ttc.backends import resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.graph import create_ttc_graph
from langgraph_ttc.strategies import Adaptive, get_strategy
from langgraph_ttc.tasks import list_tasks, load_task
from langgraph_ttc.verifiers import LLMJudge

__all__ = ["backend_from_args", "main", "print_result"]


def backend_from_args(args: argparse.Namespace):
    """The backend named by ``--model``/``--base-url``/``--mode``."""
    if args.base_url:
        return resolve_backend(args.model, base_url=args.base_url, mode=args.mode)
    return resolve_backend(args.model)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "tasks", False):
        print("\n".join(list_tasks()))
        return 0
    return run(args)


def run(args: argparse.Namespace) -> int:
    strategy = get_strategy(
        args.strategy,
        n=args.n,
        width=args.width,
        depth=args.depth,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        on_failure=args.on_failure,
    )
    if args.policy and not isinstance(strategy, Adaptive):
        raise TTCConfigError(
            f"--policy is for --strategy adaptive; {strategy.name} does not route. "
            "Drop --policy or pass --strategy adaptive."
        )
    verifier = LLMJudge() if args.verifier == "judge" else None
    if strategy.needs_verifier and verifier is None:
        raise TTCConfigError(f"--strategy {strategy.name} needs a verifier: add --verifier judge.")
    backend = backend_from_args(args)
    task = load_task(args.task, size=1) if args.task else None
    budget = Budget(
        max_calls=args.budget_calls, max_tokens=args.budget_tokens, max_seconds=args.budget_seconds
    )
    graph = create_ttc_graph(
        backend, strategy, budget=budget, verifier=verifier, task=task, policy=args.policy
    )
    if not args.json:
        plan = strategy.plan(budget.max_calls, verifier)
        calls = plan.worst_case_calls(0 if verifier is None else verifier.calls_per_answer)
        print(
            f"model: {backend.model_id}  strategy: {strategy.describe()}  "
            f"plan: {plan.describe()}, at most {calls} calls",
            file=sys.stderr,
        )
    result = graph.invoke({"question": args.question})["ttc_result"]
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_result(result)
    return 0


def print_result(result: dict) -> None:
    """The answer, the plan, every candidate and the usage, as a table."""
    usage = result["usage"]
    print(
        f"answer: {result['answer']}   (confidence {result['confidence']:.2f}, {result['method']})"
    )
    plan = result["plan"]
    print(f"plan: {plan.get('reason')}  width={plan.get('width')} depth={plan.get('depth')}")
    if result.get("difficulty"):
        print(f"difficulty: {result['difficulty']}")
    votes = Counter(
        c["answer"] for c in result["candidates"] if c["ok"] and c["answer"] is not None
    )
    print("\n  #  chain step  answer          votes  critique  score  text")
    for i, c in enumerate(result["candidates"]):
        verdict = {True: "keep", False: "drop", None: "-"}[c.get("verdict")]
        score = "-" if c.get("score") is None else f"{c['score']:.2f}"
        answer = "FAILED" if not c["ok"] else str(c["answer"])
        text = (c["text"] or c.get("error") or "").replace("\n", " ")[:50]
        print(
            f"{i:>3}  {c['chain']:>5} {c['step']:>4}  {answer[:14]:<14}  "
            f"{votes.get(c['answer'], 0):>5}  {verdict:>8}  {score:>5}  {text}"
        )
    print(
        f"\nusage: {usage['calls']} calls, {usage['requests']} requests, "
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens, "
        f"{usage['wall_seconds']:.1f}s"
    )
    for purpose, counters in usage.get("by_purpose", {}).items():
        print(
            f"  {purpose:<9} {counters['calls']} calls, "
            f"{counters['completion_tokens']} completion tokens"
        )
