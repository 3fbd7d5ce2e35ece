"""Every command's arguments, with help and defaults, and nothing heavy imported: ``--help``
answers without loading LangGraph, the model backends or the scaling tools.

Each ``add_*`` function adds one subcommand and records, as ``command``, the module of
:mod:`langgraph_ttc.cli` whose ``main(args)`` runs it (loaded only when it runs).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

__all__ = [
    "build_parser",
    "positive_float",
    "positive_int",
]

# Strategy names are checked against the registries when a command runs (plugins add more), so
# --help names a few examples and imports nothing.
STRATEGY_HELP = (
    "how to spend the calls: a registered strategy, e.g. filter_vote, best_of_n, revise, "
    "adaptive, beam_search, deepconf_online, genselect, rsa, particle_filter (an unknown name "
    "lists them all; --plugin adds yours)"
)
DEFAULT_CURVE_STRATEGIES = ("coverage", "majority", "filter_vote", "best_of_n")
# backends/reasoning.py THINKING_CONTROLS, plus "force" (s1 budget forcing); pinned by a test.
THINKING_CONTROLS = ("vllm", "llama.cpp", "openai", "force")
# What a curves plot puts on its x axis: calls, total tokens, or thinking tokens per problem.
X_AXES = ("calls", "tokens", "thinking-tokens")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each argument's help; descriptions keep their line breaks.

    An option whose default is ``None`` or ``False`` (the strategy's or backend's own value
    applies, or a flag is off) shows none: its help says what applies, and ``(default:
    None)`` beside ``(0.7)`` would contradict it.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Bad values get one line and exit code 2, not the whole usage block first."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def whole_number_at_least(text: str, minimum: int) -> int:
    """``text`` as a whole number >= ``minimum``, else ``argparse.ArgumentTypeError`` saying so
    (the body of the argparse types below).

    Example:
        >>> whole_number_at_least("4", 4)
        4
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {minimum}, got {text!r}"
        ) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1.

    Example:
        >>> positive_int("3")
        3
    """
    return whole_number_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0.

    Example:
        >>> non_negative_int("0")
        0
    """
    return whole_number_at_least(text, 0)


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def json_object(text: str) -> dict:
    """An argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, object]:
    """An argparse type: ``KEY=VALUE``, the value read as JSON where it parses.

    Example:
        >>> key_value("steps=3"), key_value("segmentation=newline")
        (('steps', 3), ('segmentation', 'newline'))
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def add_plugin_argument(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--plugin``: a module of one's own to import first (it registers its methods)."""
    parser.add_argument(
        "--plugin",
        dest="plugins",
        action="append",
        default=[] if top else argparse.SUPPRESS,
        metavar="MODULE",
        help="import a method of your own before running: a module name (my_pkg.my_method) "
        "or a .py file; repeatable. Installed packages can declare the entry point group "
        "langgraph_ttc.methods instead",
    )


def budgets(text: str) -> list[int]:
    """An argparse type: comma-separated whole numbers >= 1, sorted.

    Example:
        >>> budgets("8,1,4")
        [1, 4, 8]
    """
    try:
        values = sorted({int(b) for b in text.split(",") if b.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"budgets must be integers >= 1, got {text!r}")
    return values


def header(text: str) -> tuple[str, str]:
    """``--header 'NAME: VALUE'`` as a (name, value) pair.

    Example:
        >>> header("HTTP-Referer: https://example.org")
        ('HTTP-Referer', 'https://example.org')
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'NAME: VALUE', got {text.split(':')[0]!r}...")
    return name.strip(), value.strip()


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``/``--base-url``/``--mode``: the one way to name a model on every command."""
    parser.add_argument(
        "--model",
        default=os.environ.get("TTC_MODEL", "local"),
        help="'local' for the embedded Gemma 3 270M, or a model name served at --base-url "
        "(env TTC_MODEL)",
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get("TTC_BASE_URL"),
        help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 for vLLM "
        "(env TTC_BASE_URL); the API key comes from OPENAI_API_KEY",
    )
    parser.add_argument(
        "--ca-bundle",
        default=os.environ.get("TTC_CA_BUNDLE"),
        metavar="PATH",
        help="trust the CA certificates in this PEM file for --base-url (a private CA or a "
        "corporate gateway; env TTC_CA_BUNDLE)",
    )
    parser.add_argument(
        "--header",
        action="append",
        type=header,
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra HTTP header for every request to --base-url (Azure's api-key, "
        "OpenRouter's HTTP-Referer); repeat for more",
    )
    parser.add_argument(
        "--mode",
        choices=("chat", "completion"),
        default="chat",
        help="endpoint protocol: chat completions, or text completions with a few-shot "
        "transcript (for base models without a chat template)",
    )
    parser.add_argument(
        "--reasoning",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the model thinks before it answers (DeepSeek-R1, Qwen3, gpt-oss, o-series): "
        "requests leave room to think on top of --max-tokens; default: found out from the "
        "first reply that carries thinking. With --model local: the embedded model thinks by "
        "s1 budget forcing",
    )
    parser.add_argument(
        "--thinking-control",
        choices=THINKING_CONTROLS,
        default=None,
        help="how --thinking-budget reaches the model: vllm (thinking_token_budget), llama.cpp "
        "(thinking_budget_tokens), openai (reasoning_effort), or force (s1 budget forcing of a "
        "text endpoint, --mode completion, or the local model); default: openai for "
        "api.openai.com, else the budget only caps the total (said once)",
    )


def add_thinking_budget(parser: argparse.ArgumentParser) -> None:
    """``--thinking-budget``: the most tokens a reasoning model may think per sample."""
    parser.add_argument(
        "--thinking-budget",
        type=non_negative_int,
        default=None,
        help="most tokens a reasoning model may think per sample, on top of --max-tokens for "
        "the answer (see --thinking-control); default: the backend's room (16384)",
    )


def add_run(subparsers) -> argparse.ArgumentParser:
    """``run``: answer one question with a strategy.

    Example:
        >>> parser = build_parser()
        >>> args = parser.parse_args(["run", "What is 2 + 2?", "--n", "4"])
        >>> args.command, args.n, args.strategy
        ('run', 4, 'majority')
    """
    run = subparsers.add_parser(
        "run",
        help="answer one question with a test-time-compute strategy",
        description="Answer one question: draw samples, critique, verify or revise them as the "
        "strategy says, and print the chosen answer, every sample and what the run spent.",
        formatter_class=_Formatter,
    )
    run.add_argument(
        "question", nargs="?", default=None,
        help="the question to answer (none with --batch-budget: every question of --task)",
    )  # fmt: skip
    add_model_arguments(run)
    run.add_argument("--strategy", default="majority", help=STRATEGY_HELP)
    run.add_argument(
        "--option",
        dest="options",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="set one of the strategy's own options, e.g. --option group_size=4 (genselect), "
        "--option steps=3 (rsa); values are read as JSON where they parse",
    )
    run.add_argument(
        "--n",
        type=positive_int,
        default=None,
        help="the call budget per question: samples plus their critiques and judge calls "
        "(step-level searches: the search width N); default: the strategy's own (8; adaptive 16)",
    )
    run.add_argument("--width", type=positive_int, default=None, help="revise: parallel chains")
    run.add_argument("--depth", type=positive_int, default=None, help="revise: attempts per chain")
    run.add_argument("--budget-calls", type=positive_int, default=None, help="cap on model calls")
    run.add_argument(
        "--budget-tokens", type=positive_int, default=None, help="cap on prompt+completion tokens"
    )
    run.add_argument(
        "--budget-seconds", type=positive_float, default=None, help="cap on wall-clock seconds"
    )
    run.add_argument("--temperature", type=float, default=None, help="sampling temperature (0.7)")
    run.add_argument(
        "--max-tokens", type=positive_int, default=None, help="tokens per sample (256)"
    )
    add_thinking_budget(run)
    run.add_argument("--seed", type=int, default=None, help="fix the seeds for a reproducible run")
    run.add_argument(
        "--task",
        default=None,
        help="take few-shot exemplars and answer parsing from a task (`langgraph-ttc tasks`)",
    )
    add_allow_unsandboxed(run)
    run.add_argument(
        "--verifier", choices=("judge",), default=None, help="score candidates with an LLM judge"
    )
    run.add_argument(
        "--policy", default=None, help="policy JSON from `calibrate` (--strategy adaptive)"
    )
    run.add_argument(
        "--on-failure",
        choices=("partial", "raise"),
        default=None,
        help="failed samples: answer from the others (partial) or stop with an error",
    )
    run.add_argument(
        "--reference",
        default=None,
        help="the right answer, if you know it: prints how many single samples got it and "
        "whether the vote did",
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a line per sample on stderr as it arrives (default: when stderr is a terminal)",
    )
    run.add_argument(
        "--batch-budget",
        type=positive_float,
        default=None,
        metavar="MEAN_CALLS",
        help="answer every question of --task under one total budget (this many samples per "
        "question on average), giving the next samples to the questions where more pay most "
        "(batch allocation); with --policy, its fitted prior, confidence evidence and each "
        "question's zero-probe prior",
    )
    run.add_argument(
        "--batch-cap",
        type=positive_int,
        default=32,
        help="--batch-budget: the most samples one question may get",
    )
    run.add_argument(
        "--batch-pooled",
        type=float,
        default=None,
        metavar="PSEUDO_QUESTIONS",
        help="--batch-budget: read each question's expected gain under a prior fitted to the "
        "batch's own probes (empirical Bayes), shrunk toward the policy's prior by this many "
        "pseudo-questions (e.g. 10); default: the policy's prior alone",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object")
    add_plugin_argument(run)
    run.set_defaults(command="run")
    return run


def add_allow_unsandboxed(parser) -> None:
    """``--allow-unsandboxed``: code tasks run model-written code even without a sandbox."""
    parser.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="code tasks (humaneval): run model-written code even where no sandbox boundary "
        "can be made here (bwrap, user namespaces, a process limit); it then runs with your "
        "user's file access",
    )


def add_tasks(subparsers) -> argparse.ArgumentParser:
    tasks = subparsers.add_parser("tasks", help="list the built-in task names")
    tasks.set_defaults(command="run", tasks=True)
    return tasks


def add_curves(subparsers) -> argparse.ArgumentParser:
    """``curves``: build/resume a sample pool, estimate, fit, plot and print a table.

    Example:
        >>> args = build_parser().parse_args(["curves", "--task", "rg:basic_arithmetic", "--out", "d"])
        >>> args.k_max, args.strategies
        (64, 'coverage,majority,filter_vote,best_of_n')
    """
    curves = subparsers.add_parser(
        "curves",
        help="accuracy vs number of calls per strategy, from one resumable sample pool",
        description="Draw up to --k-max samples per problem once (resumed when --out exists), "
        "then estimate every strategy at every k, fit the coverage power law and the vote "
        "scaling model, and write pool.sqlite, curves.csv, summary.json and curves.png "
        "(curves-tokens.png with --x tokens).",
        formatter_class=_Formatter,
    )
    curves.add_argument("--task", required=True, help="e.g. rg:basic_arithmetic, humaneval")
    curves.add_argument("--size", type=positive_int, default=50, help="problems")
    curves.add_argument("--task-seed", type=int, default=0, help="seed of the task's problems")
    add_allow_unsandboxed(curves)
    curves.add_argument(
        "--task-config",
        type=json_object,
        default=None,
        help='reasoning-gym generator settings as JSON, e.g. \'{"max_terms": 2, "max_digits": 1}\'',
    )
    curves.add_argument("--k-max", type=positive_int, default=64, help="samples per problem")
    curves.add_argument(
        "--strategies",
        default=",".join(DEFAULT_CURVE_STRATEGIES),
        help="comma-separated: coverage and the votes a pool replays (majority, filter_vote, "
        "best_of_n, weighted_best_of_n, confidence_weighted, deepconf_low, deepconf_high, ...), "
        "and strategies run live at each k (revise, adaptive, beam_search, rebase, genselect, "
        "rsa, particle_filter, ...)",
    )
    curves.add_argument("--out", required=True, type=Path, help="output directory (resumed)")
    add_model_arguments(curves)
    curves.add_argument("--seed", type=int, default=0, help="base seed of the pool's samples")
    curves.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (0.7)"
    )
    curves.add_argument("--top-p", type=float, default=None, help="nucleus sampling (0.95)")
    curves.add_argument("--max-tokens", type=positive_int, default=None, help="per sample (256)")
    add_thinking_budget(curves)
    curves.add_argument(
        "--x",
        choices=X_AXES,
        default="calls",
        help="the plot's x axis: mean calls, mean total tokens (thinking included) or mean "
        "thinking tokens per problem",
    )
    curves.add_argument(
        "--verifier",
        choices=("critique", "judge"),
        default="critique",
        help="best-of-N scores: 'critique' reuses the filter verdicts (no extra calls); "
        "'judge' asks the model with the LLM-judge prompt (one 'verify' call per sample)",
    )
    curves.add_argument(
        "--confidence",
        action="store_true",
        help="store each sample's token confidence (for confidence votes, DeepConf and the "
        "router's confidence statistic; needs a backend that reports log-probabilities)",
    )
    curves.add_argument(
        "--confidence-window",
        type=positive_int,
        default=2048,
        help="tokens per group of DeepConf's group confidence (paper: 2048; scale it to the "
        "length of the samples)",
    )
    curves.add_argument("--concurrency", type=positive_int, default=4, help="requests in flight")
    curves.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples")
    curves.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    curves.add_argument("--no-plot", action="store_true", help="skip the plot")
    add_plugin_argument(curves)
    ray = curves.add_argument_group("on a Ray cluster (pip install 'langgraph-ttc[ray]')")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="build the pool on Ray: an actor pool of samplers over a Dataset of the questions. "
        "ADDRESS: 'auto' (the cluster `ray start` runs here), ray://head:10001; none: "
        "$RAY_ADDRESS, else a local Ray. --base-url may list replicas: URL1,URL2",
    )
    ray.add_argument("--actors", type=positive_int, default=2, help="with --ray: sampler actors")
    ray.add_argument(
        "--vllm",
        action="store_true",
        help="with --ray: run vLLM inside Ray Data (ray.data.llm) on the GPU nodes, --model "
        "being the model source (a Hugging Face id or path); no server needed",
    )
    curves.set_defaults(command="curves")
    return curves


def add_plot(subparsers) -> argparse.ArgumentParser:
    """``plot DIR``: re-plot a curves directory without sampling.

    Example:
        >>> build_parser().parse_args(["plot", "runs/a"]).dir
        PosixPath('runs/a')
    """
    plot = subparsers.add_parser(
        "plot",
        help="re-plot a curves directory from its summary/pool (no model calls)",
        formatter_class=_Formatter,
    )
    plot.add_argument("dir", type=Path, help="a directory written by `langgraph-ttc curves`")
    plot.add_argument(
        "--strategies", default=None, help="recompute for these strategies (comma-separated)"
    )
    plot.add_argument("--x", choices=X_AXES, default="calls", help="the plot's x axis")
    plot.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the PNG to write; default: DIR/curves.png for calls, DIR/curves-tokens.png or "
        "DIR/curves-thinking-tokens.png for the other axes (the calls plot is kept)",
    )
    plot.set_defaults(command="curves", replot=True)
    return plot


def add_calibrate(subparsers) -> argparse.ArgumentParser:
    """``calibrate``: fit a routing policy from sample pools.

    Example:
        >>> args = build_parser().parse_args(["calibrate", "--pool", "a/pool.sqlite", "--out", "p.json"])
        >>> args.budgets, args.probes, args.holdout
        ([1, 2, 4, 8, 16, 32], 4, 0.5)
    """
    cal = subparsers.add_parser(
        "calibrate",
        help="fit a routing policy (plan per difficulty bin and budget) from sample pools",
        description="Replay the router on pool samples, bin runs by what their probes show, and "
        "keep the best plan per (bin, budget), cheapest within --tolerance. Prints the policy "
        "and its cross-validated accuracy; writes the policy JSON for Adaptive(policy=...). "
        "Pools of one model drawn at several thinking budgets (curves --thinking-budget T, one "
        "pool per T) fit plans that choose the thinking budget too, at --token-budgets.",
        formatter_class=_Formatter,
    )
    cal.add_argument(
        "--pool",
        action="append",
        required=True,
        type=Path,
        help="a pool.sqlite written by `langgraph-ttc curves` (repeat for a task mix)",
    )
    cal.add_argument(
        "--budgets", type=budgets, default=[1, 2, 4, 8, 16, 32], help="calls per question"
    )
    cal.add_argument("--out", required=True, type=Path, help="policy JSON to write")
    cal.add_argument(
        "--token-budgets",
        type=budgets,
        default=None,
        help="pools at several thinking budgets (the thinking axis): generated tokens per "
        "question, thinking included; default 1, 2, 4, 8, 16 times what the probes cost",
    )
    cal.add_argument(
        "--probe-thinking-budget",
        type=non_negative_int,
        default=None,
        help="the thinking axis: the probes' thinking budget (default the pools' smallest; "
        "run with Adaptive(thinking_budget=...) at it)",
    )
    cal.add_argument("--probes", type=positive_int, default=4, help="router probes")
    cal.add_argument(
        "--statistic",
        choices=("agreement", "verifier", "confidence"),
        default="agreement",
        help="what the probes show of a question's difficulty",
    )
    cal.add_argument(
        "--holdout",
        type=float,
        default=0.5,
        help="share of each pool's problems kept out of fitting, for `compare`",
    )
    cal.add_argument("--folds", type=positive_int, default=2, help="cross-validation folds")
    cal.add_argument("--orders", type=positive_int, default=32, help="replayed orders/problem")
    cal.add_argument("--tolerance", type=float, default=0.01, help="accuracy traded for thrift")
    cal.add_argument(
        "--objective",
        choices=("accuracy", "equal-calls"),
        default="accuracy",
        help="accuracy: the best plan within each budget; equal-calls: plans that beat uniform "
        "voting at the calls they spend (a price per call chosen by cross-validation)",
    )
    cal.add_argument("--seed", type=int, default=0, help="seeds the orders and the folds")
    cal.add_argument(
        "--stop-rule",
        dest="stop_rules",
        action="append",
        type=json_object,
        default=None,
        metavar="JSON",
        help="a stop rule sequential majorities may stop by, as JSON (repeatable), e.g. "
        '\'{"kind": "bayesian", "threshold": 0.9}\'; default: agreement shares 0.5-1.0',
    )
    add_plugin_argument(cal)
    cal.set_defaults(command="policy", calibrate=True)
    return cal


def add_compare(subparsers) -> argparse.ArgumentParser:
    """``compare``: the policy against the fixed strategies on held-out problems.

    Example:
        >>> args = build_parser().parse_args(
        ...     ["compare", "--pool", "a/pool.sqlite", "--policy", "p.json", "--out", "d"]
        ... )
        >>> args.problems
        'heldout'
    """
    cmp = subparsers.add_parser(
        "compare",
        help="adaptive policy vs fixed strategies at matched compute (plot + compute ratios)",
        description="Replay the policy and the fixed strategies on the problems the policy was "
        "not fitted on; print the compute ratio per budget with bootstrap intervals; write "
        "compare.json and compare.png.",
        formatter_class=_Formatter,
    )
    cmp.add_argument("--pool", action="append", required=True, type=Path, help="pool.sqlite")
    cmp.add_argument("--policy", required=True, type=Path, help="from `langgraph-ttc calibrate`")
    cmp.add_argument("--out", required=True, type=Path, help="output directory")
    cmp.add_argument(
        "--problems",
        choices=("heldout", "all"),
        default="heldout",
        help="'heldout': the problems the policy recorded as held out",
    )
    cmp.add_argument("--orders", type=positive_int, default=32, help="replayed orders/problem")
    cmp.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap resamples")
    cmp.add_argument("--seed", type=int, default=0, help="seeds the orders and the bootstrap")
    cmp.add_argument("--no-plot", action="store_true", help="skip compare.png")
    add_plugin_argument(cmp)
    cmp.set_defaults(command="policy", calibrate=False)
    return cmp


def add_serve(subparsers) -> argparse.ArgumentParser:
    """``serve``: test-time compute behind an OpenAI-compatible endpoint.

    Example:
        >>> args = build_parser().parse_args(["serve", "--strategy", "majority", "--n", "8"])
        >>> args.command, args.backend, args.port, args.strategy
        ('serve', 'local', 8000, 'majority')
    """
    serve = subparsers.add_parser(
        "serve",
        help="serve test-time compute behind an OpenAI-compatible endpoint",
        description="An OpenAI-compatible server (POST /v1/chat/completions, /v1/completions; "
        "GET /v1/models, /health, /metrics). A request picks its method in the model name "
        "(majority@8/<model>, adaptive/<model>), in extra_body={'ttc': {...}} or in X-TTC-* "
        "headers; a plain model name passes straight through. Needs the [serve] extra.",
        formatter_class=_Formatter,
    )
    serve.add_argument(
        "--backend",
        default=os.environ.get("TTC_BASE_URL") or "local",
        help="'local' (the embedded Gemma 3 270M), an OpenAI-compatible URL such as "
        "http://127.0.0.1:8080/v1 (vLLM, llama.cpp, a proxy), or openai:<model> (env TTC_BASE_URL)",
    )
    serve.add_argument(
        "--model",
        default=os.environ.get("TTC_MODEL"),
        help="the model served at a URL backend (default: the one it lists) (env TTC_MODEL)",
    )
    serve.add_argument(
        "--strategy",
        default=None,
        help="a registered strategy (checked when the command runs; --plugin adds yours), or "
        "none: the method of requests that name none (default: none, a plain model name passes "
        "straight through)",
    )
    serve.add_argument(
        "--n", type=positive_int, default=None, help="the default method's calls per question"
    )
    serve.add_argument(
        "--budget-calls", type=positive_int, default=None, help="default call budget per choice"
    )
    serve.add_argument(
        "--budget-tokens", type=positive_int, default=None, help="default token budget per choice"
    )
    add_thinking_budget(serve)
    serve.add_argument("--policy", default=None, help="policy JSON from `calibrate` (adaptive)")
    serve.add_argument(
        "--progress",
        action="store_true",
        help="stream progress events (samples, critiques, routing) unless a request says not to",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=positive_int, default=8000, help="port to listen on")
    serve.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="a key clients must send as 'Authorization: Bearer <key>' (repeat for several; "
        "env TTC_SERVE_API_KEYS, comma-separated); none: no key needed",
    )
    serve.add_argument(
        "--max-calls", type=positive_int, default=64, help="cap on model calls per request"
    )
    serve.add_argument(
        "--max-tokens", type=positive_int, default=None, help="cap on tokens per request"
    )
    serve.add_argument(
        "--max-seconds", type=positive_float, default=600.0, help="cap on seconds per request"
    )
    serve.add_argument("--max-choices", type=positive_int, default=8, help="cap on a request's n")
    serve.add_argument(
        "--max-prompts",
        type=positive_int,
        default=64,
        help="cap on the prompts of one /v1/completions list prompt (each run, or one batch)",
    )
    serve.add_argument(
        "--max-body-bytes", type=positive_int, default=4 * 1024 * 1024, help="largest request body"
    )
    serve.add_argument(
        "--max-running", type=positive_int, default=64, help="requests running at once"
    )
    serve.add_argument(
        "--max-waiting",
        type=non_negative_int,
        default=1024,
        help="requests waiting for a slot; past it: 503 with Retry-After",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (prompts and keys are never logged)",
    )
    serve.set_defaults(command="serve")
    return serve


def build_parser(version: str = "") -> argparse.ArgumentParser:
    """The ``langgraph-ttc`` parser with every subcommand.

    Example:
        >>> sorted(build_parser()._subparsers._group_actions[0].choices)
        ['calibrate', 'compare', 'curves', 'plot', 'run', 'serve', 'tasks']
    """
    parser = _Parser(
        prog="langgraph-ttc",
        description="Test-time compute for LangGraph: answer with more model calls, and measure "
        "what they buy (scaling curves, a calibrated router).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    add_plugin_argument(parser, top=True)
    parser.add_argument("--version", action="version", version=f"langgraph-ttc {version}")
    subparsers = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for add in (add_run, add_tasks, add_curves, add_plot, add_calibrate, add_compare, add_serve):
        add_verbose(add(subparsers))
    return parser


def add_verbose(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``-v`` after the subcommand too (``langgraph-ttc run -v ...``); unset, it leaves the
    value given before the subcommand (or its default) alone."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress"
    )
    return parser
