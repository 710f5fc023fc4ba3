"""Retention of the local store: whole oldest traces go past max_spans, old ones past
max_age_days, with their evaluations and the tag sets only they used."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries as q
from tests.store.helpers import span_metric, trace_events

DAY_NS = 86_400 * 10**9


def test_retention_by_count_deletes_whole_oldest_traces(store: Path) -> None:
    """Past max_spans, whole traces go, oldest first, until the store is back under it."""
    start = time.time_ns() - 1000 * 10**9
    traces = [trace_events(5, start_ns=start + i * 10**9) for i in range(30)]
    sink = LocalStoreSink(store, max_spans=100)
    for events in traces:
        sink.send_spans(events)
    kept = q.list_traces(store, limit=100)
    assert 0 < sum(t["span_count"] for t in kept) <= 100
    assert all(t["span_count"] == 5 for t in kept)
    assert [t["trace_id"] for t in kept] == [e[0]["trace_id"] for e in traces[::-1][:len(kept)]]


def test_retention_by_age_deletes_old_traces_and_evaluations(store: Path) -> None:
    """Traces that started more than max_age_days ago go, with their evaluations."""
    old = trace_events(2, start_ns=time.time_ns() - 3 * DAY_NS)
    new = trace_events(2)
    old_metric = span_metric(old[0]) | {"timestamp_ms": (time.time_ns() - 3 * DAY_NS) // 10**6}
    sink = LocalStoreSink(store, max_age_days=1)
    sink.send_evaluations([old_metric, span_metric(new[0])])
    sink.send_spans(old + new)
    assert [t["trace_id"] for t in q.list_traces(store)] == [new[0]["trace_id"]]
    assert q.get_trace(store, old[0]["trace_id"]) is None
    assert [m["join_on"]["span"]["trace_id"] for m in q.list_evals(store)] == [new[0]["trace_id"]]


def test_retention_forgets_tag_sets_no_trace_uses(store: Path) -> None:
    """Pruning deletes the tag sets only pruned traces used, and a sink that cached such a set
    (another process, here another sink) does not point a new trace at it."""
    old_start = time.time_ns() - 1000 * 10**9
    keeper, pruner = LocalStoreSink(store), LocalStoreSink(store, max_spans=20)
    keeper.send_spans(trace_events(5, start_ns=old_start, tags=("request:kept-tags",)))
    for i in range(10):
        pruner.send_spans(trace_events(5, start_ns=old_start + (i + 1) * 10**9,
                                       tags=(f"request:{i}",)))
    assert q.list_traces(store, tags=["request:kept-tags"]) == []
    with sqlite3.connect(store) as conn:
        (sets,) = conn.execute("SELECT count(*) FROM tag_sets").fetchone()
    assert sets <= len(q.list_traces(store, limit=100))
    again = trace_events(5, tags=("request:kept-tags",))
    keeper.send_spans(again)
    assert [t["trace_id"] for t in q.list_traces(store, tags=["request:kept-tags"])] == [
        again[0]["trace_id"]]
    assert len(q.list_spans(store, tags=["request:kept-tags"])) == 5


def test_retention_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLMOBS_LOCAL_MAX_SPANS and LLMOBS_LOCAL_MAX_DAYS set the limits; arguments beat them."""
    monkeypatch.setenv("LLMOBS_LOCAL_MAX_SPANS", "500")
    monkeypatch.setenv("LLMOBS_LOCAL_MAX_DAYS", "2.5")
    sink = LocalStoreSink()
    assert (sink.max_spans, sink.max_age_days) == (500, 2.5)
    sink = LocalStoreSink(max_spans=7, max_age_days=0)
    assert (sink.max_spans, sink.max_age_days) == (7, 0)


def test_retention_reads_the_inbox_from_its_index(store: Path) -> None:
    """Every retention check reads the inbox's span count and its oldest batches: from an
    index, not the table, whose rows lie among their records' pages (a scan took 8 ms at a
    million waiting spans, on the thread that shares the application's core). A store of
    version 3 made without the index gets it when a writer opens it."""
    from llmobs_core.export.base import SpanEvents
    from llmobs_core.span_events import EventBuilder
    from llmobs_core.store.retention import prune
    from tests.support.records import record_from_flat

    now = time.time_ns()
    flat = ("task", "t", now // 10**9 << 96 | 5, 7, None, now // 10**9 << 96 | 5, "app", None,
            None, None, now, 1_000, None, "in", "out", None, None, None, None, 1.0, None, None)
    sink = LocalStoreSink(store)
    sink.send_spans(SpanEvents([record_from_flat(flat)], EventBuilder([]).build))
    sink.shutdown()
    with sqlite3.connect(store) as conn:
        conn.execute("DROP INDEX IF EXISTS inbox_by_end")  # as a store made before it is
    sink = LocalStoreSink(store)
    sink.send_spans(SpanEvents([record_from_flat(flat[:3] + (8,) + flat[4:])],
                               EventBuilder([]).build))
    sink.shutdown()
    conn = sqlite3.connect(store, isolation_level=None)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    prune(conn, max_spans=1_000, max_age_days=30, now_ns=now)
    conn.set_trace_callback(None)
    reads = [sql for sql in statements if "FROM inbox" in sql and sql.startswith("SELECT")]
    assert len(reads) >= 2, statements
    for sql in reads:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "COVERING INDEX inbox_by_end" in plan, (sql, plan)
    assert conn.execute("SELECT sum(span_count) FROM inbox").fetchone() == (2,)
    conn.close()
