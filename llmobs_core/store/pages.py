"""Pages of traces and spans for the viewer: filters that combine, cursors for older pages, and
the traces stored since a cursor (live mode).

Every filter first narrows the traces in SQL (selection.py: the tag index, the facts in each
trace's tag set, the index by start, the viewer's text index); the decoded spans then decide.
Traces that SQL cannot narrow (stored before facts existed, not in the text index yet, a text
of fewer than 3 characters) are read and checked, up to a budget of rows that do not match, so
that a rare match never makes a page slow: the page then says how far it read (`note`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from .codec import decode, kind_of, trace_summary
from .facts import Spans, io_span, io_text, model_of, root_of, tokens_of, trace_tokens
from .reading import (
    StorePath,
    reading,
    span_has,
    span_summary,
    stored_spans,
    wanted_tags,
    where_clause,
)
from .selection import Filters, Selection, select_spans, select_traces
from .text_index import MIN_LENGTH
from .walk import SpanCursor, newest, start_at, stored_rows

KINDS = ("llm", "embedding", "retrieval", "tool", "task", "workflow", "agent")
# Rows read that do not match, and the time spent, before a page stops and offers "older".
SCAN_BUDGET = 2_000
SCAN_SECONDS = 0.1


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None  # pass as `before` for the next (older) page
    exhausted_budget: bool = False  # stopped after SCAN_BUDGET rows, not at the end
    last_rowid: int = 0  # traces_after(): the cursor of the next poll
    scanned: int = 0  # stored rows decoded
    note: str | None = None  # how far a page that could not use an index read


def find_traces(path: StorePath, filters: Filters, before: str | None = None,
                limit: int = 50) -> Page:
    """Trace summaries, newest first, with tokens and evaluations; in this mode a trace passes
    kind, model and text when one of its spans matches, and status is the trace's. `before`
    is a cursor from an earlier page."""
    with reading(path) as conn:
        if conn is None:
            return Page([])
        chosen = select_traces(conn, path, filters)
        where, params = list(chosen.where), list(chosen.params)
        if before:
            start, rowid = _cursor(before, 2)
            where.append("start_ns < ? OR (start_ns = ? AND id < ?)")
            params += [start, start, rowid]
        sql = ("SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces"
               f" {where_clause(where)} ORDER BY start_ns DESC, id DESC")
        rows: list[dict[str, Any]] = []
        last, scanned, rejected = None, 0, 0
        deadline = time.monotonic() + SCAN_SECONDS
        for rowid, trace_id, start_ns, bound, events in conn.execute(sql, params):
            last, scanned = f"{start_ns}.{rowid}", scanned + 1
            spans = stored_spans(conn, rowid, bound, events)
            if _trace_passes(filters, spans):
                rows.append(trace_row(rowid, trace_id, start_ns, spans))
                if len(rows) == limit:
                    break
            else:
                rejected += 1
                if rejected >= SCAN_BUDGET or time.monotonic() > deadline:
                    return Page(_with_evaluations(conn, rows), last, True, scanned=scanned,
                                note=_note(filters, chosen, scanned, True))
        return Page(_with_evaluations(conn, rows), last if len(rows) == limit else None,
                    scanned=scanned, note=_note(filters, chosen, scanned, False))


def traces_after(path: StorePath, filters: Filters, after_rowid: int, limit: int = 50) -> Page:
    """Traces stored after the row `after_rowid`, oldest first (live mode)."""
    with reading(path) as conn:
        if conn is None:
            return Page([], last_rowid=after_rowid)
        chosen = select_traces(conn, path, filters)
        sql = ("SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces"
               f" {where_clause([*chosen.where, 'id > ?'])} ORDER BY id LIMIT ?")
        rows, last = [], after_rowid
        for rowid, trace_id, start_ns, bound, events in conn.execute(
                sql, [*chosen.params, after_rowid, limit]):
            last = rowid
            spans = stored_spans(conn, rowid, bound, events)
            if _trace_passes(filters, spans):
                rows.append(trace_row(rowid, trace_id, start_ns, spans))
        return Page(_with_evaluations(conn, rows), last_rowid=last)


def last_rowid(path: StorePath) -> int:
    """The newest trace row's id (0 for an empty store): where live mode starts."""
    with reading(path) as conn:
        if conn is None:
            return 0
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM traces").fetchone()[0])


def find_spans(path: StorePath, filters: Filters, before: str | None = None,
               limit: int = 50) -> Page:
    """Spans matching every filter, newest first, as list_spans() gives them, with tokens.
    `before` is a cursor from an earlier page: the next page reads only its own rows."""
    wanted = wanted_tags(filters.ml_app, filters.session, filters.service, filters.tags)

    def keep(span: dict[str, Any]) -> bool:
        return (all(span_has(span, key, value) for key, value in wanted)
                and _span_passes(filters, span))

    with reading(path) as conn:
        if conn is None:
            return Page([])
        chosen = select_spans(conn, path, filters)
        cursor = start_at(conn, SpanCursor.parse(before) if before else None, filters.until_ns,
                          chosen.where, chosen.params)
        rows = stored_rows(conn, chosen, cursor)
        try:
            walked = newest(rows, keep, cursor, filters.since_ns, filters.until_ns, limit,
                            SCAN_BUDGET, time.monotonic() + SCAN_SECONDS)
        finally:
            rows.close()
    found = []
    for (start, *_), span in walked.kept:
        row = span_summary(span, start)
        row["tokens"] = tokens_of(span)
        found.append(row)
    following = walked.next_cursor.text() if walked.next_cursor else None
    return Page(found, following, walked.budget_hit, scanned=walked.scanned,
                note=_note(filters, chosen, walked.scanned, walked.budget_hit, "rows"))


def trace_row(rowid: int, trace_id: str, start_ns: int, spans: Spans) -> dict[str, Any]:
    events = [span for _, span in spans]
    return {"rowid": rowid, "trace_id": trace_id, "start_ns": start_ns,
            **trace_summary(spans), "total_tokens": trace_tokens(events),
            "root": root_of(spans), "input_span": io_span(spans, "input"),
            "output_span": io_span(spans, "output")}


def _cursor(text: str, parts: int) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split("."))
    except ValueError:
        values = ()
    if len(values) != parts:
        raise ValueError(f"{text!r} is not a cursor of this list")
    return values


def _span_passes(filters: Filters, span: dict[str, Any]) -> bool:
    if filters.status and (span.get("status") == "error") != (filters.status == "error"):
        return False
    if filters.kind and kind_of(span) != filters.kind:
        return False
    if filters.model and model_of(span) != filters.model:
        return False
    return not filters.text or filters.text.lower() in io_text(span).lower()


def _trace_passes(filters: Filters, spans: Spans) -> bool:
    events = [span for _, span in spans]
    if filters.status and trace_summary(spans)["status"] != filters.status:
        return False
    for one in (Filters(kind=filters.kind), Filters(model=filters.model),
                Filters(text=filters.text)):
        if one != Filters() and not any(_span_passes(one, span) for span in events):
            return False
    return True


def _with_evaluations(conn: sqlite3.Connection,
                      rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's evaluations joined by span (joins by tag are only in get_trace)."""
    by_trace: dict[str, list[dict[str, Any]]] = {row["trace_id"]: [] for row in rows}
    if rows:
        marks = ",".join("?" * len(rows))
        for (event,) in conn.execute(f"SELECT event FROM evaluations WHERE trace_id IN ({marks})"
                                     " ORDER BY id", list(by_trace)):
            metric = decode(event)
            join_on = metric.get("join_on") if isinstance(metric, dict) else None
            span = join_on.get("span") if isinstance(join_on, dict) else None
            if isinstance(span, dict):
                by_trace.get(str(span.get("trace_id")), []).append(metric)
    for row in rows:
        row["evaluations"] = by_trace[row["trace_id"]]
    return rows


def _note(filters: Filters, chosen: Selection, scanned: int, budget_hit: bool,
          what: str = "traces") -> str | None:
    """What the page says when it could not narrow the text filter by the index, or stopped
    at the budget."""
    parts = []
    if filters.text and len(filters.text) < MIN_LENGTH:
        parts.append(f"a text of fewer than {MIN_LENGTH} characters is not in the text index")
    elif filters.text and chosen.text is None:
        parts.append("the text index is not built yet")
    elif filters.text and chosen.unindexed_traces:
        parts.append(f"{chosen.unindexed_traces:,} traces are not in the text index yet")
    if budget_hit:
        parts.append(f"searched {scanned:,} stored {what}; older ones may match too")
    elif parts:
        parts.append(f"searched {scanned:,} stored {what}")
    return "; ".join(parts) or None
