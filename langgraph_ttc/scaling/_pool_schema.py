"""The SQLite layout of a sample pool and how to open one (WAL, one statement per transaction)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL            -- JSON
);
CREATE TABLE IF NOT EXISTS problems (
    problem_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    question TEXT NOT NULL,
    reference TEXT,
    prompt_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (
    problem_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    seed INTEGER,
    params TEXT,                   -- JSON sampling params, with this sample's seed
    prompt_hash TEXT,
    text TEXT,
    answer TEXT,                   -- extracted, normalised; NULL when none
    score REAL,                    -- the task's score in [0, 1]
    correct INTEGER,               -- score == 1
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cached_tokens INTEGER,
    latency_s REAL,
    finish_reason TEXT,
    model_id TEXT,
    error TEXT,                    -- NULL unless the sample failed (retried on resume)
    created_at REAL,
    critique_text TEXT,            -- Filter-Vote critique (Chen et al. 2024); NULL: not yet run
    critique_verdict REAL,         -- 1.0 [[correct]], 0.0 [[wrong]], NULL unparsed
    critique_calls INTEGER,
    critique_prompt_tokens INTEGER,
    critique_completion_tokens INTEGER,
    critique_error TEXT,
    verifier_score REAL,           -- the verifier's score in [0, 1]
    verify_calls INTEGER,
    verify_prompt_tokens INTEGER,
    verify_completion_tokens INTEGER,
    verify_error TEXT,
    confidence TEXT,               -- JSON TraceConfidence summary; NULL without log-probs
    thinking_tokens INTEGER,       -- of completion_tokens, those a reasoning model thought
    truncated_in_thinking INTEGER, -- 1: cut off inside its thinking (no answer for that reason)
    UNIQUE (problem_id, sample_index)
);
"""


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a pool. Writers get WAL + synchronous=NORMAL (durable across a killed process) and
    autocommit, so each statement is its own transaction."""
    if readonly:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        return conn
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# Columns added after the first pools were written, with their types.
LATER_COLUMNS = {
    "confidence": "TEXT",
    "thinking_tokens": "INTEGER",
    "truncated_in_thinking": "INTEGER",
}


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Pools written before a column existed gain it (NULL), so they still load and resume."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
    for column, kind in LATER_COLUMNS.items():
        if have and column not in have:
            conn.execute(f"ALTER TABLE samples ADD COLUMN {column} {kind}")


def has_column(conn: sqlite3.Connection, column: str) -> bool:
    return any(row[1] == column for row in conn.execute("PRAGMA table_info(samples)"))
