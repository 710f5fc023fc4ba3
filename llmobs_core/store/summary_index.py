"""The viewer's summary index: each session's traces, tokens and time span, and the values of
the filters' dropdowns (ml_app, service, session, env, model) with their trace counts, in a
file of the user's cache folder beside the free-text index (text_index.py). The writers pay
nothing for it and the store stays read-only for the viewer: `llmobs ui` fills it, oldest row
first, then follows the store's row ids (new traces, and new chunks of stored traces, whose
trace is read again); traces deleted by retention show in the store's span counter, and are
then found by comparing row ids. Reads take a few rows of it (summaries.py). Why it is so, and
its cost: docs/local-store.md, "Sessions and dropdown values".
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .codec import integer
from .facts import model_of, trace_tokens
from .reading import StorePath, reading, stored_spans
from .summary_apply import SCHEMA, Facts, apply, indexed_facts
from .text_index import index_path, same_store

INDEX_VERSION = 1
FOLDER = "summary-index"
FACET_KEYS = ("ml_app", "service", "session_id", "env")
_KEPT = (*FACET_KEYS, "@model", "@facts")  # tag keys read off a trace's tag set
_TRACES_PER_STEP = 200
_WAIT_S = 1.0  # for another process's lock on the index
_UPDATING = threading.Lock()  # one thread of a process updates indexes at a time
_SURROGATE = re.compile("[\ud800-\udfff]")  # SQLite text cannot hold them
TRACE_COLUMNS = "id, trace_id, start_ns, span_count, tag_set_id, start_bound_ns, events"


@dataclass(frozen=True)
class Progress:
    built: bool = False  # every row stored when the index was made has been read once
    trace_hi: int = 0  # trace rows and chunks up to these ids are in it
    chunk_hi: int = 0
    spans: int = 0  # spans of the traces in it, less the store's count at its last check
    spans_offset: int = 0
    more: bool = False  # refresh() stopped at its time limit with rows left to read


def refresh(path: StorePath, seconds: float, wait_s: float = _WAIT_S) -> Progress:
    """Bring the index up to date for about `seconds`, in short transactions. Another thread
    updating it at the moment makes this return at once, with nothing known (`more` set);
    another process, after waiting up to `wait_s`."""
    if not _UPDATING.acquire(blocking=False):
        return Progress(more=True)
    try:
        return _refresh(path, seconds, wait_s)
    finally:
        _UPDATING.release()


def _refresh(path: StorePath, seconds: float, wait_s: float) -> Progress:
    target = index_path(path, FOLDER)
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds
    with reading(path) as store, _index(target, wait_s) as index:
        if store is None:  # a file with no store in it yet: nothing to read
            return Progress(built=True)
        if not _begin(index):  # another process is updating it
            return Progress(more=True)
        try:
            _prepare(index)
            if not same_store(index, store):
                _clear(index)
            while True:
                more = _step(index, store)
                index.execute("COMMIT")
                if not more or time.monotonic() >= deadline or not _begin(index):
                    break
        except BaseException:
            if index.in_transaction:
                index.execute("ROLLBACK")
            raise
        return dataclasses.replace(progress(index), more=more)


def _begin(index: sqlite3.Connection) -> bool:
    """Take the index's write lock; False when another connection holds it."""
    try:
        index.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        return False
    return True


def progress(index: sqlite3.Connection, schema: str = "main") -> Progress:
    values = dict(index.execute(f"SELECT name, value FROM {schema}.state"))
    return Progress(bool(values.get("built")), values.get("trace_hi", 0),
                    values.get("chunk_hi", 0), values.get("spans", 0),
                    values.get("spans_offset", 0))


def attach(conn: sqlite3.Connection, path: StorePath) -> Progress | None:
    """Attach the store's summary index, read-only, to a reading connection as `summary`:
    its progress when it is built for this store, else None."""
    target = index_path(path, FOLDER)
    if not target.is_file():
        return None
    try:
        conn.execute("ATTACH DATABASE ? AS summary", (f"{target.as_uri()}?mode=ro",))
        (version,) = conn.execute("PRAGMA summary.user_version").fetchone()
        if version != INDEX_VERSION:
            return None
        found = progress(conn, "summary")
    except sqlite3.Error:
        return None
    return found if found.built else None


def exists(path: StorePath) -> bool:
    return index_path(path, FOLDER).is_file()


def build_progress(path: StorePath) -> float | None:
    """How far the index's first build is (0 to 1: the share of the trace rows stored when it
    began that it has read), or None when there is no index of this version to read."""
    target = index_path(path, FOLDER)
    if not target.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{target.as_uri()}?mode=ro", uri=True)) as conn:
            if not _current(conn):
                return None
            state = dict(conn.execute("SELECT name, value FROM state"))
    except sqlite3.Error:
        return None
    if state.get("built"):
        return 1.0
    until = state.get("build_until") or 0
    return min(1.0, state.get("trace_hi", 0) / until) if until else 0.0


class SetPairs:
    """The dropdown keys' (key, value) pairs of the store's tag sets ("@model" as "model"),
    and whether each set holds its spans' facts (traces.py); for one read of the store."""

    def __init__(self, store: sqlite3.Connection) -> None:
        self._store = store
        self._found: dict[int, tuple[frozenset[tuple[str, str]], bool]] = {}
        self._tags: dict[int, tuple[str, str] | None] = {}  # id: (key, value) of those kept

    def of(self, set_id: int) -> tuple[frozenset[tuple[str, str]], bool]:
        found = self._found.get(set_id)
        if found is None:
            row = self._store.execute("SELECT tag_ids FROM tag_sets WHERE id = ?",
                                      (set_id,)).fetchone()
            tag_ids = [tag_id for tag_id in json.loads(row[0]) if type(tag_id) is int] \
                if row is not None else []
            self._read_tags([tag_id for tag_id in tag_ids if tag_id not in self._tags])
            kept = [pair for tag_id in tag_ids if (pair := self._tags[tag_id]) is not None]
            pairs = frozenset(("model" if key == "@model" else key, value)
                              for key, value in kept if key != "@facts")
            found = self._found[set_id] = (pairs, any(key == "@facts" for key, _ in kept))
        return found

    def _read_tags(self, tag_ids: list[int]) -> None:
        for tag_id in tag_ids:
            self._tags[tag_id] = None
        for start in range(0, len(tag_ids), 500):
            some = tag_ids[start:start + 500]
            for tag_id, key, value in self._store.execute(
                    f"SELECT id, key, value FROM tags WHERE id IN ({','.join('?' * len(some))})"
                    f" AND key IN ({','.join('?' * len(_KEPT))})", [*some, *_KEPT]):
                self._tags[tag_id] = (key, value)


def trace_facts(store: sqlite3.Connection, sets: SetPairs, row: tuple[Any, ...],
                sums: bool = True) -> Facts:
    """What the index keeps of a stored trace (a row of TRACE_COLUMNS): its spans are read
    only when it has a session (tokens, end; unless not `sums`) or was stored without facts
    (its models)."""
    rowid, _, start_ns, span_count, set_id, bound, events = row
    pairs, marked = sets.of(set_id)
    end_ns, tokens = start_ns, 0
    if not marked or (sums and any(key == "session_id" for key, _ in pairs)):
        try:
            spans = stored_spans(store, rowid, bound, events)
        except (ValueError, AttributeError):  # not JSON, or not objects: counted by its tags
            spans = []
        if not marked:
            pairs = pairs | {("model", _SURROGATE.sub("\ufffd", name))
                             for _, span in spans if (name := model_of(span))}
        end_ns = max([start + (integer(span.get("duration")) or 0) for start, span in spans],
                     default=start_ns)
        tokens = trace_tokens(span for _, span in spans)
    return Facts(tuple(sorted(pairs)), start_ns, end_ns, tokens, span_count)


def _step(index: sqlite3.Connection, store: sqlite3.Connection) -> bool:
    """Read up to _TRACES_PER_STEP new trace rows and chunks, in one read transaction of the
    store; when there are none, look for traces deleted since. False when nothing changed."""
    state = dict(index.execute("SELECT name, value FROM state"))
    trace_hi, chunk_hi = state.get("trace_hi", 0), state.get("chunk_hi", 0)
    store.execute("BEGIN")
    try:
        rows = store.execute(f"SELECT {TRACE_COLUMNS} FROM traces WHERE id > ? ORDER BY id"
                             " LIMIT ?", (trace_hi, _TRACES_PER_STEP)).fetchall()
        chunks = store.execute("SELECT id, trace_rowid FROM chunks WHERE id > ? ORDER BY id"
                               " LIMIT ?", (chunk_hi, _TRACES_PER_STEP)).fetchall()
        updates: dict[str, Any] = {}
        until = state.get("build_until")
        if until is None:  # built once the rows stored now are read, whatever comes after
            (until,) = store.execute("SELECT coalesce(max(id), 0) FROM traces").fetchone()
            updates["build_until"] = until
        if rows:
            trace_hi = rows[-1][0]
            updates.update(trace_hi=trace_hi, trace_anchor=trace_hi,
                           trace_anchor_trace=rows[-1][1])
        if chunks:
            updates.update(chunk_hi=chunks[-1][0], chunk_anchor=chunks[-1][0],
                           chunk_anchor_trace=chunks[-1][1])
        # a chunk of a trace not read yet is read with its trace
        changed = {trace for _, trace in chunks if trace <= trace_hi} - {row[0] for row in rows}
        if not rows and not chunks:
            changed = _diverged(index, store, state, updates)
        rows += stored_rows(store, changed)
        sets = SetPairs(store)
        found: dict[int, Facts | None] = {row[0]: trace_facts(store, sets, row)
                                          for row in rows}
        found.update({rowid: None for rowid in changed if rowid not in found})
        updates["spans"] = state.get("spans", 0) + apply(
            index, indexed_facts(index, list(found)), found)
        if trace_hi >= until or not (rows or chunks or changed):
            updates["built"] = 1
        index.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", updates.items())
    finally:
        store.execute("COMMIT")  # the end of the read
    return bool(rows or chunks or changed)


def stored_rows(store: sqlite3.Connection, rowids: set[int]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    listed = sorted(rowids)
    for start in range(0, len(listed), 500):
        some = listed[start:start + 500]
        found += store.execute(f"SELECT {TRACE_COLUMNS} FROM traces WHERE id IN"
                               f" ({','.join('?' * len(some))})", some).fetchall()
    return found


def _diverged(index: sqlite3.Connection, store: sqlite3.Connection, state: dict[str, Any],
              updates: dict[str, Any]) -> set[int]:
    """Traces the index holds that retention deleted or changed (or any other difference of
    span counts), found when the store's span counter disagrees with the index's."""
    (counter,) = store.execute("SELECT value FROM counters WHERE name = 'spans'").fetchone()
    if counter - state.get("spans", 0) == state.get("spans_offset", 0):
        return set()
    stored = dict(store.execute("SELECT id, span_count FROM traces"))
    indexed = dict(index.execute("SELECT rowid, spans FROM traces"))
    trace_hi = state.get("trace_hi", 0)
    changed = {rowid for rowid, spans in indexed.items() if stored.get(rowid) != spans}
    changed |= {rowid for rowid in stored if rowid <= trace_hi and rowid not in indexed}
    if not changed:  # the counter itself is off: do not look again until it moves
        updates["spans_offset"] = counter - state.get("spans", 0)
    return changed


def _current(index: sqlite3.Connection) -> bool:
    (version,) = index.execute("PRAGMA user_version").fetchone()
    return bool(version == INDEX_VERSION)


def _prepare(index: sqlite3.Connection) -> None:
    """Make the tables (again, when the file was made by another version); in a write
    transaction."""
    if not _current(index):
        for (table,) in index.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                      " AND name NOT LIKE 'sqlite_%'").fetchall():
            index.execute(f'DROP TABLE IF EXISTS "{table}"')
        for statement in SCHEMA:
            index.execute(statement)
        index.execute(f"PRAGMA user_version = {INDEX_VERSION}")


def _clear(index: sqlite3.Connection) -> None:
    for (table,) in index.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                  " AND name NOT LIKE 'sqlite_%'").fetchall():
        index.execute(f'DELETE FROM "{table}"')


@contextlib.contextmanager
def _index(target: Any, wait_s: float) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(target, timeout=wait_s, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        yield conn
    finally:
        conn.close()
