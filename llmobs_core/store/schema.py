"""Where the local trace store lives and the tables in it: shared by the sink and the reader.

Spans are stored by the trace: each batch the sink receives is grouped by trace, and each
trace's share of it is kept as one JSON array of span events. SQLite spends about as much on
a row, or an index entry, as on a kilobyte of data, so a row per span capped the sink near
40,000 spans/s; a row per trace does not. A trace's row holds its spans from the batch that
first brought it (most traces come in one batch), with its earliest start and span count for
listing and retention; spans of it that come in later batches go to `chunks`, one row per
trace and batch. The rest of a trace's summary
(root, duration, status, session) is worked out from its spans when it is listed, which costs
little for the few traces shown and saves the writer from looking at every span's fields.

Trace rows and chunks are numbered in the order they are stored, and each carries a bound no
span in it or in an older one started after; so the newest spans are found by reading both
newest first and stopping at the first bound below what was found, with no index on starts.

Tags are indexed per trace through tag sets: the spans of a trace mostly share their tags
(ml_app, service, env, session...), and so do the traces of one session, so a trace points at
the set of tags its spans carry (a JSON array of tag ids), and only a set not seen before adds
a row. A tag filter reads the tag sets, few beside the traces, to find those holding the tag,
then the traces' index by start, which holds their tag set ids: traces have no index by tag
set, which would put each new trace in a random place of it.
The `spans` view shows one row per span for ad-hoc SQL; the library never reads it.
"""

from __future__ import annotations

SCHEMA_VERSION = 2
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

CREATE VIEW IF NOT EXISTS spans AS
SELECT stored.trace_rowid,
       json_extract(span.value, '$.trace_id') AS trace_id,
       json_extract(span.value, '$.span_id') AS span_id,
       json_extract(span.value, '$.start_ns') AS start_ns,
       span.value AS event
FROM (SELECT id AS trace_rowid, events FROM traces
      UNION ALL SELECT trace_rowid, events FROM chunks) AS stored,
     json_each(CAST(stored.events AS TEXT)) AS span;
"""
