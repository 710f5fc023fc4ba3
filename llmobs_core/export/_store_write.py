"""The SQL side of the local store's sink: opening the file, batch inserts and pruning."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._store_schema import SCHEMA, SCHEMA_VERSION
from .base import Event

try:
    import orjson
except ImportError:  # optional: about ten times faster than json here, which dominates encoding
    orjson = None

_TAG_CACHE_LIMIT = 10_000
_PRUNE_TRACES_PER_TRANSACTION = 200
_PRUNE_DOWN_TO = 0.9  # prune below the limit, so the next check does not prune again at once


class StoreTooNew(sqlite3.DatabaseError):
    """The file was made by a newer llmobs, with a schema this one does not know."""


def encode(event: Event) -> str:
    try:
        if orjson is not None:
            return orjson.dumps(event, default=str).decode()
        return json.dumps(event, separators=(",", ":"), default=str)
    except (TypeError, ValueError):  # keys that are not strings, huge ints, lone surrogates
        return json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=True)


def open_store(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        with write_transaction(conn):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreTooNew(f"schema version {version} is newer than {SCHEMA_VERSION}")
            if version < SCHEMA_VERSION:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads first and
    # writes later can fail at once with SQLITE_BUSY in WAL mode instead of waiting.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def split_tag(tag: str) -> tuple[str, str]:
    key, _, value = tag.partition(":")
    return key, value


# -- spans -------------------------------------------------------------------------------------

_INSERT_SPAN = (
    "INSERT OR IGNORE INTO spans (id, trace_id, span_id, parent_id, name, kind, ml_app, service,"
    " session_id, status, start_ns, duration, event) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_ROOT_COLUMNS = ("root_is_real", "root_start_ns", "root_name", "root_kind", "root_ml_app",
                 "root_duration")
# In an upsert's SET every expression sees the row as it was, so the test can be repeated.
_NEW_ROOT_WINS = ("excluded.root_is_real > root_is_real OR (excluded.root_is_real = root_is_real"
                  " AND excluded.root_start_ns < root_start_ns)")
_UPSERT_TRACE = (
    "INSERT INTO traces (trace_id, start_ns, end_ns, span_count, error_count, session_id, "
    + ", ".join(_ROOT_COLUMNS) + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (trace_id) DO UPDATE SET"
    " start_ns = min(start_ns, excluded.start_ns), end_ns = max(end_ns, excluded.end_ns),"
    " span_count = span_count + excluded.span_count,"
    " error_count = error_count + excluded.error_count,"
    " session_id = coalesce(session_id, excluded.session_id), "
    + ", ".join(f"{c} = CASE WHEN {_NEW_ROOT_WINS} THEN excluded.{c} ELSE {c} END"
                for c in _ROOT_COLUMNS)
)


def _span_row(rowid: int, event: Event) -> tuple[Any, ...]:
    ml_app = service = session_id = None
    for tag in event.get("tags") or ():
        if not isinstance(tag, str):
            continue
        if tag.startswith("ml_app:"):
            ml_app = tag[7:]
        elif tag.startswith("service:"):
            service = tag[8:]
        elif tag.startswith("session_id:"):
            session_id = tag[11:]
    meta = event.get("meta")
    kind = (meta.get("span") or {}).get("kind") if isinstance(meta, dict) else None
    return (
        rowid, str(event["trace_id"]), str(event["span_id"]), _text(event.get("parent_id")),
        _text(event.get("name")), _text(kind), ml_app, service,
        _text(event.get("session_id") or session_id), _text(event.get("status")),
        # Without a usable start, the span is indexed at the time it is stored.
        _integer(event.get("start_ns")) or time.time_ns(), _integer(event.get("duration")),
        encode(event),
    )


def _text(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _integer(value: Any) -> int | None:
    """Keeps one odd value from failing the batch: SQLite cannot bind most types."""
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def insert_spans(conn: sqlite3.Connection, events: list[Event], tag_ids: dict[str, int]) -> int:
    """Store the spans not stored yet, with their traces' summaries and tags; inside a write
    transaction. `tag_ids` caches tag ids for this connection. Returns how many were new."""
    (first_id,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM spans").fetchone()
    accepted = [event for event in events if event.get("trace_id") and event.get("span_id")]
    rows = [_span_row(first_id + i, event) for i, event in enumerate(accepted)]
    conn.executemany(_INSERT_SPAN, rows)
    # Ids are given explicitly under the write lock, so what is at or past first_id is this
    # batch's, and a missing id is a span that was stored before.
    stored = {rowid for (rowid,) in conn.execute("SELECT id FROM spans WHERE id >= ?", (first_id,))}
    new = [(row, event) for row, event in zip(rows, accepted) if row[0] in stored]
    conn.executemany(_UPSERT_TRACE, _trace_summaries([row for row, _ in new]))
    pairs = _trace_tag_pairs(new)
    _resolve_tag_ids(conn, {tag for tag, _ in pairs}, tag_ids)
    trace_rowids = _trace_rowids(conn, {trace_id for _, trace_id in pairs})
    conn.executemany("INSERT OR IGNORE INTO trace_tags (tag_id, trace_rowid) VALUES (?, ?)",
                     [(tag_ids[tag], trace_rowids[trace_id]) for tag, trace_id in pairs])
    return len(new)


def _trace_rowids(conn: sqlite3.Connection, trace_ids: set[str]) -> dict[str, int]:
    # Tags point at the trace's rowid, not its id: rowids grow with time, so the tag index is
    # appended to, where random trace ids would scatter writes over the whole index.
    found: dict[str, int] = {}
    ordered = sorted(trace_ids)
    for i in range(0, len(ordered), 500):
        chunk = ordered[i:i + 500]
        found.update(conn.execute(
            f"SELECT trace_id, id FROM traces WHERE trace_id IN ({','.join('?' * len(chunk))})",
            chunk))
    return found


def _trace_summaries(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    summaries: dict[str, list[Any]] = {}
    for (_, trace_id, _, parent_id, name, kind, ml_app, _, session_id, status, start, duration,
         _) in rows:
        start, duration = start or 0, duration or 0
        is_root = int(parent_id in (None, "undefined", "0"))
        candidate = [is_root, start, name, kind, ml_app, duration]
        summary = summaries.get(trace_id)
        if summary is None:
            summaries[trace_id] = [trace_id, start, start + duration, 1, int(status == "error"),
                                   session_id, *candidate]
            continue
        summary[1] = min(summary[1], start)
        summary[2] = max(summary[2], start + duration)
        summary[3] += 1
        summary[4] += status == "error"
        summary[5] = summary[5] or session_id
        if is_root > summary[6] or (is_root == summary[6] and start < summary[7]):
            summary[6:] = candidate
    return list(summaries.values())


def _trace_tag_pairs(new: list[tuple[tuple[Any, ...], Event]]) -> set[tuple[str, str]]:
    tags_by_trace: dict[str, set[Any]] = {}
    for row, event in new:
        tags = tags_by_trace.setdefault(row[1], set())
        tags.update(event.get("tags") or ())
        if row[8]:
            tags.add(f"session_id:{row[8]}")
    return {(tag, trace_id) for trace_id, tags in tags_by_trace.items() for tag in tags
            if isinstance(tag, str)}


def _resolve_tag_ids(conn: sqlite3.Connection, tags: set[str], cache: dict[str, int]) -> None:
    missing = [tag for tag in tags if tag not in cache]
    if not missing:
        return
    if len(cache) + len(missing) > _TAG_CACHE_LIMIT:
        cache.clear()
    conn.executemany("INSERT OR IGNORE INTO tags (key, value) VALUES (?, ?)",
                     [split_tag(tag) for tag in missing])
    for tag in missing:
        (cache[tag],) = conn.execute("SELECT id FROM tags WHERE key = ? AND value = ?",
                                     split_tag(tag)).fetchone()


# -- evaluations -------------------------------------------------------------------------------

_INSERT_EVALUATION = (
    "INSERT OR IGNORE INTO evaluations (digest, trace_id, span_id, tag_key, tag_value, label,"
    " metric_type, ml_app, timestamp_ms, event) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def _evaluation_row(metric: Event) -> tuple[Any, ...]:
    join_on = metric.get("join_on") or {}
    span = join_on.get("span") or {}
    tag = join_on.get("tag") or {}
    text = encode(metric)
    # A retried batch re-sends the same dicts, which encode to the same text.
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big",
                            signed=True)
    return (digest, span.get("trace_id"), span.get("span_id"), tag.get("key"), tag.get("value"),
            metric.get("label"), metric.get("metric_type"), metric.get("ml_app"),
            metric.get("timestamp_ms"), text)


def insert_evaluations(conn: sqlite3.Connection, metrics: list[Event]) -> int:
    before = conn.total_changes
    conn.executemany(_INSERT_EVALUATION, [_evaluation_row(metric) for metric in metrics])
    return conn.total_changes - before


# -- retention ---------------------------------------------------------------------------------

def prune(conn: sqlite3.Connection, max_spans: int, max_age_days: float, now_ns: int) -> int:
    """Delete whole traces, oldest first, older than max_age_days or past max_spans (0: no
    limit), in short transactions so other writers are not held up. Returns spans deleted."""
    cutoff = _prune_cutoff(conn, max_spans, max_age_days, now_ns)
    deleted = 0
    if max_age_days:
        with write_transaction(conn):
            conn.execute("DELETE FROM evaluations WHERE timestamp_ms < ?",
                         ((now_ns - int(max_age_days * 86_400e9)) // 1_000_000,))
    while cutoff is not None:
        with write_transaction(conn):
            doomed = conn.execute(
                "SELECT id, trace_id FROM traces WHERE start_ns <= ? ORDER BY start_ns LIMIT ?",
                (cutoff, _PRUNE_TRACES_PER_TRANSACTION)).fetchall()
            rowids = [rowid for rowid, _ in doomed]
            trace_ids = [trace_id for _, trace_id in doomed]
            marks = ",".join("?" * len(doomed))
            deleted += conn.execute(f"DELETE FROM spans WHERE trace_id IN ({marks})",
                                    trace_ids).rowcount
            conn.execute(f"DELETE FROM evaluations WHERE trace_id IN ({marks})", trace_ids)
            conn.execute(f"DELETE FROM trace_tags WHERE trace_rowid IN ({marks})", rowids)
            conn.execute(f"DELETE FROM traces WHERE id IN ({marks})", rowids)
        if len(doomed) < _PRUNE_TRACES_PER_TRANSACTION:
            break
    return deleted


def _prune_cutoff(conn: sqlite3.Connection, max_spans: int, max_age_days: float,
                  now_ns: int) -> int | None:
    """The start_ns at or before which traces go, or None when nothing needs to."""
    cutoff = None
    if max_age_days:
        too_old = now_ns - int(max_age_days * 86_400e9)
        (oldest,) = conn.execute("SELECT min(start_ns) FROM traces").fetchone()
        if oldest is not None and oldest < too_old:
            cutoff = too_old - 1
    if max_spans:
        # max(id) - min(id) is found in the index at once and is never below the count.
        (upper_bound,) = conn.execute("SELECT max(id) - min(id) + 1 FROM spans").fetchone()
        if upper_bound and upper_bound > max_spans:
            (count,) = conn.execute("SELECT count(*) FROM spans").fetchone()
            excess = count - int(max_spans * _PRUNE_DOWN_TO)
            if count > max_spans:
                cutoff = max(cutoff or 0, _start_covering(conn, excess))
    return cutoff


def _start_covering(conn: sqlite3.Connection, span_count: int) -> int:
    """The start_ns of the newest of the oldest traces that together hold span_count spans."""
    covered, newest = 0, 0
    oldest_first = conn.execute("SELECT start_ns, span_count FROM traces ORDER BY start_ns")
    for start_ns, spans in oldest_first:
        covered, newest = covered + spans, start_ns
        if covered >= span_count:
            break
    return newest
