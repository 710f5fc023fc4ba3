"""Retention: the local store keeps at most so many spans, none older than so many days.

Spans still in the inbox (store/inbox.py) count toward the limit, but the writing process
never settles them to prune: settled traces go first, oldest first, and only when they are
not enough do whole inbox batches go, oldest first. An application writing at the limit with
no reader thus keeps its newest spans, unsettled, and pays nothing more than usual to prune.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .tags import forget_unused_tag_sets
from .write import write_transaction

_PRUNE_TRACES_PER_TRANSACTION = 200
_PRUNE_DOWN_TO = 0.9  # prune below the limit, so the next check does not prune again at once
_NANOSECONDS_A_DAY = 86_400e9


def prune(conn: sqlite3.Connection, max_spans: int, max_age_days: float, now_ns: int,
          wait: float = 0.0) -> int:
    """Delete whole traces, oldest first, older than max_age_days or past max_spans (0: no
    limit), in short transactions so other writers are not held up, then the tag sets only
    they used, then inbox batches as the module says; each transaction waits up to `wait`
    seconds for the write lock. Returns spans deleted."""
    cutoff, inbox_excess = _prune_cutoff(conn, max_spans, max_age_days, now_ns)
    deleted, tag_set_ids = 0, set[int]()
    if max_age_days:
        too_old = now_ns - int(max_age_days * _NANOSECONDS_A_DAY)
        with write_transaction(conn, wait):
            conn.execute("DELETE FROM evaluations WHERE timestamp_ms < ?",
                         (too_old // 1_000_000,))
            deleted += _delete_inbox_rows(conn, conn.execute(
                "SELECT id, span_count FROM inbox WHERE max_start_ns < ?", (too_old,)))
    while cutoff is not None:
        with write_transaction(conn, wait):
            doomed = conn.execute(
                "SELECT id, trace_id, span_count, tag_set_id FROM traces"
                " WHERE start_ns <= ? ORDER BY start_ns LIMIT ?",
                (cutoff, _PRUNE_TRACES_PER_TRANSACTION)).fetchall()
            deleted += _delete_traces(conn, doomed)
        tag_set_ids.update(set_id for *_, set_id in doomed)
        if len(doomed) < _PRUNE_TRACES_PER_TRANSACTION:
            break
    if tag_set_ids:
        with write_transaction(conn, wait):
            forget_unused_tag_sets(conn, tag_set_ids)
    if inbox_excess > 0:
        with write_transaction(conn, wait):
            deleted += _delete_inbox_rows(conn, _oldest_covering(conn.execute(
                "SELECT id, span_count FROM inbox ORDER BY min_start_ns, id"), inbox_excess))
    return deleted


def _delete_traces(conn: sqlite3.Connection, doomed: list[tuple[Any, ...]]) -> int:
    """Delete traces (id, trace_id, span_count, tag_set_id), their chunks and evaluations;
    returns how many spans they held."""
    rowids = [(rowid,) for rowid, *_ in doomed]
    conn.executemany("DELETE FROM chunks WHERE trace_rowid = ?", rowids)
    conn.executemany("DELETE FROM evaluations WHERE trace_id = ?",
                     [(trace_id,) for _, trace_id, *_ in doomed])
    conn.executemany("DELETE FROM traces WHERE id = ?", rowids)
    spans = sum(span_count for _, _, span_count, _ in doomed)
    conn.execute("UPDATE counters SET value = value - ? WHERE name = 'spans'", (spans,))
    return spans


def _delete_inbox_rows(conn: sqlite3.Connection, rows: Any) -> int:
    """Delete inbox rows (id, span_count); returns how many spans they held."""
    doomed = list(rows)
    conn.executemany("DELETE FROM inbox WHERE id = ?", [(rowid,) for rowid, _ in doomed])
    return sum(span_count for _, span_count in doomed)


def _oldest_covering(rows: Any, span_count: int) -> list[tuple[int, int]]:
    """The first of `rows` (id, span_count) that together hold span_count spans."""
    covering, covered = [], 0
    for rowid, spans in rows:
        if covered >= span_count:
            break
        covering.append((rowid, spans))
        covered += spans
    return covering


def _prune_cutoff(conn: sqlite3.Connection, max_spans: int, max_age_days: float,
                  now_ns: int) -> tuple[int | None, int]:
    """The start_ns at or before which traces go (None when none need to), and how many
    spans of the inbox must go besides."""
    cutoff, inbox_excess = None, 0
    if max_age_days:
        too_old = now_ns - int(max_age_days * _NANOSECONDS_A_DAY)
        (oldest,) = conn.execute("SELECT min(start_ns) FROM traces").fetchone()
        if oldest is not None and oldest < too_old:
            cutoff = too_old - 1
    if max_spans:
        (settled,) = conn.execute("SELECT value FROM counters WHERE name = 'spans'").fetchone()
        (waiting,) = conn.execute("SELECT coalesce(sum(span_count), 0) FROM inbox").fetchone()
        if settled + waiting > max_spans:
            excess = settled + waiting - int(max_spans * _PRUNE_DOWN_TO)
            if settled:
                cutoff = max(cutoff or 0, _start_covering(conn, excess))
            inbox_excess = excess - settled
    return cutoff, inbox_excess


def _start_covering(conn: sqlite3.Connection, span_count: int) -> int:
    """The start_ns of the newest of the oldest traces that together hold span_count spans."""
    covered, newest = 0, 0
    oldest_first = conn.execute("SELECT start_ns, span_count FROM traces ORDER BY start_ns")
    for start_ns, spans in oldest_first:
        covered, newest = covered + spans, start_ns
        if covered >= span_count:
            break
    return newest
