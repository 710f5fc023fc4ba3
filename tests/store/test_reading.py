"""Reading the local store: trace summaries, newest-first span lists with tag filters, the
plain-SQL spans view, and reads that never create the store."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries as q
from tests.store.helpers import new_trace_id, span_event, trace_events


def test_trace_summary_lists_root_counts_duration_status_and_session(store: Path) -> None:
    """A trace's summary names its root, counts its spans and errors, and keeps the session."""
    events = trace_events(3, session_id="s-9")
    events[2] = span_event(events[0]["trace_id"], parent_id=events[0]["span_id"], kind="tool",
                           start_ns=events[0]["start_ns"] + 5, session_id="s-9",
                           error={"type": "ValueError", "message": "boom", "stack": ""})
    sink = LocalStoreSink(store)
    sink.send_spans(events[1:])  # children first, as a writer may see them
    sink.send_spans(events[:1])
    [summary] = q.list_traces(store)
    assert summary == {"trace_id": events[0]["trace_id"], "start_ns": events[0]["start_ns"],
                       "ml_app": "shop", "root_name": "answer", "root_kind": "workflow",
                       "span_count": 3, "duration": 10_000_000, "status": "error",
                       "session_id": "s-9"}


def test_trace_without_local_root_uses_its_earliest_span(store: Path) -> None:
    """A trace continued from another service has no local root: its earliest span stands in."""
    trace_id = new_trace_id()
    start = time.time_ns()
    events = [span_event(trace_id, parent_id="123", name=f"step{i}", start_ns=start + i * 100,
                         duration=1000) for i in range(3)]
    LocalStoreSink(store).send_spans(events)
    [summary] = q.list_traces(store)
    assert (summary["root_name"], summary["duration"]) == ("step0", 1200)


def test_newest_spans_first_across_batches_and_filters(store: Path) -> None:
    """list_spans returns exactly the newest matching spans, newest first, when traces come
    in several batches out of order (long traces whose spans arrive in later batches)."""
    start = time.time_ns() - 10**9
    sink = LocalStoreSink(store)
    everything: list[dict] = []
    long_traces = [trace_events(4, start_ns=start + i * 7_000, tags=("kind:long",))
                   for i in range(20)]
    for i in range(30):
        batch = trace_events(3, start_ns=start + i * 5_000, tags=(f"batch:{i % 3}",))
        batch += [trace[i % 4] for trace in long_traces[i % 5::5]]
        sink.send_spans(batch)
        everything += batch
    for trace in long_traces:
        sink.send_spans(trace)  # all again: nothing is stored twice
    stored = {(s["trace_id"], s["span_id"]): s for s in everything}.values()

    def newest(spans, n):
        return [s["span_id"] for s in sorted(spans, key=lambda s: -s["start_ns"])[:n]]

    assert [row["span_id"] for row in q.list_spans(store, limit=7)] == newest(stored, 7)
    long_ones = [s for s in stored if "kind:long" in s["tags"]]
    assert [row["span_id"] for row in q.list_spans(store, tags=["kind:long"], limit=9)] == (
        newest(long_ones, 9))
    assert len(q.list_spans(store, limit=10**6)) == len(stored) == 30 * 3 + 80
    assert sum(t["span_count"] for t in q.list_traces(store, limit=1000)) == len(stored)


def test_spans_view_lists_each_stored_span(store: Path) -> None:
    """The spans view gives plain SQL one row per stored span, with its trace id, span id,
    start and whole event, whether the span came with its trace's first batch or later."""
    events = trace_events(3)
    sink = LocalStoreSink(store)
    sink.send_spans(events[:2])
    sink.send_spans(events[2:])
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT trace_id, span_id, start_ns, event FROM spans"
                            " ORDER BY start_ns").fetchall()
    assert [json.loads(event) for *_, event in rows] == events
    assert [row[:3] for row in rows] == [(e["trace_id"], e["span_id"], e["start_ns"])
                                         for e in events]


def test_reading_never_creates_the_store(tmp_path: Path) -> None:
    """Queries on a missing store raise FileNotFoundError and leave no file behind."""
    missing = tmp_path / "nothing" / "traces.db"
    with pytest.raises(FileNotFoundError):
        q.list_traces(missing)
    assert not missing.parent.exists()
