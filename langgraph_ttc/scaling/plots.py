"""Plots of a curves summary (matplotlib, Agg backend, imported lazily).

One figure, four panels:

1. accuracy vs mean calls per problem (log x), one line per strategy, 95% CI bands (or vs mean
   tokens, or vs mean thinking tokens, per problem: ``x``);
2. coverage with the fitted power law exp(a k^b) (Brown et al. 2024) and its extrapolation band;
3. majority (solid) and coverage (dashed) per Snell et al. difficulty bin (1 = easiest);
4. observed majority accuracy vs Chen et al.'s fitted vote model, with the predicted optimal K.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from langgraph_ttc.extras import require

__all__ = ["plot_comparison", "plot_summary"]

COLORS = {
    "coverage": "#444444",
    "majority": "#1f77b4",
    "filter_vote": "#2ca02c",
    "best_of_n": "#d62728",
    "weighted_best_of_n": "#9467bd",
}


def _pyplot():
    matplotlib = require("matplotlib", "eval", "plotting")
    matplotlib.use("Agg", force=True)
    return require("matplotlib.pyplot", "eval", "plotting")


def _series(points, key):
    return np.array([np.nan if p.get(key) is None else p[key] for p in points], dtype=float)


# What a curve's x axis can be: the point's key and the axis label.
X_AXES = {
    "calls": ("mean_calls", "mean calls per problem (generate + critique/verify)"),
    "tokens": ("mean_tokens", "mean tokens per problem (prompt + completion, thinking included)"),
    "thinking-tokens": ("mean_thinking_tokens", "mean thinking tokens per problem"),
}


def _x_key(x: str) -> str:
    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}; got {x!r}")
    return X_AXES[x][0]


def _log_if_positive(ax, values) -> None:
    """A log x axis, unless some point is at zero (thinking tokens of a model that does not
    think): then linear."""
    finite = [v for v in values if np.isfinite(v)]
    if finite and min(finite) > 0:
        ax.set_xscale("log")
        _plain_log_ticks(ax)
    else:
        ax.set_xscale("linear")


def _compact(value: float, _position=None) -> str:
    """A tick label a reader takes in at a glance: 2, 50, 500, 2k, 50k, 2M (powers of two
    stay whole: 1024).

    Example:
        >>> [_compact(v) for v in (2, 50, 500, 2000, 50000, 2e6, 0.5, 1024)]
        ['2', '50', '500', '2k', '50k', '2M', '0.5', '1024']
    """
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= scale and value % scale == 0:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _plain_log_ticks(ax, base: int = 10) -> None:
    """Ticks at 1, 2, 5 x 10^n (or powers of ``base``) labelled as plain numbers, no minor
    labels: matplotlib's default labels every minor tick of an axis spanning less than a
    decade or two (2x10^2 3x10^2 ...), which overlap on a token axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = ax.get_xlim()
    decades = np.log10(max(high, 1e-12) / max(low, 1e-12))
    subs = (1.0, 2.0, 5.0) if decades <= 3 and base == 10 else (1.0,)
    ax.xaxis.set_major_locator(LogLocator(base=base, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _curve(ax, points, *, color, label, style="-", alpha=0.15, x="mean_calls", **line):
    """Accuracy vs mean calls (or ``x``, another cost per point) with its 95% CI band."""
    x = _series(points, x)
    line = {"marker": "o", "ms": 3, **line}
    ax.plot(x, _series(points, "accuracy"), style, color=color, label=label, **line)
    ax.fill_between(
        x, _series(points, "ci_low"), _series(points, "ci_high"), color=color, alpha=alpha
    )


def _panel_strategies(ax, summary, x="calls"):
    key, label_x = X_AXES[x]
    groups = {**summary["strategies"], **summary.get("live", {})}
    for name, points in groups.items():
        style = "--" if name == "coverage" else "-"
        label = f"{name} (oracle)" if name == "coverage" else name
        _curve(ax, points, color=COLORS.get(name), label=label, style=style, x=key)
    _log_if_positive(ax, [v for pts in groups.values() for v in _series(pts, key)])
    ax.set_xlabel(label_x)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy vs {x.replace('-', ' ')} (95% CI over problems)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)


def _panel_coverage(ax, summary):
    law = summary["fits"]["coverage_power_law"]
    ks, observed = np.array(law["ks"], dtype=float), _values(law["observed"])
    ax.plot(ks, observed, "o", ms=3, color=COLORS["coverage"], label="coverage (pass@k)")
    extra = law.get("extrapolation") or []
    if law["status"] == "ok":
        k_top = max([ks.max(), *[e["k"] for e in extra]])
        grid = np.logspace(0, np.log10(k_top), 200)
        a, b = law["a"], law["b"]
        ax.plot(
            grid,
            np.exp(a * grid**b),
            "-",
            color="#ff7f0e",
            label=f"exp({a:.2f} k^{b:.2f}), RMSE {law['rmse']:.3f}",
        )
        if extra:
            ek = np.array([e["k"] for e in extra], dtype=float)
            ax.fill_between(
                ek,
                _values([e["low"] for e in extra]),
                _values([e["high"] for e in extra]),
                color="#ff7f0e",
                alpha=0.2,
                label="extrapolation 95% band",
            )
            ax.plot(ek, _values([e["coverage"] for e in extra]), "x", color="#ff7f0e")
    else:
        ax.text(0.05, 0.9, f"no fit: {law['status']}", transform=ax.transAxes, fontsize=8)
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel("samples k")
    ax.set_ylabel("coverage")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Coverage and fitted power law (Brown et al.)")
    ax.legend(fontsize=8, loc="best")


def _values(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _panel_bins(ax, summary, x="calls"):
    key, label_x = X_AXES[x]
    rows = summary["per_bin"].get("oracle", [])
    voting = next(
        (s for s in ("majority", "filter_vote", "best_of_n") if s in summary["strategies"]), None
    )
    bins = sorted({r["bin"] for r in rows}, key=lambda b: int(b) if str(b).isdigit() else 0)
    cmap = _pyplot().get_cmap("viridis", max(len(bins), 2))
    for i, bin_id in enumerate(bins):
        color = cmap(i)
        for strategy, style in ((voting, "-"), ("coverage", "--")):
            pts = [r for r in rows if r["bin"] == bin_id and r["strategy"] == strategy]
            if not pts:
                continue
            n = pts[0]["n_problems"]
            label = f"bin {bin_id} (n={n})" if style == "-" or voting is None else None
            ax.plot(
                _series(pts, key),
                _series(pts, "accuracy"),
                style,
                color=color,
                marker="o",
                ms=2,
                label=label,
            )
    _log_if_positive(ax, _series(rows, key))
    ax.set_xlabel(label_x)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Per difficulty bin (oracle pass@1): {voting or ''} solid, coverage dashed")
    ax.legend(fontsize=7)


def _panel_vote_model(ax, summary):
    vote = summary["fits"]["vote_model"]
    observed = summary["strategies"].get("majority")
    if observed:
        ax.plot(
            _series(observed, "k"),
            _series(observed, "accuracy"),
            "o",
            ms=3,
            color=COLORS["majority"],
            label="majority@k (pool)",
        )
    if vote.get("curve"):
        ax.plot(
            vote["curve_ks"],
            _values(vote["curve"]),
            "-",
            color="#8c564b",
            label=f"Chen et al. model ({len(vote['fit_ks'])} K fitted)",
        )
        if vote.get("optimal_k"):
            ax.axvline(
                vote["optimal_k"],
                color="#8c564b",
                ls=":",
                label=f"predicted best K = {vote['optimal_k']}",
            )
        plateau = vote.get("plateau_k")
        if plateau and plateau != vote.get("optimal_k"):
            ax.axvline(
                plateau, color="#8c564b", ls="--", alpha=0.5, label=f"within 0.5 pt: K = {plateau}"
            )
        for i, row in enumerate(vote.get("holdout") or []):
            label = "held-out prediction" if i == 0 else None
            ax.plot(row["k"], row["predicted"], "s", mfc="none", color="#8c564b", ms=6, label=label)
    else:
        ax.text(0.05, 0.9, f"no vote model: {vote.get('status')}", transform=ax.transAxes)
    counts = summary["difficulty"]["chen_counts"]
    ax.set_xscale("log")
    _plain_log_ticks(ax)
    ax.set_xlabel("votes K")
    ax.set_ylabel("majority accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"Vote scaling model: {counts['easy']} easy / {counts['hard']} hard queries")
    ax.legend(fontsize=8)


def plot_summary(summary: dict, path: str | os.PathLike, *, x: str = "calls") -> Path:
    """Draw the four panels of a curves summary into ``path`` (PNG).

    Args:
        summary: the dict :func:`~langgraph_ttc.scaling.curves.run_curves` returns / writes.
        path: output file.
        x: the x axis of the strategy and bin panels: ``"calls"``, ``"tokens"`` (prompt and
            completion, thinking included) or ``"thinking-tokens"``, per problem.

    Raises:
        ImportError: matplotlib is missing (the message says how to install it).

    Example:
        >>> from langgraph_ttc.scaling.curves import replot
        >>> replot("runs/arith")  # doctest: +SKIP
    """
    _x_key(x)
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5))
    _panel_strategies(axes[0, 0], summary, x)
    _panel_coverage(axes[0, 1], summary)
    _panel_bins(axes[1, 0], summary, x)
    _panel_vote_model(axes[1, 1], summary)
    pool = summary.get("pool", {})
    fig.suptitle(
        f"{summary.get('task')} on {summary.get('model_id')}: {summary.get('n_problems')} problems,"
        f" {summary.get('k_pool')} samples each, pool built in {pool.get('build_seconds', 0):.0f}s"
        f" (best-of-N scores: {summary.get('score_source')})",
        fontsize=11,
    )
    # Fixed margins: tight_layout costs seconds on a busy 2-core machine.
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.06, top=0.9, wspace=0.18, hspace=0.3)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _num(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def plot_comparison(result, path: str | os.PathLike) -> Path:
    """Accuracy vs mean calls: the fixed strategies' curves and the adaptive policy's points,
    each labelled with its compute ratio (see :mod:`~langgraph_ttc.scaling.compare`). For a
    policy on the thinking axis, accuracy vs mean generated tokens: a curve over width per
    thinking budget (solid), a curve over thinking budget per width (dashed), and the policy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 6.5))
    tokens = result.meta.get("unit") == "tokens"
    x = "mean_tokens" if tokens else "mean_calls"
    shades = plt.get_cmap("viridis", max(len(result.fixed), 2))
    markers = "osv^<>phX*"
    for i, (name, points) in enumerate(result.fixed.items()):
        color = shades(i) if tokens else COLORS.get(name, shades(i))
        label = name if tokens else f"uniform {name}"
        _curve(ax, points, color=color, label=label, alpha=0.08, x=x,
               marker=markers[i % len(markers)], lw=1)  # fmt: skip
    thinks = plt.get_cmap("autumn", max(len(result.thinking), 2))
    for i, (name, points) in enumerate(result.thinking.items()):  # longer thinking, same width
        _curve(ax, points, color=thinks(i), label=name, style="--", alpha=0.05, x=x, marker="s")
    oracle = getattr(result, "oracle", None) or []
    if oracle:  # an upper bound: each question's best fixed method and count
        ax.plot(_series(oracle, "mean_calls"), _series(oracle, "accuracy"), "--", color="black",
                marker="x", ms=5, lw=1.5, markevery=max(1, len(oracle) // 12),
                label="oracle (per-question best allocation)")  # fmt: skip
    rows = result.adaptive
    # The router's interval as error bars, not a band: bands over the fixed methods' faint ones
    # blend into one brown area.
    xs, ys = _series(rows, x), _series(rows, "accuracy")
    errors = np.vstack([ys - _series(rows, "ci_low"), _series(rows, "ci_high") - ys])
    ax.errorbar(
        xs, ys, yerr=errors, color="#ff7f0e", marker="D", ms=7, lw=2.5, capsize=3,
        label="router (calibrated policy), 95% CI", zorder=5,
    )  # fmt: skip
    notes = []
    for j, row in enumerate(rows):
        share = row.get("oracle_share")
        if "oracle_accuracy" in row:  # the numbers go in a box; the points get their budget
            text = f"B={row['budget']}"
            notes.append(
                f"B={row['budget']:>3}: router {row['accuracy']:.3f}, uniform "
                f"{_num(row.get('best_uniform_accuracy'))}, oracle {row['oracle_accuracy']:.3f}, "
                f"share {_num(share, '.2f')}"
            )
        else:
            ratio = row["compute_ratio"]
            text = f"{ratio:.1f}x" if ratio is not None else f">{row['ratio_lower_bound']:.1f}x"
            text = f"B={row['budget']}: {text}"
        # Alternate below and above the point, in a box, so labels stay off the lines.
        ax.annotate(
            text,
            (row[x], row["accuracy"]),
            textcoords="offset points",
            xytext=(10, -22 if j % 2 == 0 else 16),
            fontsize=8,
            color="#b35900",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#b35900", "alpha": 0.9},
            arrowprops={"arrowstyle": "-", "color": "#b35900", "lw": 0.6},
        )
    if notes:
        ax.text(1.01, 0.0, "at the router's mean calls:\n" + "\n".join(notes),
                transform=ax.transAxes, fontsize=7, family="monospace", va="bottom")  # fmt: skip
    ax.set_xscale("log", base=2)
    _plain_log_ticks(ax, base=2)
    unit = "generated tokens (thinking included)" if tokens else "calls"
    ax.set_xlabel(f"mean actual {unit} per question")
    ax.set_ylabel("accuracy (held-out problems)")
    # Zoom to the data: a weak model's curves are unreadable on a 0..1 axis.
    curves = [*result.fixed.values(), *result.thinking.values(), rows]
    highs = [p["ci_high"] for pts in curves for p in pts] + [p["accuracy"] for p in oracle]
    ax.set_ylim(-0.01, min(1.02, max(highs, default=1.0) * 1.1 + 0.02))
    cost = "tokens" if tokens else "calls"
    ax.set_title(
        f"Router vs uniform fixed methods and the oracle on {result.problems} held-out problems\n"
        + (
            "share = the router's part of the oracle's gain over the best uniform method"
            if oracle
            else f"ratio = {cost} the best fixed strategy needs / adaptive {cost}"
        ),
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.subplots_adjust(left=0.07, right=0.62, bottom=0.09, top=0.9)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
