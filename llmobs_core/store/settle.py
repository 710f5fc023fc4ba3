"""Settling: the span records the writing processes left in the inbox (store/inbox.py) become
span events stored as traces, exactly as the sink stores built events (group_by_trace and
insert_spans: a span stored before is dropped by its id, tag sets, chunks and counters kept as
ever). Every reader settles before it reads; several processes may settle and write at once.

The events are built before the write lock is taken; the transaction then checks that the
rows it built are still in the inbox (another reader may have settled them meanwhile) before
it stores the events and deletes the rows, so a batch is stored once, whole, or not at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .._faults import safe_str
from .._log import warn_limited
from ..span_events import EventBuilder
from .codec import Event
from .inbox import check_storable, events_of
from .tags import TagSets
from .traces import group_by_trace
from .write import insert_spans, open_store, write_transaction

_SPANS_PER_TRANSACTION = 2_000
_ATTEMPTS = 5  # builds of a transaction raced by another settling process, before giving up
_UNWRITABLE_RETRY_S = 10.0  # how long a store found read-only is not tried again
DROPPED_COUNTER = "dropped_when_settled"  # in the counters table
_WAITING = "SELECT count(*), coalesce(sum(span_count), 0) FROM inbox"

_lock = threading.Lock()  # one settling thread a process; the others wait for it, then read
_last_settled: dict[str, float] = {}
_left_waiting: dict[str, int] = {}  # spans the last read of a store found waiting, unsettled
_unwritable_until: dict[str, float] = {}
_min_interval_s = 0.0


def _new_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread may have held it at fork time


os.register_at_fork(after_in_child=_new_lock_in_child)


def settle_at_most_every(seconds: float) -> None:
    """Let readers of this process settle at most once in `seconds` (the viewer: its pages
    stay fast while spans arrive). The default, 0, settles before every read."""
    global _min_interval_s
    _min_interval_s = seconds


def settle(path: Path, timeout: float = 10.0) -> int:
    """Store every batch waiting in the inbox of the store at `path` (not those that arrive
    meanwhile: writers that never stop cannot keep a reader settling); returns how many spans
    were settled (new ones). Raises sqlite3.Error or OSError when the store cannot be written."""
    conn = open_store(path, timeout)
    try:
        settled, after = 0, 0
        (last_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM inbox").fetchone()
        while rows := _next_rows(conn, after, last_id):
            settled += _settle_rows(conn, rows, timeout)
            after = rows[-1][0]
        return settled
    finally:
        conn.close()


def spans_waiting(path: Path) -> int:
    """How many spans the last read of the store at `path` left unsettled in its inbox (the
    store could not be written here, or settling waits for the viewer's next turn)."""
    return _left_waiting.get(str(path), 0)


def settle_before_reading(path: Path, conn: sqlite3.Connection) -> None:
    """Settle what waits in the inbox of the store `conn` reads (read-only) at `path`."""
    key = str(path)
    _left_waiting[key] = _settle_before_reading(key, path, conn)


def _settle_before_reading(key: str, path: Path, conn: sqlite3.Connection) -> int:
    count, spans = conn.execute(_WAITING).fetchone()
    if not count:
        return 0
    now = time.monotonic()
    if now < _unwritable_until.get(key, 0.0) or now - _last_settled.get(key, -1e9) < (
            _min_interval_s):
        return spans
    with _lock:
        try:
            settle(path)
        except Exception as exc:  # never fails a read: what was settled before is read
            _unwritable_until[key] = time.monotonic() + _UNWRITABLE_RETRY_S
            warn_limited(f"settle.{key}", "llmobs: %s spans wait in the inbox of %s and are not "
                         "shown: settling them into traces needs to write the store, which "
                         "failed here (%s)", f"{spans:,}", path, safe_str(exc))
            return spans
        _last_settled[key] = time.monotonic()
    return conn.execute(_WAITING).fetchone()[1]


Row = tuple[Any, ...]  # id, static_tags, span_count, received_ns, records


def _next_rows(conn: sqlite3.Connection, after: int, last_id: int) -> list[Row]:
    """The oldest inbox rows after `after` up to `last_id`, about _SPANS_PER_TRANSACTION spans
    (at least one row)."""
    rows, spans = [], 0
    for row in conn.execute("SELECT id, static_tags, span_count, received_ns, records"
                            " FROM inbox WHERE id > ? AND id <= ? ORDER BY id", (after, last_id)):
        rows.append(row)
        spans += row[2]
        if spans >= _SPANS_PER_TRANSACTION:
            break
    return rows


def _settle_rows(conn: sqlite3.Connection, rows: list[Row], timeout: float) -> int:
    for _ in range(_ATTEMPTS):
        events, ids = _built(rows)
        now_ns = rows[-1][3]
        listed = set(ids)
        spans = sum(row[2] for row in rows if row[0] in listed)
        try:
            return _store(conn, ids, events, now_ns, timeout, spans)
        except _Raced:  # settle what is left of these rows
            rows = _next_rows(conn, rows[0][0] - 1, rows[-1][0])
            if not rows:
                return 0
        except (sqlite3.Error, OSError):
            raise
        except Exception:  # an event the store cannot take: again without such events
            return _store(conn, ids, _storable(events, now_ns), now_ns, timeout, spans)
    raise sqlite3.OperationalError("the inbox was settled by other processes meanwhile, "
                                   f"{_ATTEMPTS} times in a row")


def _store(conn: sqlite3.Connection, ids: list[int], events: list[Event], now_ns: int,
           timeout: float, spans: int) -> int:
    """Store the events of the inbox rows `ids` (which held `spans` records) and take those
    rows out of the inbox, in one transaction, counting the records left out as dropped;
    raises _Raced when another process settled some of them first."""
    if not ids:
        return 0
    groups = group_by_trace(events, now_ns, yield_now_and_then=False)
    tag_sets = TagSets()  # its cached ids hold for one transaction, committed or not
    listed = json.dumps(ids)
    with write_transaction(conn, timeout):
        (present,) = conn.execute("SELECT count(*) FROM inbox WHERE id IN (SELECT value FROM"
                                  " json_each(?))", (listed,)).fetchone()
        if present != len(ids):
            raise _Raced
        stored = insert_spans(conn, groups, tag_sets)
        conn.execute("DELETE FROM inbox WHERE id IN (SELECT value FROM json_each(?))",
                     (listed,))
        if spans > len(events):
            conn.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)",
                         (DROPPED_COUNTER,))
            conn.execute("UPDATE counters SET value = value + ? WHERE name = ?",
                         (spans - len(events), DROPPED_COUNTER))
    return stored


def dropped_when_settled(conn: sqlite3.Connection) -> int:
    """How many span records settling has dropped from the store since it was made (records
    whose event could not be built or stored: each was also logged)."""
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (DROPPED_COUNTER,)).fetchone()
    return row[0] if row else 0


def _storable(events: list[Event], now_ns: int) -> list[Event]:
    """The events the store can take (the writer's sink dropped the others before they
    reached the inbox, unless an older or newer llmobs wrote them)."""
    kept = []
    for event in events:
        try:
            check_storable(event, now_ns)
        except Exception as exc:
            _unbuildable(exc)
            continue
        kept.append(event)
    return kept


class _Raced(Exception):
    """Another process settled some of the batch's rows first."""


def _built(rows: list[Row]) -> tuple[list[Event], list[int]]:
    """The events of the rows, and the ids of the rows read. A row that cannot be read at all
    (written by a newer Python, or damaged) is left in the inbox, with a warning, for a
    reader that can, or for retention."""
    builders: dict[str, Any] = {}
    events: list[Event] = []
    ids = []
    for rowid, static_tags, _, _, records in rows:
        build = builders.get(static_tags)
        try:
            if build is None:
                build = builders[static_tags] = EventBuilder(json.loads(static_tags)).build
            events += events_of(records, build, _unbuildable)
        except Exception as exc:
            warn_limited("settle.row", "llmobs: a batch of spans in the inbox cannot be read "
                         "here (%s: %s); it is left for another reader", type(exc).__name__,
                         safe_str(exc))
            continue
        ids.append(rowid)
    return events, ids


def _unbuildable(exc: Exception) -> None:
    warn_limited("settle.build", "llmobs: a span record in the inbox could not be stored as "
                 "an event (%s: %s); it was dropped", type(exc).__name__, safe_str(exc))
