"""``langgraph-ttc run`` (answer one question) and ``langgraph-ttc tasks`` (list the tasks)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from langgraph_ttc.backends import BudgetForcingBackend, resolve_backend
from langgraph_ttc.budget import Budget
from langgraph_ttc.confidence import ConfidenceSpec
from langgraph_ttc.errors import TTCConfigError, TTCInputError
from langgraph_ttc.graph import create_ttc_graph
from langgraph_ttc.parsing import extract_answer, normalize_answer
from langgraph_ttc.strategies import Adaptive, StepSearch, get_strategy
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
    http: dict = {}
    if getattr(args, "ca_bundle", None):
        http["verify"] = args.ca_bundle
    if getattr(args, "header", None):
        http["default_headers"] = dict(args.header)
    if http and not args.base_url and args.model == "local":
        raise TTCConfigError("--ca-bundle and --header are for a server: pass --base-url too.")
    options.update(http)
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
    if getattr(args, "batch_budget", None) is not None:
        return run_batch(args)
    if args.question is None or not args.question.strip():  # before anything loads a model
        raise TTCInputError("The question is empty: pass a question with some text in it.")
    overrides = {
        "n": args.n,
        "width": args.width,
        "depth": args.depth,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "on_failure": args.on_failure,
        "thinking_budget": args.thinking_budget,
    }
    overrides.update(getattr(args, "options", None) or [])  # --option KEY=VALUE
    strategy = get_strategy(args.strategy, **overrides)
    if args.policy and not isinstance(strategy, Adaptive):
        raise TTCConfigError(
            f"--policy is for --strategy adaptive; {strategy.name} does not route. "
            "Drop --policy or pass --strategy adaptive."
        )
    verifier = LLMJudge() if args.verifier == "judge" else None
    # A step-level search scores steps with the model itself (LLMStepJudge) unless told.
    if strategy.needs_verifier and verifier is None and not isinstance(strategy, StepSearch):
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
        print(
            f"model: {backend.model_id}  strategy: {strategy.describe()}  "
            f"plan: {plan_line(strategy, budget, verifier)}",
            file=sys.stderr,
        )
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    result = answer(
        graph, args.question, progress=progress and not args.json, reference=args.reference
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        if result["answer"] is None:  # the reason first, before the rows it explains
            print(f"no answer: {result.get('no_answer')}", file=sys.stderr, flush=True)
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
        if args.json:
            print(f"no answer: {result.get('no_answer')}", file=sys.stderr)
        return 1
    return 0


def run_batch(args: argparse.Namespace) -> int:
    """Every question of ``--task`` under one total budget (:class:`~langgraph_ttc.batch.
    BatchAllocator`): a line per question (its answer, samples, and whether it is right when
    the task knows), then the accuracy and the samples spent."""
    from langgraph_ttc.batch import BatchAllocator, allocation_for
    from langgraph_ttc.nodes.context import TTCContext
    from langgraph_ttc.policy import resolve_policy

    if args.question is not None:
        raise TTCConfigError("--batch-budget answers the questions of --task; drop the question.")
    if not args.task:
        raise TTCConfigError("--batch-budget needs --task (a task name or a .jsonl file).")
    task = load_task(args.task, allow_unsandboxed=args.allow_unsandboxed)
    problems = list(task.problems())
    policy = resolve_policy(args.policy) if args.policy else None
    allocation, predictor = allocation_for(
        args.batch_budget, cap=args.batch_cap, policy=policy,
        pooled=getattr(args, "batch_pooled", None),
    )  # fmt: skip
    budget = Budget(
        max_calls=args.budget_calls, max_tokens=args.budget_tokens, max_seconds=args.budget_seconds
    )
    ctx = TTCContext(
        backend=backend_from_args(args),
        strategy=get_strategy("majority", temperature=args.temperature,
                              max_tokens=args.max_tokens),
        budget=budget, task=task,
        confidence=ConfidenceSpec() if allocation.slope else None,
    )  # fmt: skip
    allocator = BatchAllocator(ctx, allocation, seed=args.seed or 0, prior=predictor)
    results = allocator.batch([{"question": p.question, "id": p.id} for p in problems])
    right = []
    for problem, result in zip(problems, results, strict=True):
        result["reference"] = problem.reference
        if problem.reference is not None and result["answer"] is not None:
            result["correct"] = bool(task.score(problem, f"The answer is {result['answer']}."))
        elif problem.reference is not None:
            result["correct"] = False
        if "correct" in result:
            right.append(result["correct"])
    spent = sum(r["samples"] for r in results)
    if args.json:
        print(json.dumps({"results": results, "samples": spent}, indent=2, default=str))
    else:
        for r in results:
            mark = {True: "right", False: "wrong"}.get(r.get("correct"), "")
            print(f"{r['id']}: {r['answer']}  ({r['samples']} samples) {mark}".rstrip())
        line = f"{len(results)} questions, {spent} samples ({spent / len(results):.2f} each)"
        if right:
            line += f"; accuracy {sum(right) / len(right):.3f}"
        print(line)
    return 0


def plan_line(strategy, budget: Budget, verifier) -> str:
    """What the run will do and the most calls it may make, before it starts.

    The router's first plan is only its probes; what follows depends on what they show, so
    the line says so and gives the strategy's whole budget as the most it may spend.

    Example:
        >>> plan_line(Adaptive(n=16), Budget(), None)
        '4 probes, then the plan the policy gives their difficulty bin; at most 16 calls'
    """
    plan = strategy.plan(budget.max_calls, verifier)
    if isinstance(strategy, Adaptive):
        cap = strategy.calls(budget.max_calls)
        return (
            f"{plan.width} probes, then the plan the policy gives their difficulty bin; "
            f"at most {cap} calls"
        )
    calls = plan.worst_case_calls(0 if verifier is None else verifier.calls_per_answer)
    return f"{plan.describe()}, at most {calls} calls"


def answer(graph, question: str, *, progress: bool, reference: str | None = None) -> dict:
    """Run the graph; with ``progress``, a line per sample (and critique, score, round) on
    stderr as the graph streams them, each sample marked right or wrong against
    ``reference`` when one is given."""
    if not progress:
        return graph.invoke({"question": question})["ttc_result"]
    result = None
    for mode, chunk in graph.stream({"question": question}, stream_mode=["custom", "values"]):
        if mode == "custom":
            line = progress_line(chunk, reference)
            if line:
                print(line, file=sys.stderr, flush=True)
        elif "ttc_result" in chunk:
            result = chunk["ttc_result"]
    return result


def progress_line(event: dict, reference: str | None = None) -> str | None:
    """One stderr line for a progress event of the graph's custom stream; with a
    ``reference``, each sample and revision is marked right or wrong.

    Example:
        >>> progress_line({"ttc_event": "sample", "id": "r:3", "answer": "12", "ok": True})
        '  sample 3: 12'
        >>> progress_line({"ttc_event": "sample", "id": "r:4", "answer": "13", "ok": True}, "12")
        '  sample 4: 13  wrong'
    """
    kind = event.get("ttc_event")
    number = str(event.get("id", "")).rsplit(":", 1)[-1]
    if kind == "sample":
        if not event.get("ok"):
            return f"  sample {number}: FAILED"
        return f"  sample {number}: {event['answer']}{_mark(event['answer'], reference)}"
    if kind == "critique":
        return f"  critique of {number}: {event.get('verdict')}"
    if kind == "verify":
        return f"  score of {number}: {event.get('score'):.2f}"
    if kind == "revision":
        return (
            f"  revision {number} (chain {event.get('chain')}): {event.get('answer')}"
            f"{_mark(event.get('answer'), reference)}"
        )
    if kind == "route":
        binned = event["difficulty"]["bin"]
        where = "not binned" if binned is None else f"difficulty bin {binned}"
        return f"  {where}: {event['plan']['reason']}"
    return None


def _mark(answer: str | None, reference: str | None) -> str:
    """``  right`` / ``  wrong`` against a known answer (nothing without one)."""
    if reference is None:
        return ""
    return "  right" if answer is not None and answer == normalize_answer(reference) else "  wrong"


def score_line(result: dict, reference: str) -> str:
    """How the single samples and the vote did against a known answer: the point of spending
    more calls, in one line.

    Example:
        >>> score_line({"answer": "12", "candidates": [{"answer": "12", "step": 0, "text": ""},
        ...     {"answer": "13", "step": 0, "text": ""}]}, "12")
        'reference 12: single samples right 1 of 2 (50%); the vote (12) is right'
    """
    wanted = normalize_answer(reference)
    firsts = [c for c in result["candidates"] if c.get("step", 0) == 0]
    right = sum(1 for c in firsts if c.get("answer") == wanted)
    verdict = "right" if result["answer"] == wanted else "wrong"
    share = f" ({right / len(firsts):.0%})" if firsts else ""
    chosen = shown_answer(result["answer"], result["candidates"])
    picked = "the chosen answer" if result.get("method") == "best_of_n" else "the vote"
    return (
        f"reference {reference.strip()}: single samples right {right} of {len(firsts)}{share}; "
        f"{picked} ({chosen}) is {verdict}"
    )


# What the ``confidence`` beside the answer is, per aggregation method: every method reports
# the winner's share of what was tallied, and what is tallied differs.
CONFIDENCE_MEANINGS = {
    "majority": "its share of the votes",
    "filter_vote": "its share of the votes the critiques kept",
    "filter_vote_fallback": "its share of all votes (the critiques kept none)",
    "best_of_n": "the verifier's score of the chosen sample",
    "weighted_best_of_n": "its share of the summed verifier scores",
    "confidence_weighted": "its share of the votes weighted by token confidence",
    "deepconf_offline": "its share of the confidence-weighted votes of the most confident traces",
    "deepconf_online": "its share of the confidence-weighted votes of the traces at or above "
    "the warm-up's threshold",
}


def answer_line(result: dict) -> str:
    """The answer as a sample wrote it, what its confidence means, and how many samples gave it.

    Example:
        >>> print(answer_line({"answer": "paris", "confidence": 0.5, "method": "majority",
        ...     "candidates": [{"answer": "paris", "text": "The answer is Paris.", "ok": True},
        ...                    {"answer": "rome", "text": "The answer is Rome.", "ok": True}]}))
        answer: Paris   (confidence 0.50: its share of the votes; 1 of 2 samples gave it)
    """
    firsts = [c for c in result["candidates"] if c.get("step", 0) == 0]
    answered = [c for c in firsts if c.get("ok") and c.get("answer") is not None]
    gave = sum(1 for c in answered if c["answer"] == result["answer"])
    method = result["method"]
    plan = result.get("plan") or {}
    if plan.get("method") == "deepconf_online" and (plan.get("options") or {}).get("threshold"):
        method = "deepconf_online"  # a confidence vote among the traces above the threshold
    meaning = CONFIDENCE_MEANINGS.get(method, f"{method}'s share of the tally")
    return (
        f"answer: {shown_answer(result['answer'], result['candidates'])}   "
        f"(confidence {result['confidence']:.2f}: {meaning}; "
        f"{gave} of {len(firsts)} samples gave it)"
    )


def shown_answer(answer: str | None, candidates: list[dict]) -> str:
    """The answer as a sample wrote it (``Paris``), where votes compare a canonical form
    (``paris``); the canonical form when no sample's text gives it back.

    Example:
        >>> shown_answer("paris", [{"answer": "paris", "text": "The answer is Paris."}])
        'Paris'
    """
    if answer is None:
        return "None"
    for c in candidates:
        if c.get("answer") != answer:
            continue
        found = extract_answer(c.get("text") or "")
        if found is not None and normalize_answer(found) == answer:
            return normalize_answer(found, case_sensitive=True)
    return str(answer)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut.

    Example:
        >>> clip("abcdef", 4), clip("abc", 4)
        ('abc…', 'abc')
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def difficulty_line(difficulty: dict) -> str:
    """What the router's probes showed, in words.

    Example:
        >>> difficulty_line({"statistic": "agreement", "agreement": 0.5, "mean_score": None,
        ...     "bin": 3, "probes": 4})
        'difficulty: bin 3 of 5 (bin 1 the easiest): 4 probes, agreement 0.50'
    """
    where = "not binned" if difficulty.get("bin") is None else f"bin {difficulty['bin']} of 5"
    text = f"difficulty: {where} (bin 1 the easiest): {difficulty.get('probes')} probes"
    text += f", agreement {difficulty.get('agreement', 0.0):.2f}"
    if difficulty.get("mean_score") is not None:
        name = {"verifier": "mean verifier score", "confidence": "mean confidence"}.get(
            difficulty.get("statistic"), "mean score"
        )
        text += f", {name} {difficulty['mean_score']:.2f}"
    return text


def print_result(result: dict) -> None:
    """The answer, the plan, every candidate and the usage, as a table."""
    usage = result["usage"]
    print(answer_line(result))
    plan = result["plan"]
    reason = plan.get("reason") or ""
    shape = "" if "width=" in reason else f"  width={plan.get('width')} depth={plan.get('depth')}"
    print(f"plan: {reason}{shape}")
    if result.get("difficulty"):
        print(difficulty_line(result["difficulty"]))
    votes = Counter(
        c["answer"] for c in result["candidates"] if c["ok"] and c["answer"] is not None
    )
    candidates = result["candidates"]
    empty = bool(candidates) and all(c["ok"] and not (c["text"] or "").strip() for c in candidates)
    if empty:  # one line, not a row per empty sample
        print(f"\n  (all {len(candidates)} samples came back empty)")
    else:
        print("\n  #  chain step  answer          votes  critique  score  text")
    for i, c in enumerate([] if empty else candidates):
        verdict = {True: "keep", False: "drop", None: "-"}[c.get("verdict")]
        score = "-" if c.get("score") is None else f"{c['score']:.2f}"
        answer = "FAILED" if not c["ok"] else shown_answer(c["answer"], [c])
        text = clip((c["text"] or c.get("error") or "").replace("\n", " "), 50)
        print(
            f"{i:>3}  {c['chain']:>5} {c['step']:>4}  {clip(answer, 14):<14}  "
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
