"""``langgraph-ttc run`` (answer one question) and ``langgraph-ttc tasks`` (list the tasks)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from langgraph_ttc.backends import BudgetForcingBackend, resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.graph import create_ttc_graph
from langgraph_ttc.parsing import normalize_answer
from langgraph_ttc.strategies import Adaptive, get_strategy
from langgraph_ttc.tasks import list_tasks, load_task
from langgraph_ttc.verifiers import LLMJudge

__all__ = ["backend_from_args", "main", "print_result"]


def backend_from_args(args: argparse.Namespace):
    """The backend named by ``--model``/``--base-url``/``--mode``, told by ``--reasoning`` and
    ``--thinking-control`` whether the model thinks and how a thinking budget reaches it
    (``force``: s1 budget forcing around a text backend; the local model thinks only so)."""
    reasoning = getattr(args, "reasoning", None)
    control = getattr(args, "thinking_control", None)
    force = control == "force" or (reasoning and args.model == "local" and not args.base_url)
    options: dict = {}
    if not force:
        if reasoning is not None:
            options["reasoning"] = reasoning
        if control is not None:
            options["thinking_control"] = control
    if args.base_url:
        backend = resolve_backend(args.model, base_url=args.base_url, mode=args.mode, **options)
    elif args.model == "local":
        if control is not None and not force:
            raise TTCConfigError(
                f"--thinking-control {control} is for a server; the local model thinks by s1 "
                "budget forcing: pass --reasoning (or --thinking-control force)."
            )
        backend = resolve_backend(args.model)
    else:
        backend = resolve_backend(args.model, **options)
    if force:
        # Budget forcing does the thinking itself, around a backend that continues text.
        return BudgetForcingBackend(backend)
    return backend


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
        thinking_budget=args.thinking_budget,
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
    task = (
        load_task(args.task, size=1, allow_unsandboxed=args.allow_unsandboxed)
        if args.task
        else None
    )
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
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    result = answer(graph, args.question, progress=progress and not args.json)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_result(result)
        if args.reference is not None:
            print(score_line(result, args.reference))
        drawn = sum(1 for c in result["candidates"] if c.get("step", 0) == 0)
        planned = result["plan"].get("max_width") or result["plan"].get("width") or 0
        if drawn < planned and not result["plan"].get("stop_rule"):
            print(
                f"note: the budget allowed {drawn} of the {planned} planned samples",
                file=sys.stderr,
            )
    if result["answer"] is None:
        print(f"no answer: {result.get('no_answer')}", file=sys.stderr)
        return 1
    return 0


def answer(graph, question: str, *, progress: bool) -> dict:
    """Run the graph; with ``progress``, a line per sample (and critique, score, round) on
    stderr as the graph streams them."""
    if not progress:
        return graph.invoke({"question": question})["ttc_result"]
    result = None
    for mode, chunk in graph.stream({"question": question}, stream_mode=["custom", "values"]):
        if mode == "custom":
            line = progress_line(chunk)
            if line:
                print(line, file=sys.stderr, flush=True)
        elif "ttc_result" in chunk:
            result = chunk["ttc_result"]
    return result


def progress_line(event: dict) -> str | None:
    """One stderr line for a progress event of the graph's custom stream.

    Example:
        >>> progress_line({"ttc_event": "sample", "id": "r:3", "answer": "12", "ok": True})
        '  sample 3: 12'
    """
    kind = event.get("ttc_event")
    number = str(event.get("id", "")).rsplit(":", 1)[-1]
    if kind == "sample":
        return f"  sample {number}: {event['answer'] if event.get('ok') else 'FAILED'}"
    if kind == "critique":
        return f"  critique of {number}: {event.get('verdict')}"
    if kind == "verify":
        return f"  score of {number}: {event.get('score'):.2f}"
    if kind == "revision":
        return f"  revision {number} (chain {event.get('chain')}): {event.get('answer')}"
    if kind == "route":
        binned = event["difficulty"]["bin"]
        where = "not binned" if binned is None else f"difficulty bin {binned}"
        return f"  {where}: {event['plan']['reason']}"
    return None


def score_line(result: dict, reference: str) -> str:
    """How the single samples and the vote did against a known answer.

    Example:
        >>> score_line({"answer": "12", "candidates": [{"answer": "12", "step": 0},
        ...     {"answer": "13", "step": 0}]}, "12")
        'reference 12: single samples right 1 of 2; the answer (12) is right'
    """
    wanted = normalize_answer(reference)
    firsts = [c for c in result["candidates"] if c.get("step", 0) == 0]
    right = sum(1 for c in firsts if c.get("answer") == wanted)
    verdict = "right" if result["answer"] == wanted else "wrong"
    return (
        f"reference {wanted}: single samples right {right} of {len(firsts)}; "
        f"the answer ({result['answer']}) is {verdict}"
    )


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
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
        f"{thinking_note(usage)}, {usage['wall_seconds']:.1f}s"
    )
    for purpose, counters in usage.get("by_purpose", {}).items():
        print(
            f"  {purpose:<9} {counters['calls']} calls, "
            f"{counters['completion_tokens']} completion tokens{thinking_note(counters)}"
        )
    if result.get("truncated_in_thinking"):
        print(
            f"{result['truncated_in_thinking']} samples were cut off inside their thinking "
            "(no answer): raise --max-tokens or --thinking-budget"
        )


def thinking_note(counters: dict) -> str:
    """`` (N thinking + M answer)`` when a reasoning model thought, else nothing.

    Example:
        >>> thinking_note({"completion_tokens": 90, "thinking_tokens": 70, "answer_tokens": 20})
        ' (70 thinking + 20 answer)'
        >>> thinking_note({"completion_tokens": 90})
        ''
    """
    thinking = counters.get("thinking_tokens") or 0
    if not thinking:
        return ""
    answer = counters.get("answer_tokens", counters["completion_tokens"] - thinking)
    return f" ({thinking} thinking + {answer} answer)"
