"""Sessions and dropdown values read off the viewer's summary index (summary_index.py), a few
of its rows a page. The dropdown values are exact: the traces stored since the index's last
update are added to its counts as they are read (when they are few). The sessions are those of
the index's last update (the viewer updates it every second); a page says how many traces
were stored since."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from typing import Any

from . import summary_index
from .facts import io_span
from .reading import StorePath, stored_spans
from .summary_apply import indexed_facts
from .summary_index import TRACE_COLUMNS, SetPairs, stored_rows, trace_facts

DELTA_LIMIT = 2_000  # traces stored since the index's update added to its counts, at most
_UPDATE_S = 0.05  # a read's own update of the index, at most
FIRST_PAGE = ((1 << 63) - 1, "")  # the (last start, session) the first page of sessions follows


def update(path: StorePath) -> None:
    """Bring the index up to date for a moment, when one is built and no one else is doing
    so; a read goes on without (a read-only cache folder, a busy index: never waited for).
    Building it is left to `llmobs ui`'s indexing process: a page does not wait for it."""
    if summary_index.build_progress(path) == 1.0:
        with contextlib.suppress(sqlite3.Error, OSError, ValueError):
            summary_index.refresh(path, _UPDATE_S, wait_s=0)


def facet_counts(conn: sqlite3.Connection,
                 path: StorePath) -> Counter[tuple[str, str]] | None:
    """Trace counts of each (key, value), or None when the index cannot give them exactly:
    none built, too far behind, or traces deleted since its update."""
    if summary_index.attach(conn, path) is None:
        return None
    conn.execute("BEGIN")  # one view of the store and of the index
    try:
        found = summary_index.progress(conn, "summary")
        rows = conn.execute(f"SELECT {TRACE_COLUMNS} FROM traces WHERE id > ? ORDER BY id"
                            " LIMIT ?", (found.trace_hi, DELTA_LIMIT + 1)).fetchall()
        chunked = {trace for (trace,) in conn.execute(
            "SELECT trace_rowid FROM chunks WHERE id > ? LIMIT ?",
            (found.chunk_hi, DELTA_LIMIT + 1)) if trace <= found.trace_hi}
        if len(rows) + len(chunked) > DELTA_LIMIT:
            return None
        sets = SetPairs(conn)
        new = {row[0]: trace_facts(conn, sets, row, sums=False)
               for row in rows + stored_rows(conn, chunked)}
        old = indexed_facts(conn, list(chunked), "summary")
        spans = found.spans + sum(facts.spans for facts in new.values()) - sum(
            facts.spans for facts in old.values())
        (counter,) = conn.execute("SELECT value FROM counters WHERE name = 'spans'").fetchone()
        if counter - spans != found.spans_offset:  # deleted or changed since: not exact
            return None
        counts: Counter[tuple[str, str]] = Counter({
            (key, value): traces for key, value, traces in conn.execute(
                "SELECT key, value, traces FROM summary.facet_counts")})
        for facts in new.values():
            counts.update(facts.pairs)
        for facts in old.values():
            counts.subtract(facts.pairs)
        return +counts
    finally:
        conn.execute("COMMIT")


def session_rows(conn: sqlite3.Connection, path: StorePath, ml_app: str | None,
                 after: tuple[int, str] = FIRST_PAGE,
                 limit: int = 50) -> tuple[list[dict[str, Any]], int] | None:
    """A page of sessions, most recently active first, after (last start, session) `after`,
    and how many traces were stored since the index's update (at most DELTA_LIMIT + 1); None
    when no index is built."""
    if summary_index.attach(conn, path) is None:
        return None
    conn.execute("BEGIN")
    try:
        found = summary_index.progress(conn, "summary")
        app = ml_app or ""
        listed = conn.execute(
            "SELECT session, traces, tokens, first_ns, last_start_ns, last_ns FROM"
            " summary.sessions WHERE app = ?1 AND (last_start_ns < ?2 OR (last_start_ns = ?2"
            " AND session < ?3)) ORDER BY last_start_ns DESC, session DESC LIMIT ?4",
            (app, *after, limit)).fetchall()
        rows = [_session_row(conn, app, *row) for row in listed]
        (behind,) = conn.execute("SELECT count(*) FROM (SELECT 1 FROM traces WHERE id > ?"
                                 " LIMIT ?)", (found.trace_hi, DELTA_LIMIT + 1)).fetchone()
        return rows, behind
    finally:
        conn.execute("COMMIT")


def _session_row(conn: sqlite3.Connection, app: str, session: str, traces: int, tokens: int,
                 first_ns: int, last_start_ns: int, last_ns: int) -> dict[str, Any]:
    apps = [name for (name,) in conn.execute(
        "SELECT app FROM summary.sessions WHERE session = ? AND app != '' ORDER BY app",
        (session,))]
    ends: dict[str, dict[str, Any] | None] = {}
    for side, order in (("input", "ASC"), ("output", "DESC")):
        ends[side] = None
        for (rowid,) in conn.execute(
                "SELECT trace FROM summary.session_traces WHERE app = ? AND session = ?"
                f" ORDER BY start_ns {order}, trace {order} LIMIT 3", (app, session)):
            stored = conn.execute("SELECT start_bound_ns, events FROM traces WHERE id = ?",
                                  (rowid,)).fetchone()
            if stored is not None:  # else deleted since the index's update
                ends[side] = io_span(stored_spans(conn, rowid, *stored), side)
                break
    return {"session_id": session, "traces": traces, "first_ns": first_ns,
            "last_start_ns": last_start_ns, "last_ns": last_ns, "ml_apps": apps,
            "tokens": tokens, "first_input": ends["input"], "last_output": ends["output"]}
