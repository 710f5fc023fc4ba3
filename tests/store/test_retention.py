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
