"""Reading the local trace store (see export/local.py): plain dicts, newest first.

Every function takes the store's path (None: LLMOBS_LOCAL_PATH, else .llmobs/traces.db), opens
it read-only and never creates it: a missing file raises FileNotFoundError, a store with
nothing in it yet gives empty results. Tag filters are "key:value" strings, or a bare "key"
for any value.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from ._store_schema import resolve_store_path

__all__ = ["evaluations_by_span", "get_trace", "list_evals", "list_spans", "list_traces",
           "match_trace_ids"]

StorePath = str | os.PathLike[str] | None

_TRACE_COLUMNS = ("trace_id, start_ns, end_ns, span_count, error_count, session_id, root_is_real,"
                  " root_name, root_kind, root_ml_app, root_duration")
_SPAN_COLUMNS = ("trace_id, span_id, parent_id, name, kind, ml_app, service, session_id, status,"
                 " start_ns, duration, event")
_SPAN_TAG_COLUMNS = ("ml_app", "session_id", "service")
_TRACES_WITH_TAG = ("SELECT tt.trace_rowid FROM trace_tags tt JOIN tags g ON g.id = tt.tag_id"
                    " WHERE g.key = ?{value}")


def list_traces(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
                service: str | None = None, tags: Iterable[str] = (),
                since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Trace summaries; a filter keeps the traces with at least one span that matches it."""
    where, params = [], []
    for key, value in _wanted_tags(ml_app, session, service, tags):
        subquery, tag_params = _traces_with_tag(key, value)
        where.append(f"id IN ({subquery})")
        params += tag_params
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(since_ns)
    sql = (f"SELECT {_TRACE_COLUMNS} FROM traces {_where(where)}"
           " ORDER BY start_ns DESC LIMIT ?")
    with _reading(path) as conn:
        if conn is None:
            return []
        return [_trace_summary(row) for row in conn.execute(sql, [*params, limit])]


def list_spans(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
               service: str | None = None, tags: Iterable[str] = (),
               since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Spans that match every filter: their indexed fields, and the whole event as "event"."""
    where, params = [], []
    for key, value in _wanted_tags(ml_app, session, service, tags):
        # The tag index is per trace: it finds the traces, then each span's own tags decide.
        subquery, tag_params = _traces_with_tag(key, value)
        where.append(f"trace_id IN (SELECT trace_id FROM traces WHERE id IN ({subquery}))")
        params += tag_params
        if key in _SPAN_TAG_COLUMNS and value is not None:
            where.append(f"{key} = ?")
            params.append(value)
        elif value is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(event, '$.tags') WHERE value = ?)")
            params.append(f"{key}:{value}")
        else:
            where.append("EXISTS (SELECT 1 FROM json_each(event, '$.tags')"
                         " WHERE value = ? OR substr(value, 1, length(?)) = ?)")
            params += [key, f"{key}:", f"{key}:"]
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(since_ns)
    sql = f"SELECT {_SPAN_COLUMNS} FROM spans {_where(where)} ORDER BY start_ns DESC LIMIT ?"
    with _reading(path) as conn:
        if conn is None:
            return []
        return [_span_summary(row) for row in conn.execute(sql, [*params, limit])]


def match_trace_ids(path: StorePath, prefix: str, limit: int = 10) -> list[str]:
    """The stored trace ids that start with `prefix` (at most `limit` of them)."""
    prefix = prefix.strip().lower()
    with _reading(path) as conn:
        if conn is None or not prefix:
            return []
        # A range on the unique index: every hex id that starts with prefix sorts below "~".
        rows = conn.execute("SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ?"
                            " ORDER BY trace_id LIMIT ?", (prefix, prefix + "~", limit))
        return [trace_id for (trace_id,) in rows]


def get_trace(path: StorePath, trace_id: str) -> dict[str, Any] | None:
    """{"trace_id", "spans": full span events by start time, "evaluations": the metrics joined
    to them by span or by tag}, or None when the store has no such trace."""
    with _reading(path) as conn:
        if conn is None:
            return None
        row = conn.execute("SELECT id FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
        spans = [json.loads(event) for (event,) in conn.execute(
            "SELECT event FROM spans WHERE trace_id = ? ORDER BY start_ns, id", (trace_id,))]
        if row is None and not spans:
            return None
        by_span = conn.execute("SELECT id, event FROM evaluations WHERE trace_id = ?",
                               (trace_id,)).fetchall()
        by_tag = conn.execute(
            "SELECT e.id, e.event FROM trace_tags tt JOIN tags g ON g.id = tt.tag_id"
            " JOIN evaluations e ON e.tag_key = g.key AND e.tag_value = g.value"
            " WHERE tt.trace_rowid = ?", (row[0] if row else -1,)).fetchall()
    evaluations = [json.loads(event) for _, event in sorted(by_span + by_tag)]
    return {"trace_id": trace_id, "spans": spans, "evaluations": evaluations}


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
    sql = (f"SELECT event FROM evaluations {_where(where)}"
           " ORDER BY timestamp_ms DESC, id DESC LIMIT ?")
    with _reading(path) as conn:
        if conn is None:
            return []
        return [json.loads(event) for (event,) in conn.execute(sql, [*params, limit])]


# -- helpers -----------------------------------------------------------------------------------

@contextlib.contextmanager
def _reading(path: StorePath) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection, or None when the file holds no store yet."""
    store = resolve_store_path(path)
    if not store.is_file():
        raise FileNotFoundError(errno.ENOENT, "no llmobs trace store", str(store))
    conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        has_schema = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evaluations'"
        ).fetchone()
        yield conn if has_schema else None
    finally:
        conn.close()


def _wanted_tags(ml_app: str | None, session: str | None, service: str | None,
                 tags: Iterable[str]) -> list[tuple[str, str | None]]:
    wanted: list[tuple[str, str | None]] = [
        (key, value) for key, value in
        (("ml_app", ml_app), ("session_id", session), ("service", service)) if value is not None
    ]
    for tag in tags:
        key, colon, value = tag.partition(":")
        wanted.append((key, value if colon else None))
    return wanted


def _traces_with_tag(key: str, value: str | None) -> tuple[str, list[str]]:
    if value is None:
        return _TRACES_WITH_TAG.format(value=""), [key]
    return _TRACES_WITH_TAG.format(value=" AND g.value = ?"), [key, value]


def _where(clauses: list[str]) -> str:
    return "WHERE " + " AND ".join(f"({clause})" for clause in clauses) if clauses else ""


def _trace_summary(row: tuple[Any, ...]) -> dict[str, Any]:
    (trace_id, start_ns, end_ns, span_count, error_count, session_id, root_is_real, root_name,
     root_kind, root_ml_app, root_duration) = row
    return {
        "trace_id": trace_id, "start_ns": start_ns, "ml_app": root_ml_app,
        "root_name": root_name, "root_kind": root_kind, "span_count": span_count,
        "duration": root_duration if root_is_real else end_ns - start_ns,
        "status": "error" if error_count else "ok", "session_id": session_id,
    }


def _span_summary(row: tuple[Any, ...]) -> dict[str, Any]:
    names = ("trace_id", "span_id", "parent_id", "name", "kind", "ml_app", "service",
             "session_id", "status", "start_ns", "duration")
    summary = dict(zip(names, row))
    summary["event"] = json.loads(row[-1])
    return summary
