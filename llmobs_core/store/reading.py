"""What the store's read functions share: a read-only connection (after the inbox is settled,
store/settle.py), the tag filters that find traces through the tag index, and the spans of a
stored trace."""

from __future__ import annotations

import contextlib
import errno
import heapq
import os
import sqlite3
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from .codec import decode, has_tag, integer, kind_of, session_of, tag_value, text
from .location import resolve_store_path
from .schema import OLDEST_MIGRATED, SCHEMA_VERSION
from .settle import settle_before_reading

StorePath = str | os.PathLike[str] | None

# SQLITE_CANTOPEN, SQLITE_READONLY and its extended codes: what a read-only mount answers.
_CANNOT_OPEN = {14, 8, 264, 520, 776, 1032, 1288, 1544}
_SPAN_FIELDS = ("trace_id", "span_id", "parent_id", "name", "kind", "ml_app", "service",
                "session_id", "status", "start_ns", "duration")
_TAG_SETS_WITH = ("SELECT s.id FROM tag_sets s WHERE EXISTS (SELECT 1 FROM json_each(s.tag_ids) j"
                  " JOIN tags g ON g.id = j.value WHERE g.key = ?{value})")


@contextlib.contextmanager
def reading(path: StorePath) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection, or None when the file holds no store yet."""
    store = resolve_store_path(path)
    if not store.is_file():
        raise FileNotFoundError(errno.ENOENT, "no llmobs trace store", str(store))
    conn, version = open_read_only(store)
    try:
        if version and not OLDEST_MIGRATED <= version <= SCHEMA_VERSION:
            made_by = "a newer llmobs" if version > SCHEMA_VERSION else "an llmobs before 0.1.0"
            raise sqlite3.DatabaseError(f"the store was made by {made_by} (schema version"
                                        f" {version}, this llmobs reads {SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:  # an older store has no inbox, so nothing to settle
            settle_before_reading(store, conn)
        yield conn if version else None
    finally:
        conn.close()


def open_read_only(store: Path) -> tuple[sqlite3.Connection, int]:
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


def wanted_tags(ml_app: str | None, session: str | None, service: str | None,
                 tags: Iterable[str]) -> list[tuple[str, str | None]]:
    wanted: list[tuple[str, str | None]] = [
        (key, value) for key, value in
        (("ml_app", ml_app), ("session_id", session), ("service", service)) if value is not None
    ]
    for tag in tags:
        key, colon, value = tag.partition(":")
        wanted.append((key, value if colon else None))
    return wanted


def trace_filters(wanted: list[tuple[str, str | None]]) -> tuple[list[str], list[Any]]:
    """WHERE clauses on traces keeping those with a span tagged with each wanted tag."""
    where: list[str] = []
    params: list[Any] = []
    for key, value in wanted:
        where.append("tag_set_id IN ("
                     + _TAG_SETS_WITH.format(value="" if value is None else " AND g.value = ?")
                     + ")")
        params += [key] if value is None else [key, value]
    return where, params


def where_clause(clauses: list[str]) -> str:
    return "WHERE " + " AND ".join(f"({clause})" for clause in clauses) if clauses else ""


def stored_spans(conn: sqlite3.Connection, trace_rowid: int, bound: int,
                  events: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(start_ns, span) for each span of a trace, in the order they were stored."""
    later = conn.execute("SELECT start_bound_ns, events FROM chunks WHERE trace_rowid = ?"
                         " ORDER BY id", (trace_rowid,))
    return [(span_start(span, chunk_bound), span)
            for chunk_bound, chunk in ((bound, events), *later) for span in decode(chunk)]


def stored_of_traces(conn: sqlite3.Connection, where: list[str],
                      params: list[Any]) -> Generator[tuple[int, int, int, bytes], None, None]:
    """(start bound, 1 for a trace's row or 0 for a chunk, id, events) of the traces that
    pass `where`, newest bound first (bounds grow with the ids); events read as needed."""
    traces = f"SELECT id FROM traces {where_clause(where)}"
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


def span_start(span: dict[str, Any], bound: int) -> int:
    # A span stored without a usable start was indexed at the time it was stored, which is
    # (unless a span of that batch started in the future) the bound stored with it.
    return integer(span.get("start_ns")) or bound


def span_has(span: dict[str, Any], key: str, value: str | None) -> bool:
    if value is None or key not in ("ml_app", "service", "session_id"):
        return has_tag(span, key, value)
    if key == "session_id":
        return session_of(span) == value
    return tag_value(span.get("tags"), key) == value


def span_summary(span: dict[str, Any], start_ns: int) -> dict[str, Any]:
    tags = span.get("tags")
    values = (str(span["trace_id"]), str(span["span_id"]), text(span.get("parent_id")),
              text(span.get("name")), kind_of(span), tag_value(tags, "ml_app"),
              tag_value(tags, "service"), session_of(span), text(span.get("status")), start_ns,
              integer(span.get("duration")))
    return {**dict(zip(_SPAN_FIELDS, values)), "event": span}
