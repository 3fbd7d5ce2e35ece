"""The curves pipeline and its CLI on a noisy-oracle fake: files, summary contents, replot."""

from __future__ import annotations

import csv
import itertools
import json

import pytest

from langgraph_ttc.aggregators import get_aggregator
from langgraph_ttc.cli.curves import _fit_lines
from langgraph_ttc.errors import TTCConfigError
from langgraph_ttc.scaling import STRATEGY_NAMES, LiveResult, replot, run_curves
from langgraph_ttc.tasks import load_task
from langgraph_ttc.testing import FakeBackend, NoisyOracle

FILES = ("pool.sqlite", "curves.csv", "summary.json", "curves.png")


def oracle_setup(size: int = 6):
    task = load_task("rg:basic_arithmetic", size=size, seed=5)
    accuracies = (0.15, 0.4, 0.6, 0.9, 0.3, 0.75)
    questions = {
        p.question: (p.reference, accuracies[i % len(accuracies)])
        for i, p in enumerate(task.problems())
    }
    return task, FakeBackend(reply=NoisyOracle(questions, critique_accuracy=0.85))


# What a pool without log-probabilities can estimate (the confidence votes need them).
POOL_STRATEGIES = [
    s for s in STRATEGY_NAMES if s == "coverage" or "confidences" not in get_aggregator(s).needs
]


def test_run_curves_writes_everything(tmp_path):
    task, backend = oracle_setup()
    summary = run_curves(
        task, backend, tmp_path, k_max=8, strategies=POOL_STRATEGIES, progress=False, n_boot=200
    )
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "summary.json").read_text())["ks"] == [1, 2, 3, 4, 6, 8]
    assert set(summary["strategies"]) == set(POOL_STRATEGIES)
    for points in summary["strategies"].values():
        assert [p["k"] for p in points] == summary["ks"]
        for p in points:
            assert 0.0 <= p["ci_low"] <= p["accuracy"] <= p["ci_high"] <= 1.0
            assert p["mean_calls"] >= p["k"] and p["mean_tokens"] > 0
    calls = {s: pts[-1]["mean_calls"] for s, pts in summary["strategies"].items()}
    assert calls["coverage"] == calls["majority"] == 8
    assert calls["filter_vote"] == calls["best_of_n"] == pytest.approx(16)  # + one filter call
    coverage = [p["accuracy"] for p in summary["strategies"]["coverage"]]
    assert coverage == sorted(coverage)
    assert summary["pool"]["samples"] == 6 * 8 and summary["pool"]["build_seconds"] > 0
    assert summary["pool"]["this_run"]["drawn"] == 48
    law = json.loads((tmp_path / "summary.json").read_text())["fits"]["coverage_power_law"]
    assert law["status"] in ("ok", "all_correct")
    # a and b carry bootstrap-over-problems intervals, not curve_fit's pcov errors (issue 13).
    assert "a_se" not in law and len(law["a_ci"]) == len(law["b_ci"]) == 2
    if law["status"] == "ok":
        assert "bootstrap over problems" in law["ci_method"]
        assert "95% intervals (bootstrap over problems)" in _fit_lines(summary)
    assert summary["fits"]["vote_model"]["optimal_k"] >= 1
    assert sorted(set(summary["difficulty"]["oracle_bins"].values())) == [1, 2, 3, 4, 5]
    with open(tmp_path / "curves.csv") as handle:
        table = list(csv.DictReader(handle))
    assert {row["bin_kind"] for row in table} >= {"all", "oracle", "chen"}
    assert sum(row["bin_kind"] == "all" for row in table) == len(POOL_STRATEGIES) * 6


def test_resume_and_replot_without_sampling(tmp_path):
    task, backend = oracle_setup()
    run_curves(task, backend, tmp_path, k_max=4, progress=False, n_boot=50)
    again = run_curves(task, backend, tmp_path, k_max=4, progress=False, n_boot=50, plot=False)
    assert again["pool"]["this_run"]["drawn"] == 0
    (tmp_path / "curves.png").unlink()
    replot(tmp_path)
    assert (tmp_path / "curves.png").exists()
    (tmp_path / "summary.json").unlink()
    recomputed = replot(tmp_path, strategies=["coverage", "majority"])
    assert set(recomputed["strategies"]) == {"coverage", "majority"}
    assert (tmp_path / "summary.json").exists()


def test_live_hook_is_plotted_on_the_same_axes(tmp_path):
    task, backend = oracle_setup(3)

    def fake_revise(task, backend, k):
        return LiveResult(correct=[1.0, 0.0, float(k > 2)], mean_calls=1.5 * k, mean_tokens=9.0)

    summary = run_curves(
        task,
        backend,
        tmp_path,
        k_max=4,
        strategies=["majority"],
        progress=False,
        n_boot=20,
        live={"revise": fake_revise},
    )
    live = summary["live"]["revise"]
    assert [p["k"] for p in live] == [1, 2, 3, 4]
    assert live[-1]["accuracy"] == pytest.approx(2 / 3) and live[-1]["method"] == "live"


def test_unknown_strategy_is_a_config_error(tmp_path):
    task, backend = oracle_setup(2)
    with pytest.raises(TTCConfigError, match="choose from"):
        run_curves(task, backend, tmp_path, k_max=2, strategies=["beam"], progress=False)


def test_cli_curves_and_plot(tmp_path, monkeypatch, capsys):
    from langgraph_ttc import cli
    from langgraph_ttc.cli import curves as curves_command

    task, backend = oracle_setup(4)
    monkeypatch.setattr(curves_command, "backend_from_args", lambda args: backend)
    out = tmp_path / "run"
    argv = ["curves", "--task", "rg:basic_arithmetic", "--size", "4", "--task-seed", "5"]
    argv += ["--k-max", "4", "--out", str(out), "--no-progress", "--n-boot", "50"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "filter_vote" in printed and "coverage" in printed and "built in" in printed
    for name in FILES:
        assert (out / name).exists()
    (out / "curves.png").unlink()
    assert cli.main(["plot", str(out)]) == 0
    assert (out / "curves.png").exists()
    assert cli.main(["plot", str(tmp_path / "nothing")]) == 2


def test_plot_on_another_axis_keeps_the_calls_plot_and_can_be_named(tmp_path, capsys):
    from langgraph_ttc.cli import main

    task, backend = oracle_setup(4)
    run_curves(task, backend, tmp_path, k_max=4, progress=False, n_boot=20)
    calls_plot = (tmp_path / "curves.png").read_bytes()
    assert main(["plot", str(tmp_path), "--x", "tokens"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'curves-tokens.png'}"
    assert (tmp_path / "curves.png").read_bytes() == calls_plot  # not overwritten
    assert (tmp_path / "curves-tokens.png").stat().st_size > 0
    named = tmp_path / "mine.png"
    assert main(["plot", str(tmp_path), "--x", "tokens", "--output", str(named)]) == 0
    assert named.stat().st_size > 0 and capsys.readouterr().out.strip() == f"wrote {named}"


@pytest.mark.parametrize("x", ["calls", "tokens"])
def test_x_tick_labels_do_not_overlap(tmp_path, x):
    """A token axis spans less than two decades: matplotlib's default labels every minor
    tick there (2x10^2 3x10^2 4x10^2 ...), and they run into each other."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from langgraph_ttc.scaling.plots import _panel_bins, _panel_strategies

    task, backend = oracle_setup(6)
    summary = run_curves(task, backend, tmp_path, k_max=16, progress=False, n_boot=20, plot=False)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.75))  # a panel's size in curves.png
    _panel_strategies(axes[0], summary, x)
    _panel_bins(axes[1], summary, x)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        labels = [
            t for t in ax.get_xticklabels(minor=False) + ax.get_xticklabels(minor=True)
            if t.get_visible() and t.get_text() and ax.get_xlim()[0] <= t.get_position()[0]
            <= ax.get_xlim()[1]
        ]  # fmt: skip
        assert len(labels) >= 2
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        for left, right in itertools.pairwise(boxes):
            assert left.x1 <= right.x0, [t.get_text() for t in labels]
        assert all("times" not in t.get_text() and "^" not in t.get_text() for t in labels)
    plt.close(fig)
