"""The ``langgraph-ttc`` command: ``run`` answers a question; ``curves`` and ``plot`` measure
accuracy against the number of calls."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter

from langgraph_ttc.errors import TTCError

STRATEGY_NAMES = (
    "majority",
    "filter_vote",
    "best_of_n",
    "weighted_best_of_n",
    "revise",
    "adaptive",
)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``/``--base-url``: the one way to name a model on every command."""
    parser.add_argument(
        "--model",
        default=os.environ.get("TTC_MODEL", "local"),
        help="'local' for the embedded Gemma 3 270M (default), or a model name served at --base-url "
        "(env TTC_MODEL).",
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("TTC_BASE_URL"),
        help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM (env TTC_BASE_URL). "
        "The API key comes from OPENAI_API_KEY.",
    )
    parser.add_argument(
        "--mode",
        choices=("chat", "completion"),
        default="chat",
        help="endpoint protocol: chat completions, or text completions with a few-shot transcript "
        "(for base models).",
    )


def backend_from_args(args):
    from langgraph_ttc.backends import resolve_backend

    if args.base_url:
        return resolve_backend(args.model, base_url=args.base_url, mode=args.mode)
    return resolve_backend(args.model)


def _add_run_parser(subparsers) -> None:
    run = subparsers.add_parser("run", help="answer one question with a test-time-compute strategy")
    run.add_argument("question")
    add_model_arguments(run)
    from langgraph_ttc.strategies import STRATEGIES

    run.add_argument("--strategy", default="majority", choices=list(STRATEGIES))
    run.add_argument(
        "--n",
        type=positive_int,
        default=None,
        help="samples (calls for filter_vote/adaptive); default 8",
    )
    run.add_argument("--budget-calls", type=positive_int, default=None, help="cap on model calls")
    run.add_argument(
        "--budget-tokens", type=positive_int, default=None, help="cap on prompt+completion tokens"
    )
    run.add_argument("--budget-seconds", type=positive_float, default=None, help="cap on wall time")
    run.add_argument("--temperature", type=float, default=None)
    run.add_argument("--max-tokens", type=positive_int, default=None)
    run.add_argument("--seed", type=int, default=None, help="fix the seeds for a reproducible run")
    run.add_argument(
        "--task",
        default=None,
        help="take few-shot exemplars and answer parsing from a task, e.g. rg:basic_arithmetic",
    )
    run.add_argument(
        "--verifier", choices=("judge",), default=None, help="score candidates with an LLM judge"
    )
    run.add_argument("--policy", default=None, help="policy JSON for --strategy adaptive")
    run.add_argument("--on-failure", choices=("partial", "raise"), default=None)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(handler=cmd_run)


def cmd_run(args) -> int:
    from langgraph_ttc.budget import Budget
    from langgraph_ttc.graph import create_ttc_graph
    from langgraph_ttc.strategies import get_strategy

    backend = backend_from_args(args)
    task = None
    if args.task:
        from langgraph_ttc.tasks import load_task

        task = load_task(args.task, size=1)
    verifier = None
    if args.verifier == "judge":
        from langgraph_ttc.verifiers import LLMJudge

        verifier = LLMJudge()
    from langgraph_ttc.strategies import STRATEGIES

    if STRATEGIES[args.strategy].needs_verifier and verifier is None:
        raise SystemExit(
            f"error: --strategy {args.strategy} needs a verifier; add --verifier judge"
        )
    strategy = get_strategy(
        args.strategy,
        n=args.n,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        on_failure=args.on_failure,
    )
    budget = Budget(
        max_calls=args.budget_calls, max_tokens=args.budget_tokens, max_seconds=args.budget_seconds
    )
    graph = create_ttc_graph(
        backend, strategy, budget=budget, verifier=verifier, task=task, policy=args.policy
    )
    if not args.json:
        print(f"model: {backend.model_id}  strategy: {strategy.name}", file=sys.stderr)
    result = graph.invoke({"question": args.question})["ttc_result"]
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_result(result)
    return 0


def print_result(result: dict) -> None:
    usage = result["usage"]
    print(
        f"answer: {result['answer']}   (confidence {result['confidence']:.2f}, {result['method']})"
    )
    print(
        f"plan: {result['plan'].get('reason')}  width={result['plan'].get('width')} depth={result['plan'].get('depth')}"
    )
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
            f"{i:>3}  {c['chain']:>5} {c['step']:>4}  {answer[:14]:<14}  {votes.get(c['answer'], 0):>5}  {verdict:>8}  {score:>5}  {text}"
        )
    print(
        f"\nusage: {usage['calls']} calls, {usage['requests']} requests, {usage['prompt_tokens']} prompt + "
        f"{usage['completion_tokens']} completion tokens, {usage['wall_seconds']:.1f}s"
    )
    for purpose, counters in usage.get("by_purpose", {}).items():
        print(
            f"  {purpose:<9} {counters['calls']} calls, {counters['completion_tokens']} completion tokens"
        )


def cmd_tasks(args) -> int:
    from langgraph_ttc.tasks import list_tasks

    print("\n".join(list_tasks()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langgraph-ttc", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(subparsers)
    subparsers.add_parser("tasks", help="list the built-in task names").set_defaults(
        handler=cmd_tasks
    )
    try:
        from langgraph_ttc.scaling.cli import add_curves_parser, add_plot_parser
        from langgraph_ttc.scaling.policy_cli import add_calibrate_parser, add_compare_parser
    except ImportError:  # the scaling tools are optional at import time
        pass
    else:
        add_curves_parser(subparsers)
        add_plot_parser(subparsers)
        add_calibrate_parser(subparsers)
        add_compare_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        return args.handler(args) or 0
    except TTCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
