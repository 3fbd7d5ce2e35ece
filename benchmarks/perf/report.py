"""Plain-text tables for the benchmark results."""

from __future__ import annotations


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """``columns`` = [(header, key)]; missing keys print as ``-``."""
    cells = [[header for header, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


OVERHEAD_COLUMNS = [
    ("contender", "contender"),
    ("wall s", "wall_s"),
    ("wall IQR", "wall_iqr"),
    ("x floor", "wall_ratio"),
    ("ms/sample over floor", "overhead_ms_per_sample"),
    ("cpu s", "cpu_s"),
    ("cpu ms/sample", "cpu_ms_per_sample"),
    ("cpu ms/sample over floor", "cpu_overhead_ms_per_sample"),
    ("server cpu ms/sample", "server_cpu_ms_per_sample"),
    ("gc s", "gc_s"),
    ("calls", "calls"),
    ("requests (server)", "server_requests"),
    ("requests (client)", "requests"),
    ("prompt tok", "prompt_tokens"),
    ("compl tok", "completion_tokens"),
    ("peak RSS MB", "peak_rss_mb"),
    ("RSS x floor", "rss_ratio"),
    ("setup s", "setup_s"),
    ("event loops", "event_loops"),
]


def overhead_table(results: dict) -> str:
    rows = []
    for name, result in results.items():
        if "error" in result:
            rows.append({"contender": f"{name} (error: {result['error']})"})
        else:
            iqr = None
            if result.get("wall_s_q1") is not None:
                iqr = f"{result['wall_s_q1']:.3f}-{result['wall_s_q3']:.3f}"
            rows.append({**result, "contender": name, "wall_iqr": iqr})
    return table(rows, OVERHEAD_COLUMNS)


def paired_table(summary: dict) -> str:
    """The per-round comparisons of :func:`perf.overhead.paired_summary` as two small tables."""

    def cell(stats: dict | None, digits: int) -> str:
        if not stats:
            return "-"
        low, high = stats["ci95"]
        return (
            f"{stats['median']:.{digits}f} [IQR {stats['q1']:.{digits}f}-{stats['q3']:.{digits}f}; "
            f"95% CI {low:.{digits}f}-{high:.{digits}f}; {stats['rounds']} rounds]"
        )

    names = sorted(set(summary["wall_ratio"]) | set(summary["cpu_ms_over_base"]))
    rows = [
        {
            "contender": name,
            "ratio": cell(summary["wall_ratio"].get(name), 3),
            "cpu": cell(summary["cpu_ms_over_base"].get(name), 3),
        }
        for name in names
    ]
    columns = [
        ("contender", "contender"),
        (f"wall / {summary['reference']} (same round)", "ratio"),
        ("cpu ms/sample over @base (same round)", "cpu"),
    ]
    return table(rows, columns)
