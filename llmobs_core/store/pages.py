"""Pages of traces and spans for the viewer: filters that combine, cursors for older pages, and
the traces stored since a cursor (live mode).

Filters an index answers (ml_app, service, session, tags, time, status=error) run in SQL; kind,
model and free text are checked on the decoded spans, with a scan budget so that a rare match
never makes a page slow: the page then says how far it read (`exhausted_budget`).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .codec import decode, integer, kind_of, trace_summary
from .facts import Spans, io_span, io_text, model_of, root_of, tokens_of, trace_tokens
from .reading import (
    StorePath,
    reading,
    span_has,
    span_summary,
    stored_of_traces,
    stored_spans,
    trace_filters,
    wanted_tags,
    where_clause,
)

KINDS = ("llm", "embedding", "retrieval", "tool", "task", "workflow", "agent")
SCAN_BUDGET = 20_000  # stored rows a page may decode before it stops and offers "older"


@dataclass(frozen=True)
class Filters:
    ml_app: str | None = None
    service: str | None = None
    session: str | None = None
    tags: tuple[str, ...] = ()
    status: str | None = None  # "ok" or "error"
    kind: str | None = None
    model: str | None = None
    text: str | None = None  # free text over inputs and outputs, case-insensitive
    since_ns: int | None = None
    until_ns: int | None = None


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None  # pass as `before` for the next (older) page
    exhausted_budget: bool = False  # stopped after SCAN_BUDGET rows, not at the end
    last_rowid: int = 0  # traces_after(): the cursor of the next poll


def find_traces(path: StorePath, filters: Filters, before: str | None = None,
                limit: int = 50) -> Page:
    """Trace summaries, newest first, with tokens and evaluations; in this mode a trace passes
    kind, model and text when one of its spans matches, and status is the trace's. `before`
    is a cursor from an earlier page."""
    where, params = _sql_filters(filters)
    if before:
        start, rowid = _cursor(before, 2)
        where.append("start_ns < ? OR (start_ns = ? AND id < ?)")
        params += [start, start, rowid]
    sql = ("SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces"
           f" {where_clause(where)} ORDER BY start_ns DESC, id DESC")
    with reading(path) as conn:
        if conn is None:
            return Page([])
        rows: list[dict[str, Any]] = []
        last = None
        for scanned, (rowid, trace_id, start_ns, bound, events) in enumerate(
                conn.execute(sql, params), 1):
            last = f"{start_ns}.{rowid}"
            spans = stored_spans(conn, rowid, bound, events)
            if _trace_passes(filters, spans):
                rows.append(trace_row(rowid, trace_id, start_ns, spans))
                if len(rows) == limit:
                    break
            if scanned >= SCAN_BUDGET:
                return Page(_with_evaluations(conn, rows), last, exhausted_budget=True)
        return Page(_with_evaluations(conn, rows), last if len(rows) == limit else None)


def traces_after(path: StorePath, filters: Filters, after_rowid: int, limit: int = 50) -> Page:
    """Traces stored after the row `after_rowid`, oldest first (live mode)."""
    where, params = _sql_filters(filters)
    where.append("id > ?")
    params.append(after_rowid)
    sql = ("SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces"
           f" {where_clause(where)} ORDER BY id LIMIT ?")
    with reading(path) as conn:
        if conn is None:
            return Page([], last_rowid=after_rowid)
        rows, last = [], after_rowid
        for rowid, trace_id, start_ns, bound, events in conn.execute(sql, [*params, limit]):
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
    """Spans matching every filter, newest first, as list_spans() gives them, with tokens."""
    wanted = wanted_tags(filters.ml_app, filters.session, filters.service, filters.tags)
    cursor = _cursor(before, 5) if before else None

    def keep(span: dict[str, Any]) -> bool:
        return (all(span_has(span, key, value) for key, value in wanted)
                and _span_passes(filters, span))

    with reading(path) as conn:
        if conn is None:
            return Page([])
        stored: Iterator[Any]
        if wanted:
            stored = stored_of_traces(conn, *trace_filters(wanted))
        else:
            stored = heapq.merge(
                conn.execute("SELECT start_bound_ns, 1, id, events FROM traces ORDER BY id DESC"),
                conn.execute("SELECT start_bound_ns, 0, id, events FROM chunks ORDER BY id DESC"),
                key=lambda row: row[0], reverse=True)
        kept, budget_hit = _newest(stored, keep, filters, cursor, limit)
        close = getattr(stored, "close", None)
        if close is not None:
            close()
    rows = []
    for key, span in kept:
        row = span_summary(span, key[0])
        row["tokens"] = tokens_of(span)
        rows.append(row)
    more = kept and (len(kept) == limit or budget_hit)
    return Page(rows, ".".join(map(str, kept[-1][0])) if more else None,
                exhausted_budget=budget_hit)


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
    return not filters.text or filters.text.casefold() in io_text(span).casefold()


def _trace_passes(filters: Filters, spans: Spans) -> bool:
    events = [span for _, span in spans]
    if filters.status and trace_summary(spans)["status"] != filters.status:
        return False
    for one in (Filters(kind=filters.kind), Filters(model=filters.model),
                Filters(text=filters.text)):
        if one != Filters() and not any(_span_passes(one, span) for span in events):
            return False
    return True


def _sql_filters(filters: Filters) -> tuple[list[str], list[Any]]:
    wanted = wanted_tags(filters.ml_app, filters.session, filters.service, filters.tags)
    if filters.status == "error":  # the SDK tags every span error:0 or error:1
        wanted.append(("error", "1"))
    where, params = trace_filters(wanted)
    for clause, value in (("start_ns >= ?", filters.since_ns), ("start_ns < ?", filters.until_ns)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if filters.text:  # a cheap pre-filter on the stored JSON; the spans' own text decides
        needle = json.dumps(filters.text.lower(), ensure_ascii=False)[1:-1]
        where.append("instr(lower(CAST(events AS TEXT)), ?) OR EXISTS (SELECT 1 FROM chunks c"
                     " WHERE c.trace_rowid = traces.id AND instr(lower(CAST(c.events AS TEXT)),"
                     " ?))")
        params += [needle, needle]
    return where, params


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


def _newest(stored: Iterable[tuple[int, int, int, bytes]], keep: Callable[[Any], bool],
            filters: Filters, cursor: tuple[int, ...] | None,
            limit: int) -> tuple[list[tuple[tuple[int, ...], dict[str, Any]]], bool]:
    """queries.list_spans's walk, with a cursor, an upper time bound, a predicate and a
    budget of stored rows."""
    kept: list[tuple[tuple[int, ...], dict[str, Any]]] = []
    since, until = filters.since_ns, filters.until_ns
    for scanned, (bound, is_trace, rowid, events) in enumerate(stored, 1):
        if (len(kept) == limit and bound < kept[0][0][0]) or (since is not None and bound < since):
            break
        for position, span in enumerate(decode(events)):
            key = (integer(span.get("start_ns")) or bound, bound, is_trace, rowid, position)
            if ((cursor is not None and key >= cursor) or (since is not None and key[0] < since)
                    or (until is not None and key[0] >= until) or not keep(span)):
                continue
            if len(kept) < limit:
                heapq.heappush(kept, (key, span))
            elif key > kept[0][0]:
                heapq.heapreplace(kept, (key, span))
        if scanned >= SCAN_BUDGET:
            return sorted(kept, key=lambda item: item[0], reverse=True), True
    return sorted(kept, key=lambda item: item[0], reverse=True), False
