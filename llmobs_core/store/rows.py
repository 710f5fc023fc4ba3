"""The stored rows an All Spans page reads, newest id first in each table (bounds grow with
the ids), lazily: a page that fills after ten rows reads ten. The tag and fact filters are
checked on each row's tag set; a filter that matches few traces would read the whole table
that way, so after a few windows of rows the index by start finds the rest. With a text
filter, the rows come from the text index (each trace row and chunk is a document there),
with the rows it does not hold yet."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .text_index import Coverage

Row = tuple[int, int, int, Any]  # (bound, 1 for a trace row or 0 for a chunk, rowid, events)
WINDOW = 1_000  # ids read by id, checking each row's tag set, before using the index
WINDOWS = 2
_BATCH = 500  # ids taken from the text index at a time

# table: (select of a row's id, bound and its trace's tag set id, the sign of its ids in the
# text index); the events are read only for the rows kept
_SELECT = {
    1: ("SELECT id, start_bound_ns, tag_set_id FROM traces", 1),
    0: ("SELECT c.id, c.start_bound_ns, t.tag_set_id FROM chunks c"
        " JOIN traces t ON t.id = c.trace_rowid", -1),
}
_ID = {1: "id", 0: "c.id"}
_TABLE = {1: "traces", 0: "chunks"}


@dataclass(frozen=True)
class TextMatch:
    query: str  # text_index.match_query()
    coverage: Coverage
    dense: bool  # in most recent traces: reading them costs less than asking the index


def rows_below(conn: sqlite3.Connection, is_trace: int, below: int, sets: frozenset[int] | None,
               text: TextMatch | None) -> Iterator[Row]:
    """Rows of one table (1: traces, 0: chunks) with ids below `below`, highest first, whose
    trace's tag set is in `sets` (None: any) and that the text index says may hold `text`."""
    if text is not None:
        ids = heapq.merge(_indexed(conn, is_trace, below, text),
                          _not_indexed(conn, is_trace, below, text.coverage), reverse=True)
        yield from _fetched(conn, is_trace, ids, sets)
        return
    select, _ = _SELECT[is_trace]
    column = _ID[is_trace]
    windows = read = kept = 0
    # Rows keep coming by id while the filter keeps one in 10 of them (traces stored before
    # facts pass every fact filter here): the index would list nearly all.
    while sets is None or windows < WINDOWS or kept * 10 >= read:
        rows = conn.execute(f"{select} WHERE {column} < ? AND {column} >= ?"
                            f" ORDER BY {column} DESC", (below, below - WINDOW))
        found = False
        for rowid, bound, set_id in rows:
            found, read = True, read + 1
            if sets is None or set_id in sets:
                kept += 1
                yield bound, is_trace, rowid, _events(conn, is_trace, rowid)
        below, windows = below - WINDOW, windows + 1
        if not found:  # a gap left by pruning, or the end
            (highest,) = conn.execute(f"SELECT max(id) FROM {_TABLE[is_trace]} WHERE id < ?",
                                      (below,)).fetchone()
            if highest is None:
                return
            below = highest + 1
    assert sets is not None
    in_sets = "tag_set_id IN (SELECT value FROM json_each(?))"
    listed = json.dumps(sorted(sets))
    if is_trace:
        found_ids = conn.execute("SELECT id FROM traces INDEXED BY traces_by_start"
                                 f" WHERE {in_sets} AND id < ?", (listed, below))
    else:
        found_ids = conn.execute("SELECT id FROM chunks WHERE id < ? AND trace_rowid IN"
                                 f" (SELECT id FROM traces WHERE {in_sets})", (below, listed))
    yield from _fetched(conn, is_trace, sorted((rowid for (rowid,) in found_ids), reverse=True),
                        None)


def allowed_sets(conn: sqlite3.Connection, where: list[str],
                 params: list[Any]) -> frozenset[int] | None:
    """The tag sets that pass clauses on `tag_set_id` (None when there are none)."""
    if not where:
        return None
    clauses = " AND ".join(f"({clause})" for clause in where)
    return frozenset(set_id for (set_id,) in conn.execute(
        f"SELECT tag_set_id FROM (SELECT id AS tag_set_id FROM tag_sets) WHERE {clauses}",
        params))


def _indexed(conn: sqlite3.Connection, is_trace: int, below: int,
             text: TextMatch) -> Iterator[int]:
    """Ids of the rows whose document holds every trigram, highest first, a batch at a time."""
    sign = _SELECT[is_trace][1]
    while True:
        if sign > 0:
            batch = [rowid for (rowid,) in conn.execute(
                "SELECT rowid FROM text_index.body WHERE body MATCH ? AND rowid > 0"
                " AND rowid < ? ORDER BY rowid DESC LIMIT ?", (text.query, below, _BATCH))]
        else:
            batch = [-rowid for (rowid,) in conn.execute(
                "SELECT rowid FROM text_index.body WHERE body MATCH ? AND rowid < 0"
                " AND rowid > ? ORDER BY rowid LIMIT ?", (text.query, -below, _BATCH))]
        yield from batch
        if len(batch) < _BATCH:
            return
        below = batch[-1]


def _not_indexed(conn: sqlite3.Connection, is_trace: int, below: int,
                 coverage: Coverage) -> Iterator[int]:
    """Ids below `below` that the index does not hold, highest first: two ranges of ids."""
    table, low, high = (("traces", coverage.trace_lo, coverage.trace_hi) if is_trace
                        else ("chunks", coverage.chunk_lo, coverage.chunk_hi))
    for start, end in ((high + 1, below), (-(1 << 62), min(low, below))):
        for (rowid,) in conn.execute(f"SELECT id FROM {table} WHERE id >= ? AND id < ?"
                                     " ORDER BY id DESC", (start, end)):
            yield rowid


def _fetched(conn: sqlite3.Connection, is_trace: int, ids: Any,
             sets: frozenset[int] | None) -> Iterator[Row]:
    select, _ = _SELECT[is_trace]
    for rowid in ids:
        row = conn.execute(f"{select} WHERE {_ID[is_trace]} = ?", (rowid,)).fetchone()
        if row is not None and (sets is None or row[2] in sets):
            yield row[1], is_trace, rowid, _events(conn, is_trace, rowid)


def _events(conn: sqlite3.Connection, is_trace: int, rowid: int) -> Any:
    row = conn.execute(f"SELECT events FROM {_TABLE[is_trace]} WHERE id = ?",
                       (rowid,)).fetchone()
    return row[0] if row is not None else "[]"
