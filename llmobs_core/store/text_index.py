"""The viewer's free-text index: the text of every span's input and output in an SQLite FTS5
table (trigram tokenizer), kept in a file of the user's cache folder, beside the store and never
in it. The store stays read-only for the viewer and its writers pay nothing for the search; the
viewer fills the index itself, newest rows first, then whatever is stored after. Why it is so,
and its cost: docs/local-store.md, "Free-text search".

A search is a case-insensitive substring match: the index gives the rows holding every
trigram (3 characters) of the text, and the spans' own text decides. Text of fewer than
3 characters, and rows the index does not hold yet, are read from the store instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from .codec import decode
from .facts import io_text
from .location import resolve_store_path
from .reading import StorePath, reading

INDEX_VERSION = 1
MIN_LENGTH = 3  # a trigram index cannot look up less
_MAX_GRAMS = 12  # trigrams of a long text looked up; the spans' text decides anyway
_ROWS_PER_TRANSACTION = 500
_SURROGATE = re.compile("[\ud800-\udfff]")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value) WITHOUT ROWID",
    # rowid: a trace row's id, or minus a chunk's id; contentless: the store has the text
    "CREATE VIRTUAL TABLE IF NOT EXISTS body USING fts5(text, tokenize='trigram',"
    " content='', detail=none)",
    "CREATE TABLE IF NOT EXISTS chunk_traces (chunk_id INTEGER PRIMARY KEY,"
    " trace_rowid INTEGER NOT NULL)",
)
# kind: (table, the column that names a row's trace, the sign of its rowids in the index)
_TABLES = {"trace": ("traces", "trace_id", 1), "chunk": ("chunks", "trace_rowid", -1)}


@dataclass(frozen=True)
class Coverage:
    """The ids each table's rows are indexed between (inclusive; empty when lo > hi)."""

    trace_lo: int = 1
    trace_hi: int = 0
    chunk_lo: int = 1
    chunk_hi: int = 0
    missing_traces: int = 0  # trace rows not indexed yet, when counted by refresh()


def index_path(store: StorePath, folder: str = "text-index") -> Path:
    """The file of the store at `store` in `folder` of the user's cache folder."""
    resolved = str(resolve_store_path(store).resolve())
    name = hashlib.sha256(resolved.encode()).hexdigest()[:24]
    return platformdirs.user_cache_path("llmobs", appauthor=False) / folder / f"{name}.db"


def searchable(text: str | None) -> bool:
    return bool(text) and len(text) >= MIN_LENGTH  # type: ignore[arg-type]


def refresh(path: StorePath, seconds: float) -> Coverage:
    """Index rows the index does not hold yet for about `seconds`: rows stored since the last
    refresh first, then older ones, newest first. Another process indexing the same store
    at the moment makes this return at once."""
    target = index_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds
    with reading(path) as store, _index(target, timeout=0) as index:
        if store is None:
            return Coverage()
        try:
            index.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # another viewer is indexing this store
            return coverage(index, store)
        try:
            if not same_store(index, store):
                _clear(index)
            while time.monotonic() < deadline and _index_some(index, store):
                index.execute("COMMIT")
                index.execute("BEGIN IMMEDIATE")
            index.execute("COMMIT")
        except BaseException:
            index.execute("ROLLBACK")
            raise
        found = coverage(index, store)
    return found


def coverage(index: sqlite3.Connection, store: sqlite3.Connection | None = None,
             schema: str = "main") -> Coverage:
    values = dict(index.execute(f"SELECT name, value FROM {schema}.state"))
    found = Coverage(values.get("trace_lo", 1), values.get("trace_hi", 0),
                     values.get("chunk_lo", 1), values.get("chunk_hi", 0))
    if store is not None:
        (missing,) = store.execute("SELECT count(*) FROM traces WHERE id < ? OR id > ?",
                                   (found.trace_lo, found.trace_hi)).fetchone()
        found = Coverage(found.trace_lo, found.trace_hi, found.chunk_lo, found.chunk_hi, missing)
    return found


def attach(conn: sqlite3.Connection, path: StorePath) -> Coverage | None:
    """Attach the store's index, read-only, to a reading connection as `text_index`; None
    when there is none yet."""
    target = index_path(path)
    if not target.is_file():
        return None
    try:
        conn.execute("ATTACH DATABASE ? AS text_index", (f"{target.as_uri()}?mode=ro",))
        return coverage(conn, schema="text_index")
    except sqlite3.Error:
        return None


def trace_clause(query: str, found: Coverage) -> tuple[str, list[Any]]:
    """A WHERE clause on the store's traces, after attach(): the traces whose indexed text
    matches `query` (match_query()), and those whose rows are not indexed yet."""
    clause = ("+id IN (SELECT rowid FROM text_index.body WHERE body MATCH ? AND rowid > 0)"
              " OR +id IN (SELECT c.trace_rowid FROM text_index.chunk_traces c WHERE c.chunk_id"
              " IN (SELECT -rowid FROM text_index.body WHERE body MATCH ? AND rowid < 0))"
              " OR +id < ? OR +id > ?"
              " OR +id IN (SELECT trace_rowid FROM chunks WHERE id < ? OR id > ?)")
    return clause, [query, query, found.trace_lo, found.trace_hi, found.chunk_lo,
                    found.chunk_hi]


def match_query(text: str) -> str:
    """An FTS5 query for rows holding every trigram of `text`: each trigram a quoted string,
    so no character of the text is ever read as query syntax."""
    folded = _SURROGATE.sub("\ufffd", text.lower())
    grams = list(dict.fromkeys(folded[i:i + 3] for i in range(len(folded) - 2)))
    if len(grams) > _MAX_GRAMS:  # spread over the text
        step = len(grams) / _MAX_GRAMS
        grams = [grams[int(i * step)] for i in range(_MAX_GRAMS)]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def document(events: bytes | str) -> str:
    """The searchable text of a stored row's spans."""
    spans = decode(events)
    text = "\n".join(io_text(span) for span in spans if isinstance(span, dict))
    return _SURROGATE.sub("\ufffd", text)


@contextlib.contextmanager
def _index(target: Path, timeout: float) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(target, timeout=timeout, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version != INDEX_VERSION:
            for table in ("state", "body", "chunk_traces"):
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {INDEX_VERSION}")
        yield conn
    finally:
        conn.close()


def same_store(index: sqlite3.Connection, store: sqlite3.Connection) -> bool:
    """Whether the index was made from this store. Rows are numbered from the highest id up,
    so a store deleted and made again, or a table pruned empty, numbers its rows from 1
    again: the newest indexed row of each table (its anchor) must still be there and name
    the same trace, or be gone with every row before it."""
    values = dict(index.execute("SELECT name, value FROM state"))
    for kind, (table, trace_column, _) in _TABLES.items():
        anchor = values.get(f"{kind}_anchor")
        if anchor is None:
            continue
        row = store.execute(f"SELECT {trace_column} FROM {table} WHERE id = ?",
                            (anchor,)).fetchone()
        if row is not None:
            if row[0] != values.get(f"{kind}_anchor_trace"):
                return False
            continue
        (lowest,) = store.execute(f"SELECT min(id) FROM {table}").fetchone()
        if lowest is not None and lowest <= anchor:
            return False
    return True


def _clear(index: sqlite3.Connection) -> None:
    index.execute("INSERT INTO body (body) VALUES ('delete-all')")
    index.execute("DELETE FROM chunk_traces")
    index.execute("DELETE FROM state")


def _index_some(index: sqlite3.Connection, store: sqlite3.Connection) -> bool:
    """Index up to _ROWS_PER_TRANSACTION rows of one table; False when every row is."""
    state = dict(index.execute("SELECT name, value FROM state"))
    updates: dict[str, Any] = {}
    for kind, (table, trace_column, sign) in _TABLES.items():
        lo, hi = state.get(f"{kind}_lo"), state.get(f"{kind}_hi")
        if lo is None or hi is None:  # start at the newest row, going both ways from there
            (newest,) = store.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
            lo, hi = newest + 1, newest
            updates.update({f"{kind}_lo": lo, f"{kind}_hi": hi})
        select = f"SELECT id, {trace_column}, events FROM {table}"
        rows = store.execute(f"{select} WHERE id > ? ORDER BY id LIMIT ?",
                             (hi, _ROWS_PER_TRANSACTION)).fetchall()
        if rows:
            updates.update({f"{kind}_hi": rows[-1][0], f"{kind}_anchor": rows[-1][0],
                            f"{kind}_anchor_trace": rows[-1][1]})
        else:
            rows = store.execute(f"{select} WHERE id < ? ORDER BY id DESC LIMIT ?",
                                 (lo, _ROWS_PER_TRANSACTION)).fetchall()
            if rows:
                updates[f"{kind}_lo"] = rows[-1][0]
        index.executemany("INSERT INTO body (rowid, text) VALUES (?, ?)",
                          [(sign * rowid, document(events)) for rowid, _, events in rows])
        if sign < 0:
            index.executemany("INSERT OR REPLACE INTO chunk_traces VALUES (?, ?)",
                              [(rowid, trace_rowid) for rowid, trace_rowid, _ in rows])
        if rows:
            break
    index.executemany("INSERT OR REPLACE INTO state VALUES (?, ?)", updates.items())
    return bool(rows)
