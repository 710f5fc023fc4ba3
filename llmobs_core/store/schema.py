"""The local trace store's tables, shared by the sink and the reader: a trace's spans kept as
JSON arrays (one row per trace, then one per later batch), tags indexed by tag set, and the
inbox of span records the writing processes left for a reader to settle. Why it is laid out so
(docs/local-store.md, "How traces are stored" and "The inbox")."""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3
PAGE_SIZE = 16_384  # fewer, fuller pages for chunks of a few kilobytes; only for new files


SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL UNIQUE,
    start_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    tag_set_id INTEGER NOT NULL,
    start_bound_ns INTEGER NOT NULL,
    events BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_ns, span_count, tag_set_id);

CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    trace_rowid INTEGER NOT NULL,
    min_start_ns INTEGER NOT NULL,
    max_start_ns INTEGER NOT NULL,
    start_bound_ns INTEGER NOT NULL,
    events BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_trace ON chunks (trace_rowid);

CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (key, value)
);
CREATE TABLE IF NOT EXISTS tag_sets (
    id INTEGER PRIMARY KEY,
    tag_ids TEXT NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters (name, value) VALUES ('spans', 0), ('tag_set_generation', 0);

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

INBOX = """
-- One row per batch of span records a writer handed over (store/inbox.py), settled into
-- traces and chunks by the next reader (store/settle.py). AUTOINCREMENT: an id is never
-- given again, so a settling reader that finds its rows' ids still there knows they are its.
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    static_tags TEXT NOT NULL,
    span_count INTEGER NOT NULL,
    min_start_ns INTEGER NOT NULL,
    max_start_ns INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    records BLOB NOT NULL
)
"""

# Retention reads the inbox's span count and its oldest batches at every check (every 10,000
# spans a writing process stores): from this index, a few pages, instead of the table, whose
# rows lie among their blobs' pages (8 ms a check at a million waiting spans, 0.1 with it).
# Made on every open (IF NOT EXISTS): stores of version 3 made without it get it in place,
# and readers of version 3 need no other version to read them.
INBOX_INDEX = "CREATE INDEX IF NOT EXISTS inbox_by_end ON inbox (max_start_ns, span_count)"

# What a store of each older version needs to become the current one, statement by statement.
MIGRATIONS = {2: INBOX}
# Stores before version 2 held a row per span: not converted (write.StoreTooOld).
OLDEST_MIGRATED = 2

# For ad-hoc SQL only (the library never reads it): a row per settled span (`llmobs settle`
# first stores what waits in the inbox). A stored row whose JSON
# SQLite cannot read (NaN or Infinity, which stores written before the JSON was made strict
# hold) shows once, whole, with its trace id but no span id, instead of failing the query.
SPANS_VIEW = """
CREATE VIEW spans AS
WITH stored AS (SELECT id AS trace_rowid, CAST(events AS TEXT) AS events FROM traces
                UNION ALL SELECT trace_rowid, CAST(events AS TEXT) FROM chunks)
SELECT stored.trace_rowid,
       json_extract(span.value, '$.trace_id') AS trace_id,
       json_extract(span.value, '$.span_id') AS span_id,
       json_extract(span.value, '$.start_ns') AS start_ns,
       span.value AS event
FROM stored,
     json_each(CASE WHEN json_valid(stored.events) THEN stored.events ELSE '[]' END) AS span
UNION ALL
SELECT trace_rowid, (SELECT trace_id FROM traces WHERE id = stored.trace_rowid), NULL, NULL,
       events
FROM stored WHERE NOT json_valid(events)
"""


def ensure_spans_view(conn: sqlite3.Connection) -> None:
    """Make the `spans` view, or replace one made before it read every row (a store that an
    older llmobs made); inside a write transaction."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'spans'"
                       ).fetchone()
    if row is None or "json_valid" not in row[0]:
        conn.execute("DROP VIEW IF EXISTS spans")
        conn.execute(SPANS_VIEW)
