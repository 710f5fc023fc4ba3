"""The viewer's summary index (sessions and the dropdowns' values): what the Sessions view and
the dropdowns show is what the events themselves say, with the index and without it, on a
store written before facts, after new traces and new spans of stored traces arrive (before
the index is updated and after), after retention deletes traces, while a writer keeps
writing, and on an empty, a missing and a remade store."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import summaries, summary_index, summary_reads
from llmobs_core.store.reading import reading
from llmobs_core.store.write import open_store

from .helpers import span_event, trace_events
from .viewer_store import (
    expected_facets,
    expected_sessions,
    more_events,
    strip_facts,
    varied_events,
    write,
)


def shown_sessions(path: Path, ml_app: str | None = None) -> list[dict[str, Any]]:
    """Every page of the Sessions view, 3 to a page."""
    rows, cursor = [], None
    while True:
        page = summaries.list_sessions(path, ml_app, cursor, limit=3)
        rows += [{key: row[key] for key in ("session_id", "traces", "tokens", "first_ns",
                                            "last_start_ns", "last_ns")}
                 | {"first_input": row["first_input"]["span_id"],
                    "last_output": row["last_output"]["span_id"]} for row in page.rows]
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor


def shown_facets(path: Path) -> dict[str, dict[str, int]]:
    return {key: dict(values) for key, values in summaries.facets(path).items()}


def exact_from_index(path: Path) -> bool:
    """Whether the dropdowns' values come from the index (else from the tag index)."""
    with reading(path) as conn:
        return summary_reads.facet_counts(conn, path) is not None


def build(path: Path) -> summary_index.Progress:
    found = summary_index.refresh(path, 30)
    assert found.built and not found.more
    return found


def check(path: Path, events: list[dict[str, Any]], ml_apps: tuple[str, ...] = ()) -> None:
    assert shown_facets(path) == expected_facets(events)
    assert shown_sessions(path) == expected_sessions(events)
    for ml_app in ml_apps:
        assert shown_sessions(path, ml_app) == expected_sessions(events, ml_app)


@pytest.mark.parametrize("facts", ["with facts", "written before facts"])
def test_the_index_gives_what_the_events_say(tmp_path: Path, facts: str) -> None:
    """Sessions (all, and of one ml_app, page after page) and the dropdowns' values, summed
    from the store and then from the index, are those the events give; traces arrive in
    batches that split them, so some are stored as a row and chunks."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now) + more_events(now)
    write(path, events, batch=50)
    if facts == "written before facts":
        strip_facts(path)
    assert not summary_index.exists(path)
    check(path, events, ("other", "shop"))
    build(path)
    assert exact_from_index(path)
    check(path, events, ("other", "shop"))
    assert summaries.list_sessions(path).note is None


def test_new_traces_and_spans_of_stored_traces_are_counted(tmp_path: Path) -> None:
    """After the index is built, new traces and new spans of a stored trace (another model,
    another ml_app, a session it had not) show in the dropdowns at once, and in Sessions
    once the index is updated, as the viewer's thread does every second; until then the
    page says how many traces it does not count yet."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now)
    write(path, events)
    build(path)
    stored = events[0]
    late = span_event(stored["trace_id"], parent_id=stored["span_id"], ml_app="late-app",
                      session_id="sess-late", start_ns=stored["start_ns"] + 5)
    late["meta"]["model_name"] = "claude-late"
    added = [late, *more_events(now + 10**9)]
    write(path, added)
    events += added
    with reading(path) as conn:
        assert summary_reads.facet_counts(conn, path) is not None  # no update needed
        assert conn.execute("SELECT count(*) FROM chunks").fetchone() == (1,)
    with reading(path) as conn:
        found = summary_reads.session_rows(conn, path, None)
    assert found is not None and found[1] == 6
    build(path)
    check(path, events, ("late-app", "other"))


def test_traces_deleted_by_retention_leave_the_index(tmp_path: Path) -> None:
    """Retention deletes the oldest traces: the dropdowns' values are exact at once (summed
    from the tag index until the index is updated), and Sessions once it is."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now)
    write(path, events)
    build(path)
    sink = LocalStoreSink(path, max_spans=60, max_age_days=0)
    added = more_events(now + 10**9)
    sink.send_spans(added)
    sink.shutdown()
    with reading(path) as conn:
        kept = {trace_id for (trace_id,) in conn.execute("SELECT trace_id FROM traces")}
    assert 0 < len(kept) < 40
    events = [span for span in events + added if span["trace_id"] in kept]
    assert not exact_from_index(path)
    assert shown_facets(path) == expected_facets(events)
    build(path)
    assert exact_from_index(path)
    check(path, events, ("other",))


def test_a_store_written_while_read(tmp_path: Path) -> None:
    """A writer stores traces while the index is updated (as the viewer's thread does) and
    the views are read: no read fails or blocks the writer, counts only grow, and once the
    writer is done everything is exact."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    write(path, more_events(now - 10**12, 2))
    build(path)
    batches = [more_events(now + i * 10**10, 4, f"app-{i % 3}") for i in range(40)]
    done = threading.Event()
    failures: list[BaseException] = []

    def keep(work: Any) -> None:
        try:
            while not done.is_set():
                work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    updater = threading.Thread(target=keep, args=(lambda: summary_index.refresh(path, 0.05),))
    updater.start()
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    seen, slowest = [], 0.0
    try:
        for batch in batches:
            started = time.monotonic()
            sink.send_spans(batch)
            slowest = max(slowest, time.monotonic() - started)
            traces = sum(count for _, count in summaries.facets(path)["env"])
            seen.append(traces)
            assert summaries.list_sessions(path).rows
    finally:
        sink.shutdown()
        done.set()
        updater.join()
    assert not failures
    assert seen == sorted(seen) and seen[-1] == 2 + 40 * 4
    assert slowest < 2.0
    build(path)
    sessions = summaries.list_sessions(path, limit=100).rows
    assert sum(row["traces"] for row in sessions) == 2 + 40 * 4
    assert {row["session_id"] for row in sessions} == (
        {"sess-1"} | {f"sess-app-{i}" for i in range(3)} | {"sess-other"})


def test_the_index_is_built_while_a_writer_never_stops(tmp_path: Path) -> None:
    """The index counts as built once it has read the rows stored when it began, though rows
    keep coming faster than one update reads them; the newer ones follow."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = more_events(now, 400)
    write(path, events)
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    try:
        for i in range(1, 6):
            found = summary_index.refresh(path, 0)  # one step: 200 traces
            batch = more_events(now + i * 10**12, 250)
            sink.send_spans(batch)
            events += batch
            if found.built:
                break
    finally:
        sink.shutdown()
    assert found.built and i == 2
    with reading(path) as conn:
        found_rows = summary_reads.session_rows(conn, path, None)
    assert found_rows is not None and found_rows[0] and found_rows[1] > 0  # newer not yet
    build(path)
    check(path, events)


def test_an_empty_a_missing_and_a_remade_store(tmp_path: Path) -> None:
    """A missing store raises FileNotFoundError (the viewer's empty page), an empty one has
    no sessions or values; a store deleted and written again is not mixed with the index
    of the one before."""
    path = tmp_path / "traces.db"
    for read in (summaries.list_sessions, summaries.facets,
                 lambda p: summary_index.refresh(p, 1)):
        with pytest.raises(FileNotFoundError):
            read(path)
    open_store(path, 1.0).close()
    assert summary_index.refresh(path, 1).trace_hi == 0
    assert summaries.list_sessions(path).rows == []
    assert not any(summaries.facets(path).values())
    first = varied_events(time.time_ns())
    write(path, first)
    build(path)
    check(path, first)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    again = more_events(time.time_ns(), 3, "remade")
    write(path, again)
    build(path)
    check(path, again, ("remade",))


def test_spans_with_nan_in_an_old_store(tmp_path: Path) -> None:
    """An old store's span JSON may hold NaN or Infinity (no longer written): the index reads
    them as Python's json does."""
    path = tmp_path / "traces.db"
    events = trace_events(2, session_id="sess-nan")
    write(path, events)
    with sqlite3.connect(path) as conn:
        (text,) = conn.execute("SELECT events FROM traces").fetchone()
        conn.execute("UPDATE traces SET events = ?",
                     (text.replace('"total_tokens":15', '"total_tokens":15,"x":NaN,'
                                   '"y":-Infinity'),))
    build(path)
    [row] = summaries.list_sessions(path).rows
    assert (row["session_id"], row["traces"], row["tokens"]) == ("sess-nan", 1, 15)
    assert math.isnan(row["first_input"]["metrics"]["x"])
    assert shown_facets(path) == expected_facets(events)
