"""Where the local trace store lives and the tables in it: shared by the sink and the reader.

spans holds each span event whole (JSON in `event`) beside the columns the queries filter and
sort on. traces keeps one summary row per trace, updated as its spans arrive, so listing
traces never aggregates spans. Tags are indexed per trace, not per span: the spans of a trace
mostly share their tags (ml_app, service, env, session...), so a (tag, trace) index is about
ten times smaller than a (tag, span) one; a span-level tag filter narrows by trace through
the index, then checks the few candidate spans.
"""

from __future__ import annotations

import os
from pathlib import Path

PATH_ENV = "LLMOBS_LOCAL_PATH"
DEFAULT_RELATIVE_PATH = Path(".llmobs") / "traces.db"
SCHEMA_VERSION = 1


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path beats LLMOBS_LOCAL_PATH, which beats .llmobs/traces.db in the cwd."""
    if path is None or str(path) == "":
        path = os.environ.get(PATH_ENV) or DEFAULT_RELATIVE_PATH
    return Path(path).expanduser().absolute()


SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT,
    kind TEXT,
    ml_app TEXT,
    service TEXT,
    session_id TEXT,
    status TEXT,
    start_ns INTEGER,
    duration INTEGER,
    event TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS spans_by_id ON spans (trace_id, span_id);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans (start_ns);

CREATE TABLE IF NOT EXISTS traces (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL UNIQUE,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    error_count INTEGER NOT NULL,
    session_id TEXT,
    root_is_real INTEGER NOT NULL,
    root_start_ns INTEGER,
    root_name TEXT,
    root_kind TEXT,
    root_ml_app TEXT,
    root_duration INTEGER
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns);

CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (key, value)
);
CREATE TABLE IF NOT EXISTS trace_tags (
    tag_id INTEGER NOT NULL,
    trace_rowid INTEGER NOT NULL,
    PRIMARY KEY (tag_id, trace_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trace_tags_by_trace ON trace_tags (trace_rowid);

CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    digest INTEGER NOT NULL UNIQUE,
    trace_id TEXT,
    span_id TEXT,
    tag_key TEXT,
    tag_value TEXT,
    label TEXT,
    metric_type TEXT,
    ml_app TEXT,
    timestamp_ms INTEGER,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_by_span ON evaluations (trace_id, span_id);
CREATE INDEX IF NOT EXISTS evaluations_by_tag ON evaluations (tag_key, tag_value);
CREATE INDEX IF NOT EXISTS evaluations_by_label ON evaluations (label, timestamp_ms);
CREATE INDEX IF NOT EXISTS evaluations_by_ml_app ON evaluations (ml_app, timestamp_ms);
CREATE INDEX IF NOT EXISTS evaluations_by_time ON evaluations (timestamp_ms);
"""
