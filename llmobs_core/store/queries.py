"""Reading the local trace store (see export/local.py): plain dicts, newest first.

Every function takes the store's path (None: LLMOBS_LOCAL_PATH, else .llmobs/traces.db), opens
it read-only and never creates it: a missing file raises FileNotFoundError, a store with
nothing in it yet gives empty results. Tag filters are "key:value" strings, or a bare "key"
for any value.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import os
import sqlite3
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..config import resolve_store_path
from .codec import (
    decode,
    has_tag,
    integer,
    kind_of,
    session_of,
    tag_value,
    text,
    trace_summary,
)
from .schema import SCHEMA_VERSION

__all__ = ["evaluations_by_span", "get_trace", "list_evals", "list_spans", "list_traces",
           "match_trace_ids"]

StorePath = str | os.PathLike[str] | None

# SQLITE_CANTOPEN, SQLITE_READONLY and its extended codes: what a read-only mount answers.
_CANNOT_OPEN = {14, 8, 264, 520, 776, 1032, 1288, 1544}
_SPAN_FIELDS = ("trace_id", "span_id", "parent_id", "name", "kind", "ml_app", "service",
                "session_id", "status", "start_ns", "duration")
_TAG_SETS_WITH = ("SELECT s.id FROM tag_sets s WHERE EXISTS (SELECT 1 FROM json_each(s.tag_ids) j"
                  " JOIN tags g ON g.id = j.value WHERE g.key = ?{value})")


def list_traces(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
                service: str | None = None, tags: Iterable[str] = (),
                since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Trace summaries; a filter keeps the traces with at least one span that matches it."""
    where, params = _trace_filters(_wanted_tags(ml_app, session, service, tags))
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(since_ns)
    sql = (f"SELECT id, trace_id, start_ns, start_bound_ns, events FROM traces {_where(where)}"
           " ORDER BY start_ns DESC LIMIT ?")
    with _reading(path) as conn:
        if conn is None:
            return []
        return [{"trace_id": trace_id, "start_ns": start_ns,
                 **trace_summary(_stored_spans(conn, rowid, bound, events))}
                for rowid, trace_id, start_ns, bound, events in conn.execute(sql, [*params, limit])]


def list_spans(path: StorePath = None, ml_app: str | None = None, session: str | None = None,
               service: str | None = None, tags: Iterable[str] = (),
               since_ns: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Spans that match every filter: their indexed fields, and the whole event as "event"."""
    wanted = _wanted_tags(ml_app, session, service, tags)
    with _reading(path) as conn:
        if conn is None:
            return []
        if wanted:  # the tag index is per trace: it finds the traces, each span's tags decide
            stored = _stored_of_traces(conn, *_trace_filters(wanted))
        else:
            stored = heapq.merge(
                conn.execute("SELECT start_bound_ns, 1, id, events FROM traces ORDER BY id DESC"),
                conn.execute("SELECT start_bound_ns, 0, id, events FROM chunks ORDER BY id DESC"),
                key=lambda row: row[0], reverse=True)
        with contextlib.closing(stored):  # while the connection is open
            newest = _newest_spans(stored, wanted, since_ns, limit)
    return [_span_summary(span, start) for (start, *_), span in newest]


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
        row = conn.execute("SELECT id, tag_set_id, start_bound_ns, events FROM traces"
                           " WHERE trace_id = ?", (trace_id,)).fetchone()
        if row is None:
            return None
        spans = sorted(_stored_spans(conn, row[0], row[2], row[3]), key=lambda pair: pair[0])
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
    sql = (f"SELECT event FROM evaluations {_where(where)}"
           " ORDER BY timestamp_ms DESC, id DESC LIMIT ?")
    with _reading(path) as conn:
        if conn is None:
            return []
        return [decode(event) for (event,) in conn.execute(sql, [*params, limit])]


# -- helpers -----------------------------------------------------------------------------------

@contextlib.contextmanager
def _reading(path: StorePath) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection, or None when the file holds no store yet."""
    store = resolve_store_path(path)
    if not store.is_file():
        raise FileNotFoundError(errno.ENOENT, "no llmobs trace store", str(store))
    conn, version = _open_read_only(store)
    try:
        if version not in (0, SCHEMA_VERSION):
            made_by = "a newer llmobs" if version > SCHEMA_VERSION else "an llmobs before 0.1.0"
            raise sqlite3.DatabaseError(f"the store was made by {made_by} (schema version"
                                        f" {version}, this llmobs reads {SCHEMA_VERSION})")
        yield conn if version else None
    finally:
        conn.close()


def _open_read_only(store: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection and the store's schema version. Reading a WAL-mode store needs
    its -shm file, which SQLite cannot make on a read-only filesystem: there the file is
    opened as immutable, which is right since nothing can write it either."""
    conn = sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        return conn, version
    except sqlite3.OperationalError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorcode", None) not in _CANNOT_OPEN or _writable(store):
            raise
    conn = sqlite3.connect(f"{store.as_uri()}?immutable=1", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn, version


def _writable(store: Path) -> bool:
    """Whether SQLite could make the store's -shm file beside it."""
    return os.access(store.parent, os.W_OK) and not _read_only_filesystem(store.parent)


def _read_only_filesystem(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


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


def _trace_filters(wanted: list[tuple[str, str | None]]) -> tuple[list[str], list[Any]]:
    """WHERE clauses on traces keeping those with a span tagged with each wanted tag."""
    where: list[str] = []
    params: list[Any] = []
    for key, value in wanted:
        where.append("tag_set_id IN ("
                     + _TAG_SETS_WITH.format(value="" if value is None else " AND g.value = ?")
                     + ")")
        params += [key] if value is None else [key, value]
    return where, params


def _where(clauses: list[str]) -> str:
    return "WHERE " + " AND ".join(f"({clause})" for clause in clauses) if clauses else ""


def _stored_spans(conn: sqlite3.Connection, trace_rowid: int, bound: int,
                  events: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(start_ns, span) for each span of a trace, in the order they were stored."""
    later = conn.execute("SELECT start_bound_ns, events FROM chunks WHERE trace_rowid = ?"
                         " ORDER BY id", (trace_rowid,))
    return [(_span_start(span, chunk_bound), span)
            for chunk_bound, chunk in ((bound, events), *later) for span in decode(chunk)]


def _stored_of_traces(conn: sqlite3.Connection, where: list[str],
                      params: list[Any]) -> Generator[tuple[int, int, int, bytes], None, None]:
    """(start bound, 1 for a trace's row or 0 for a chunk, id, events) of the traces that
    pass `where`, newest bound first (bounds grow with the ids); events read as needed."""
    traces = f"SELECT id FROM traces {_where(where)}"
    refs = heapq.merge(
        sorted(((rowid, "traces") for (rowid,) in conn.execute(traces, params)), reverse=True),
        conn.execute(f"SELECT id, 'chunks' FROM chunks WHERE trace_rowid IN ({traces})"
                     " ORDER BY id DESC", params).fetchall(),
        key=lambda ref: _bound_of(conn, *ref), reverse=True)
    for rowid, table in refs:
        row = conn.execute(f"SELECT start_bound_ns, events FROM {table} WHERE id = ?",
                           (rowid,)).fetchone()
        if row is not None:
            yield row[0], int(table == "traces"), rowid, row[1]


def _bound_of(conn: sqlite3.Connection, rowid: int, table: str) -> int:
    row = conn.execute(f"SELECT start_bound_ns FROM {table} WHERE id = ?", (rowid,)).fetchone()
    return row[0] if row is not None else -(1 << 63)


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
            key = (_span_start(span, bound), bound, is_trace, rowid, position)
            if since_ns is not None and key[0] < since_ns:
                continue
            if not all(_span_has(span, tag_key, value) for tag_key, value in wanted):
                continue
            if len(kept) < limit:
                heapq.heappush(kept, (key, span))
            elif key > kept[0][0]:
                heapq.heapreplace(kept, (key, span))
    return sorted(kept, key=lambda item: item[0], reverse=True)


def _span_start(span: dict[str, Any], bound: int) -> int:
    # A span stored without a usable start was indexed at the time it was stored, which is
    # (unless a span of that batch started in the future) the bound stored with it.
    return integer(span.get("start_ns")) or bound


def _span_has(span: dict[str, Any], key: str, value: str | None) -> bool:
    if value is None or key not in ("ml_app", "service", "session_id"):
        return has_tag(span, key, value)
    if key == "session_id":
        return session_of(span) == value
    return tag_value(span.get("tags"), key) == value


def _span_summary(span: dict[str, Any], start_ns: int) -> dict[str, Any]:
    tags = span.get("tags")
    values = (str(span["trace_id"]), str(span["span_id"]), text(span.get("parent_id")),
              text(span.get("name")), kind_of(span), tag_value(tags, "ml_app"),
              tag_value(tags, "service"), session_of(span), text(span.get("status")), start_ns,
              integer(span.get("duration")))
    return {**dict(zip(_SPAN_FIELDS, values)), "event": span}
