"""The files of a curves directory: ``summary.json`` and ``curves.csv`` written and read, and
``curves.png`` drawn when matplotlib is installed. The curve maths (:mod:`~langgraph_ttc.scaling.curves`)
does no file I/O of its own beyond the pool.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["plot_file", "plot_summary", "read_summary", "write_outputs"]

logger = logging.getLogger(__name__)

POOL_FILE, CSV_FILE, SUMMARY_FILE, PLOT_FILE = (
    "pool.sqlite",
    "curves.csv",
    "summary.json",
    "curves.png",
)
SUMMARY_VERSION = 1
CSV_COLUMNS = (
    "strategy",
    "bin_kind",
    "bin",
    "k",
    "mean_calls",
    "mean_tokens",
    "mean_thinking_tokens",
    "accuracy",
    "ci_low",
    "ci_high",
    "method",
    "n_problems",
)


def plot_file(x: str = "calls") -> str:
    """The plot's file name for an x axis, so a plot on another axis does not overwrite the
    calls plot.

    Example:
        >>> plot_file(), plot_file("tokens"), plot_file("thinking-tokens")
        ('curves.png', 'curves-tokens.png', 'curves-thinking-tokens.png')
    """
    return PLOT_FILE if x == "calls" else f"curves-{x}.png"


def read_summary(out_dir: str | os.PathLike) -> dict | None:
    """The directory's ``summary.json`` (``None`` when there is none)."""
    path = Path(out_dir) / SUMMARY_FILE
    return json.loads(path.read_text()) if path.exists() else None


def plot_summary(summary: dict, path: Path, *, x: str = "calls") -> None:
    """Draw ``curves.png`` (needs matplotlib, from the ``eval`` extra) with ``x`` on the x axis
    (``"calls"``, ``"tokens"`` or ``"thinking-tokens"``)."""
    from langgraph_ttc.scaling.plots import plot_summary as draw  # optional: matplotlib

    draw(summary, path, x=x)


def write_outputs(
    out_dir: str | os.PathLike,
    summary: dict,
    *,
    plot: bool = True,
    x: str = "calls",
    plot_path: str | os.PathLike | None = None,
) -> None:
    """Write summary.json, curves.csv and (if ``plot``) the plot into ``out_dir``: at
    ``plot_path``, by default :func:`plot_file` of ``x`` (curves.png for calls)."""
    out = Path(out_dir)
    summary = {**summary, "written_at": time.time()}
    (out / SUMMARY_FILE).write_text(json.dumps(_jsonable(summary), indent=1, allow_nan=True))
    with open(out / CSV_FILE, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for rows in [*summary["strategies"].values(), *summary.get("live", {}).values()]:
            for row in rows:
                writer.writerow({**row, "bin_kind": "all"})
        for kind, rows in summary["per_bin"].items():
            for row in rows:
                writer.writerow({**row, "bin_kind": kind})
    if plot:
        path = Path(plot_path) if plot_path is not None else out / plot_file(x)
        try:
            plot_summary(summary, path, x=x)
        except ImportError as error:
            logger.warning("%s; skipped %s", error, path)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # strict JSON: NaN/inf become null
    return value
