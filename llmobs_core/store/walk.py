"""All Spans pages with a real cursor. Stored rows (trace rows and chunks) are read newest
start bound first, and no span in a row, or in any row stored before it, started after the
row's bound: so a page stops at the first row whose bound is older than its oldest span.
The cursor says where the next page starts: the last span shown, the ids below which no row
was read yet, and the rows already read that still hold older spans (a trace stored late, or
split by the page's end). A page thus reads only its own rows, however deep it is.
"""

from __future__ import annotations

import heapq
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .codec import decode
from .reading import span_start, where_clause
from .rows import Row, allowed_sets, rows_below
from .selection import Selection

Key = tuple[int, int, int, int, int]  # (start, bound, 1 for a trace row or 0, rowid, position)
_LOWEST = -(1 << 63)
_TABLE = {1: "traces", 0: "chunks"}
_MAX_RUN = 100_000  # rows a cursor's run may name: a hand-made one must not cost more


@dataclass(frozen=True)
class SpanCursor:
    key: Key  # older spans than this one come next
    below: tuple[int, int] | None = None  # (trace id, chunk id): rows from these up were read
    pending: tuple[tuple[int, int], ...] = ()  # (1 or 0, rowid) of read rows with older spans

    def text(self) -> str:
        parts = [".".join(map(str, self.key))]
        if self.below is not None:
            parts.append(".".join(map(str, self.below)))
            for table in (1, 0):  # runs of ids: a page's rows mostly come from one batch
                parts.append("_".join(f"{low}-{high}" if high > low else str(low) for low, high in
                                      _runs([rowid for is_trace, rowid in self.pending
                                             if is_trace == table])))
        return "~".join(parts)

    @staticmethod
    def parse(text: str) -> SpanCursor:
        """A cursor from text(); an older cursor (the key alone) is taken too."""
        try:
            parts = text.split("~")
            key = tuple(int(part) for part in parts[0].split("."))
            below = tuple(int(part) for part in parts[1].split(".")) if len(parts) > 1 else None
            pending = tuple((table, rowid) for table, runs in zip((1, 0), parts[2:4])
                            for run in runs.split("_") if run
                            for rowid in _expand(run))
        except ValueError:
            key, below, pending = (), None, ()
        if len(key) != 5 or (below is not None and len(below) != 2) or (
                below is not None and len(parts) != 4) or len(pending) > _MAX_RUN:
            raise ValueError(f"{text!r} is not a cursor of this list")
        return SpanCursor(key, below, pending)


def _runs(ids: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for rowid in sorted(ids):
        if runs and rowid == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], rowid)
        else:
            runs.append((rowid, rowid))
    return runs


def _expand(run: str) -> range:
    low, _, high = run.partition("-")
    first, last = int(low), int(high or low)
    if not 0 < last - first + 1 <= _MAX_RUN:
        raise ValueError(run)
    return range(first, last + 1)


@dataclass
class Walked:
    kept: list[tuple[Key, dict[str, Any]]]  # newest first
    next_cursor: SpanCursor | None
    budget_hit: bool
    scanned: int  # rows decoded


def start_at(conn: sqlite3.Connection, cursor: SpanCursor | None, until_ns: int | None,
             where: list[str], params: list[Any]) -> SpanCursor | None:
    """The cursor a walk starts from: the one given, or, for an older cursor or an upper time
    bound, one found through the index by start and a binary search of the bounds."""
    if cursor is not None and cursor.below is not None:
        return cursor
    if cursor is None and until_ns is None:
        return None
    start = cursor.key[0] if cursor is not None else until_ns
    assert start is not None
    below_trace = _first_with_bound(conn, "traces", start)
    below_chunk = _first_with_bound(conn, "chunks", start)
    # Rows from there up have a bound at or past `start`: those that began before it wait.
    traces = conn.execute(f"SELECT id FROM traces {where_clause([*where, 'start_ns <= ?'])}"
                          " AND id >= ?", [*params, start, below_trace])
    chunks = conn.execute("SELECT id FROM chunks WHERE id >= ? AND min_start_ns <= ?",
                          (below_chunk, start))
    pending = [(1, rowid) for (rowid,) in traces] + [(0, rowid) for (rowid,) in chunks]
    key = cursor.key if cursor is not None else (start, _LOWEST, _LOWEST, _LOWEST, _LOWEST)
    return SpanCursor(key, (below_trace, below_chunk), tuple(pending))


def stored_rows(conn: sqlite3.Connection, chosen: Selection,
                cursor: SpanCursor | None) -> Generator[Row, None, None]:
    """The rows a walk reads: the cursor's pending rows, then the rows below its ids that
    `chosen` keeps, newest bound first (bounds grow with the ids), read as needed."""
    below_trace, below_chunk = cursor.below if cursor and cursor.below else (1 << 62, 1 << 62)
    pending = cursor.pending if cursor else ()
    # Read rows have bounds at or past those of the rows not read yet: they come first.
    yield from sorted(_fetched(conn, pending), key=lambda row: row[0], reverse=True)
    sets = allowed_sets(conn, chosen.set_where, chosen.set_params)
    text = chosen.text if chosen.text is not None and not chosen.text.dense else None
    yield from heapq.merge(rows_below(conn, 1, below_trace, sets, text),
                           rows_below(conn, 0, below_chunk, sets, text),
                           key=lambda row: row[0], reverse=True)


def newest(rows: Iterator[Row], keep: Callable[[dict[str, Any]], bool],
           cursor: SpanCursor | None, since_ns: int | None, until_ns: int | None, limit: int,
           budget: int, deadline: float) -> Walked:
    """The `limit` newest spans of `rows` that `keep` keeps, older than the cursor, within
    the time bounds; stops after `budget` rows that had none, or at `deadline` (monotonic
    clock) once a row had none."""
    kept: list[tuple[Key, dict[str, Any]]] = []  # a heap, oldest on top
    oldest_left: dict[tuple[int, int], Key] = {}  # per row read, its oldest span kept or not
    lowest = {1: 1 << 62, 0: 1 << 62}
    if cursor is not None and cursor.below is not None:
        lowest = {1: cursor.below[0], 0: cursor.below[1]}
    ceiling = cursor.key if cursor is not None else None
    read_before = set(cursor.pending) if cursor is not None else set()
    scanned = fruitless = 0
    budget_hit, exhausted, last_bound = False, True, None
    for bound, is_trace, rowid, events in rows:
        if since_ns is not None and bound < since_ns:  # no span left that is recent enough
            break
        if len(kept) == limit and bound < kept[0][0][0]:
            exhausted = False
            break
        scanned += 1
        found = False
        for position, span in enumerate(decode(events)):
            key = (span_start(span, bound), bound, is_trace, rowid, position)
            if ((ceiling is not None and key >= ceiling)
                    or (since_ns is not None and key[0] < since_ns)
                    or (until_ns is not None and key[0] >= until_ns) or not keep(span)):
                continue
            found = True
            row_ref = (is_trace, rowid)
            if row_ref not in oldest_left or key < oldest_left[row_ref]:
                oldest_left[row_ref] = key
            if len(kept) < limit:
                heapq.heappush(kept, (key, span))
            elif key > kept[0][0]:
                heapq.heapreplace(kept, (key, span))
        if (is_trace, rowid) not in read_before:
            lowest[is_trace] = min(lowest[is_trace], rowid)
        last_bound = bound
        fruitless += not found
        if fruitless >= budget or (not found and time.monotonic() > deadline):
            budget_hit, exhausted = True, False
            break
    if budget_hit and last_bound is not None:  # rows not read may hold spans up to last_bound
        cut: Key = (last_bound + 1, _LOWEST, _LOWEST, _LOWEST, _LOWEST)
        kept = [item for item in kept if item[0] >= cut]
    elif kept:
        cut = min(kept)[0]
    else:
        cut = ceiling or (1 << 63, 0, 0, 0, 0)
    pending = tuple(sorted(ref for ref, key in oldest_left.items() if key < cut))
    done = exhausted and not pending
    following = None if done else SpanCursor(cut, (lowest[1], lowest[0]), pending)
    return Walked(sorted(kept, key=lambda item: item[0], reverse=True), following, budget_hit,
                  scanned)


def _fetched(conn: sqlite3.Connection, refs: Iterable[tuple[int, int]]) -> Iterator[Row]:
    for is_trace, rowid in refs:
        row = conn.execute(f"SELECT start_bound_ns, events FROM {_TABLE[is_trace]}"
                           " WHERE id = ?", (rowid,)).fetchone()
        if row is not None:
            yield row[0], is_trace, rowid, row[1]


def _first_with_bound(conn: sqlite3.Connection, table: str, bound: int) -> int:
    """The lowest id from which every row of `table` has a start bound at or past `bound`
    (bounds grow with the ids); past the last id when none has."""
    (low, high) = conn.execute(f"SELECT coalesce(min(id), 1), coalesce(max(id), 0) + 1"
                               f" FROM {table}").fetchone()
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(f"SELECT id, start_bound_ns FROM {table} WHERE id >= ? ORDER BY id"
                           " LIMIT 1", (middle,)).fetchone()
        if row is None or row[1] >= bound:
            high = middle
        else:
            low = row[0] + 1
    return low
