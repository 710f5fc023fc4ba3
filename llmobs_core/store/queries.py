"""Reading the local trace store (see export/local.py): plain dicts, newest first.

Every function takes the store's path (None: LLMOBS_LOCAL_PATH, else llmobs/traces.db in the
user data folder), opens it read-only and never creates it: a missing file raises
FileNotFoundError, a store with nothing in it yet gives empty results. Tag filters are
"key:value" strings, or a bare "key" for any value.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterable
from typing import Any

from .codec import decode, trace_summary
from .reading import (
    StorePath,
    reading,
    span_has,
    span_start,
    span_summary,
    stored_of_traces,
    stored_spans,
    trace_filters,
    wanted_tags,
    where_clause,
)

__all__ = ["evaluations_by_span", "get_trace", "list_evals", "list_spans", "list_traces",
           "match_trace_ids"]


def list_traces(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
                service: str | None = None, tags: Iterable[str] = (),
                since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Trace summaries; a filter keeps the traces with at least one span that matches it."""
    where, params = trace_filters(wanted_tags(ml_app, session, service, tags))
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(since_ns)
    sql = ("SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces"
           f" {where_clause(where)} ORDER BY start_ns DESC LIMIT ?")
    with reading(path) as conn:
        if conn is None:
            return []
        return [{"trace_id": trace_id, "start_ns": start_ns,
                 **trace_summary(stored_spans(conn, rowid, bound, events))}
                for rowid, trace_id, start_ns, bound, events in conn.execute(sql, [*params, limit])]


def list_spans(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
               service: str | None = None, tags: Iterable[str] = (),
               since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Spans that match every filter: their indexed fields, and the whole event as "event"."""
    wanted = wanted_tags(ml_app, session, service, tags)
    with reading(path) as conn:
        if conn is None:
            return []
        if wanted:  # the tag index is per trace: it finds the traces, each span's tags decide
            stored = stored_of_traces(conn, *trace_filters(wanted))
        else:
            stored = heapq.merge(
                conn.execute("SELECT start_bound_ns, 1, id, events FROM traces ORDER BY id DESC"),
                conn.execute("SELECT start_bound_ns, 0, id, events FROM chunks ORDER BY id DESC"),
                key=lambda row: row[0], reverse=True)
        with contextlib.closing(stored):  # while the connection is open
            newest = _newest_spans(stored, wanted, since_ns, limit)
    return [span_summary(span, start) for (start, *_), span in newest]


def match_trace_ids(path: StorePath, prefix: str, limit: int = 10) -> list[str]:
    """The stored trace ids that start with `prefix` (at most `limit` of them); failing that,
    those whose random low 64 bits are `prefix`, as 16 hex digits or as the decimal number
    Datadog shows."""
    prefix = prefix.strip().lower()
    with reading(path) as conn:
        if conn is None or not prefix:
            return []
        # A range on the unique index: every hex id that starts with prefix sorts below "~".
        rows = conn.execute("SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ?"
                            " ORDER BY trace_id LIMIT ?", (prefix, prefix + "~", limit))
        found = [trace_id for (trace_id,) in rows]
        low = _low_bits(prefix)
        if not found and low is not None:  # no index on the low half: a scan of the ids
            found = [trace_id for (trace_id,) in conn.execute(
                "SELECT trace_id FROM traces WHERE length(trace_id) = 32"
                " AND substr(trace_id, 17) = ? LIMIT ?", (low, limit))]
        return found


def _low_bits(text: str) -> str | None:
    """`text` as the 16 hex digits of a trace id's low 64 bits, if it can be that."""
    if len(text) == 16 and all(char in "0123456789abcdef" for char in text):
        return text
    if text.isdigit() and int(text) < 1 << 64:
        return f"{int(text):016x}"
    return None


def get_trace(path: StorePath, trace_id: str) -> dict[str, Any] | None:
    """{"trace_id", "spans": full span events by start time, "evaluations": the metrics joined
    to them by span or by tag}, or None when the store has no such trace."""
    with reading(path) as conn:
        if conn is None:
            return None
        row = conn.execute("SELECT id, tag_set_id, start_bound_ns, events FROM traces"
                           " WHERE trace_id = ?", (trace_id,)).fetchone()
        if row is None:
            return None
        spans = sorted(stored_spans(conn, row[0], row[2], row[3]), key=lambda pair: pair[0])
        by_span = conn.execute("SELECT id, event FROM evaluations WHERE trace_id = ?",
                               (trace_id,)).fetchall()
        by_tag = conn.execute(
            "SELECT e.id, e.event FROM tag_sets s, json_each(s.tag_ids) j"
            " JOIN tags g ON g.id = j.value"
            " JOIN evaluations e ON e.tag_key = g.key AND e.tag_value = g.value"
            " WHERE s.id = ?", (row[1],)).fetchall()
    evaluations = [decode(event) for _, event in sorted(by_span + by_tag)]
    return {"trace_id": trace_id, "spans": [span for _, span in spans],
            "evaluations": evaluations}


def evaluations_by_span(trace: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """get_trace()'s evaluations grouped by the span_id of each span they are joined to."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for metric in trace["evaluations"]:
        join_on = metric.get("join_on") or {}
        if "span" in join_on:
            grouped.setdefault(str(join_on["span"].get("span_id")), []).append(metric)
            continue
        tag = join_on.get("tag") or {}
        wanted = f"{tag.get('key')}:{tag.get('value')}"
        for span in trace["spans"]:
            if wanted in (span.get("tags") or ()):
                grouped.setdefault(str(span["span_id"]), []).append(metric)
    return grouped


def list_evals(path: StorePath = None, label: str | None = None, ml_app: str | None = None,
               limit: int = 20) -> list[dict[str, Any]]:
    """Evaluation metrics as they were submitted, newest first."""
    where, params = [], []
    for column, value in (("label", label), ("ml_app", ml_app)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (f"SELECT event FROM evaluations {where_clause(where)}"
           " ORDER BY timestamp_ms DESC, id DESC LIMIT ?")
    with reading(path) as conn:
        if conn is None:
            return []
        return [decode(event) for (event,) in conn.execute(sql, [*params, limit])]


def _newest_spans(stored: Iterable[tuple[int, int, int, bytes]],
                  wanted: list[tuple[str, str | None]], since_ns: int | None,
                  limit: int) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    """The `limit` newest matching spans of `stored` (trace rows and chunks, newest bound
    first), newest first. No span in a row or an older one started after the row's bound, so
    reading stops at the first bound below the oldest span kept, or below since_ns."""
    kept: list[tuple[tuple[int, ...], dict[str, Any]]] = []  # a heap, oldest on top
    if limit <= 0:
        return kept
    for bound, is_trace, rowid, events in stored:
        if (len(kept) == limit and bound < kept[0][0][0]) or (
                since_ns is not None and bound < since_ns):
            break
        for position, span in enumerate(decode(events)):
            key = (span_start(span, bound), bound, is_trace, rowid, position)
            if since_ns is not None and key[0] < since_ns:
                continue
            if not all(span_has(span, tag_key, value) for tag_key, value in wanted):
                continue
            if len(kept) < limit:
                heapq.heappush(kept, (key, span))
            elif key > kept[0][0]:
                heapq.heapreplace(kept, (key, span))
    return sorted(kept, key=lambda item: item[0], reverse=True)


