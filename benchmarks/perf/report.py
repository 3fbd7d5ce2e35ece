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
    ("x floor", "wall_ratio"),
    ("ms/sample over floor", "overhead_ms_per_sample"),
    ("cpu s", "cpu_s"),
    ("cpu ms/sample", "cpu_ms_per_sample"),
    ("cpu ms/sample over floor", "cpu_overhead_ms_per_sample"),
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
            rows.append({**result, "contender": name})
    return table(rows, OVERHEAD_COLUMNS)
