"""The SQL side of the local store's sink: opening the file and batch inserts (retention:
store/retention.py)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .codec import Event, decode, encode
from .inbox import Packed
from .schema import (
    INBOX,
    INBOX_INDEX,
    MIGRATIONS,
    OLDEST_MIGRATED,
    PAGE_SIZE,
    SCHEMA,
    SCHEMA_VERSION,
    ensure_spans_view,
)
from .tags import TagSets
from .traces import OneSpan, TraceGroup

_WAL_RETRY_S = 0.005
# SQLite's own wait for another process's lock cannot be cut short, so the sink's connection
# waits in steps of this long, and write_transaction tries again until its time is up or it
# is told to stop: a store locked by another process cannot hold up an exit.
BUSY_STEP_S = 0.05


class StoreTooNew(sqlite3.DatabaseError):
    """The file was made by a newer llmobs, with a schema this one does not know."""


class StoreTooOld(sqlite3.DatabaseError):
    """The file was made by an llmobs from before its first release, in another layout."""


def open_store(path: Path, timeout: float,
               stop: threading.Event | None = None) -> sqlite3.Connection:
    """A connection to the store at `path`, made if needed. Waits for other processes' locks
    for up to `timeout` seconds in all, less if `stop` is set meanwhile."""
    conn = sqlite3.connect(path, timeout=min(timeout, BUSY_STEP_S), isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect only in a new file
        _enter_wal_mode(conn, timeout, stop)
        conn.execute("PRAGMA synchronous=NORMAL")
        with write_transaction(conn, timeout, stop):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StoreTooNew(f"schema version {version} is newer than {SCHEMA_VERSION}")
            if 0 < version < OLDEST_MIGRATED:
                raise StoreTooOld(f"schema version {version} is older than {SCHEMA_VERSION}")
            if version < SCHEMA_VERSION:
                script = SCHEMA + ";" + INBOX if version == 0 else "".join(
                    MIGRATIONS[older] for older in range(version, SCHEMA_VERSION))
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(INBOX_INDEX)
            ensure_spans_view(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _enter_wal_mode(conn: sqlite3.Connection, timeout: float,
                    stop: threading.Event | None) -> None:
    """Switching a new file to WAL needs it alone for a moment, and SQLite answers "database
    is locked" at once, without waiting, when another process opens the same new file then:
    so this tries again until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline or (
                    stop is not None and stop.is_set()):
                raise
            time.sleep(_WAL_RETRY_S)


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, wait: float = 0.0,
                      stop: threading.Event | None = None) -> Iterator[None]:
    """A transaction holding the write lock, waited for up to `wait` seconds beyond the
    connection's own busy timeout, or until `stop` is set."""
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads first and
    # writes later can fail at once with SQLITE_BUSY in WAL mode instead of waiting.
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                raise
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# -- spans -------------------------------------------------------------------------------------

_INSERT_TRACES = ("INSERT OR IGNORE INTO traces (id, trace_id, start_ns, span_count, tag_set_id,"
                  " start_bound_ns, events) VALUES ")
# As many rows to a statement as SQLite takes bound values (32,766 since 3.32, 999 before).
_MAX_VALUES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_MAX_ROWS_PER_STATEMENT = 256
_UPDATE_TRACE = ("UPDATE traces SET start_ns = min(start_ns, ?), span_count = span_count + ?,"
                 " tag_set_id = ? WHERE id = ?")
_INSERT_CHUNK = ("INSERT INTO chunks (id, trace_rowid, min_start_ns, max_start_ns, start_bound_ns,"
                 " events) VALUES (?,?,?,?,?,?)")
_NEWEST_BOUND = ("SELECT max(coalesce((SELECT start_bound_ns FROM traces ORDER BY id DESC"
                 " LIMIT 1), ?1), coalesce((SELECT start_bound_ns FROM chunks ORDER BY id DESC"
                 " LIMIT 1), ?1))")
_LOOKUP_CHUNK = 500  # trace ids per IN (...) query


def insert_spans(conn: sqlite3.Connection, groups: dict[str, TraceGroup | OneSpan],
                 tag_sets: TagSets) -> int:
    """Store each trace's group of spans, less the spans stored before: a new trace as a row
    holding them, a stored one as a chunk of its own; inside a write transaction. Returns how
    many spans were new."""
    if not groups:
        return 0
    tag_sets.begin(conn)
    (first_rowid,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM traces").fetchone()
    (bound,) = conn.execute(_NEWEST_BOUND, (-(1 << 63),)).fetchone()
    listed = list(groups.values())
    bound = max(bound, max([group.max_start_ns for group in listed]))
    set_ids = tag_sets.set_ids(conn, [group.tags for group in listed])
    # Ids are given under the write lock, so the rowids at or past first_rowid are this
    # batch's new traces, and a group whose rowid is missing continues a stored trace.
    _insert_rows(conn, _INSERT_TRACES, [
        (rowid, group.trace_id, group.min_start_ns, group.span_count, set_id, bound,
         group.events)
        for rowid, (group, set_id) in enumerate(zip(listed, set_ids), first_rowid)])
    (created,) = conn.execute("SELECT count(*) FROM traces WHERE id >= ?",
                              (first_rowid,)).fetchone()
    if created < len(listed):
        created_ids = {rowid for (rowid,) in conn.execute("SELECT id FROM traces WHERE id >= ?",
                                                          (first_rowid,))}
        continuing: list[TraceGroup] = []
        for index, group in enumerate(listed):
            if first_rowid + index not in created_ids:
                many = group.as_group() if isinstance(group, OneSpan) else group
                listed[index] = many
                continuing.append(many)
        _continue_stored_traces(conn, continuing, tag_sets, bound)
    stored = sum(group.span_count for group in listed)
    conn.execute("UPDATE counters SET value = value + ? WHERE name = 'spans'", (stored,))
    return stored


def _insert_rows(conn: sqlite3.Connection, insert: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows of the same width, as many to a statement as fit. sqlite3 lets other threads
    run during each step of a statement, and executemany steps once a row: in a busy process
    (a web server's event loop) each of those hand-offs of the GIL costs more than the row."""
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ",".join("?" * width) + ")"
    start = 0
    while start < len(rows):
        some = rows[start:start + _rows_per_statement(len(rows) - start, width)]
        start += len(some)
        conn.execute(insert + ",".join([one] * len(some)), [value for row in some for value in row])


def _rows_per_statement(left: int, width: int) -> int:
    """A power of two, so that a few statement texts serve every batch: sqlite3 caches them
    compiled, where a statement of a new length would be parsed again."""
    most = min(_MAX_ROWS_PER_STATEMENT, max(1, _MAX_VALUES // width))
    return 1 << (min(left, most).bit_length() - 1)


def _continue_stored_traces(conn: sqlite3.Connection, groups: list[TraceGroup],
                            tag_sets: TagSets, bound: int) -> None:
    """Add groups of spans to traces stored before, each as a chunk, less the spans stored
    already."""
    stored = _stored_traces(conn, [group.trace_id for group in groups])
    (next_chunk,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchone()
    updates, chunks = [], []
    for group in groups:
        rowid, set_id = stored[group.trace_id]
        _drop_stored_spans(conn, rowid, group)
        if group.spans:
            updates.append((group.min_start_ns, len(group.spans),
                            tag_sets.union_id(conn, set_id, group.tags), rowid))
            chunks.append((next_chunk, rowid, group.min_start_ns, group.max_start_ns, bound,
                           group.events))
            next_chunk += 1
    conn.executemany(_UPDATE_TRACE, updates)
    conn.executemany(_INSERT_CHUNK, chunks)


def _stored_traces(conn: sqlite3.Connection, trace_ids: list[str]) -> dict[str, tuple[int, ...]]:
    """(rowid, tag_set_id) of stored traces, by trace id."""
    found: dict[str, tuple[int, ...]] = {}
    for i in range(0, len(trace_ids), _LOOKUP_CHUNK):
        some = trace_ids[i:i + _LOOKUP_CHUNK]
        for trace_id, *row in conn.execute(
                "SELECT trace_id, id, tag_set_id FROM traces"
                f" WHERE trace_id IN ({','.join('?' * len(some))})", some):
            found[trace_id] = tuple(row)
    return found


def _drop_stored_spans(conn: sqlite3.Connection, rowid: int, group: TraceGroup) -> None:
    """Remove from `group` the spans its trace already has. A span stored twice has the same
    start both times, so of the trace's later chunks only those whose starts overlap the
    group's are read, unless a span had no usable start (it was given the time of storing)."""
    low, high = ((group.min_start_ns, group.max_start_ns) if group.exact_starts
                 else (-(1 << 63), (1 << 63) - 1))
    first = conn.execute("SELECT events FROM traces WHERE id = ?", (rowid,))
    later = conn.execute("SELECT events FROM chunks WHERE trace_rowid = ?"
                         " AND max_start_ns >= ? AND min_start_ns <= ?", (rowid, low, high))
    stored_ids = {span_id if type(span_id) is str else str(span_id)
                  for rows in (first, later) for (events,) in rows for span in decode(events)
                  if (span_id := span.get("span_id")) is not None}
    repeated = stored_ids.intersection(group.spans)
    if repeated:
        for span_id in repeated:
            del group.spans[span_id]
        if group.spans:
            group.summarise()


# -- the inbox ---------------------------------------------------------------------------------

_INSERT_INBOX = ("INSERT INTO inbox (static_tags, span_count, min_start_ns, max_start_ns,"
                 " received_ns, records) VALUES (?,?,?,?,?,?)")


def insert_inbox(conn: sqlite3.Connection, packed: Packed, static_tags: str,
                 now_ns: int) -> int:
    """One row of the inbox holding a batch of span records (store/inbox.py), inside a write
    transaction; returns its span count."""
    conn.execute(_INSERT_INBOX, (static_tags, packed.span_count, packed.min_start_ns,
                                 packed.max_start_ns, now_ns, packed.data))
    return packed.span_count


# -- evaluations -------------------------------------------------------------------------------

_INSERT_EVALUATION = (
    "INSERT OR IGNORE INTO evaluations (digest, trace_id, span_id, tag_key, tag_value, label,"
    " metric_type, ml_app, timestamp_ms, event) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def _evaluation_row(metric: Event) -> tuple[Any, ...]:
    join_on = metric.get("join_on") or {}
    span = join_on.get("span") or {}
    tag = join_on.get("tag") or {}
    if metric.get("event_kind") == "feedback":  # one target at the top level
        span = {key: metric[key] for key in ("trace_id", "span_id") if key in metric}
        tag = next(({"key": key, "value": metric[key]} for key in ("session_id",
                    "feedback_join_key") if key in metric), {})
    data = encode(metric)
    # A retried batch re-sends the same dicts, which encode to the same text.
    digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)
    return (digest, span.get("trace_id"), span.get("span_id"), tag.get("key"), tag.get("value"),
            metric.get("label"), metric.get("metric_type"), metric.get("ml_app"),
            metric.get("timestamp_ms"), data.decode())


def insert_evaluations(conn: sqlite3.Connection, metrics: list[Event]) -> int:
    before = conn.total_changes
    conn.executemany(_INSERT_EVALUATION, [_evaluation_row(metric) for metric in metrics])
    return conn.total_changes - before
