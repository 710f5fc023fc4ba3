"""The store's `spans` view, for ad-hoc SQL: a row per span, and on a store written before the
JSON was made strict (NaN and Infinity in a row), still an answer: such a row shows whole,
once a writer of this version has opened the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink

from .helpers import trace_events

OLD_VIEW = """CREATE VIEW spans AS
SELECT stored.trace_rowid,
       json_extract(span.value, '$.trace_id') AS trace_id,
       json_extract(span.value, '$.span_id') AS span_id,
       json_extract(span.value, '$.start_ns') AS start_ns,
       span.value AS event
FROM (SELECT id AS trace_rowid, events FROM traces
      UNION ALL SELECT trace_rowid, events FROM chunks) AS stored,
     json_each(CAST(stored.events AS TEXT)) AS span"""


def test_an_old_store_with_nan_answers_through_the_view(store: Path) -> None:
    good, bad, late = trace_events(2), trace_events(3), trace_events(1)
    sink = LocalStoreSink(store, max_spans=0, max_age_days=0)
    sink.send_spans(good + bad)
    sink.shutdown()
    with sqlite3.connect(store) as conn:  # as an older llmobs left it
        conn.execute("DROP VIEW spans")
        conn.execute(OLD_VIEW)
        conn.execute("UPDATE traces SET events = replace(events, '\"duration\":', '\"x\":NaN,"
                     "\"y\":-Infinity,\"duration\":') WHERE trace_id = ?", (bad[0]["trace_id"],))
        with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
            conn.execute("SELECT count(*) FROM spans").fetchone()
    sink = LocalStoreSink(store, max_spans=0, max_age_days=0)
    sink.send_spans(late)  # its first batch opens the store and replaces the view
    sink.shutdown()
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT trace_id, span_id, start_ns, event FROM spans"
                            " ORDER BY trace_rowid, start_ns").fetchall()
    assert [(trace_id, span_id) for trace_id, span_id, *_ in rows] == [
        *[(span["trace_id"], span["span_id"]) for span in good],
        (bad[0]["trace_id"], None),
        (late[0]["trace_id"], late[0]["span_id"])]
    assert "NaN" in rows[2][3] and rows[2][2] is None
