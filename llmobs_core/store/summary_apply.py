"""The summary index's tables (summary_index.py), and how a change of some traces updates them:
the trace counts of each dropdown value and each session's sums, by difference, so that an
update costs what changed, not what is stored."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value) WITHOUT ROWID",
    # a trace's dropdown values, as a sorted JSON array of [key, value]; traces share them
    "CREATE TABLE IF NOT EXISTS pair_sets (id INTEGER PRIMARY KEY, pairs TEXT NOT NULL UNIQUE)",
    # rowid: the store's trace row id
    "CREATE TABLE IF NOT EXISTS traces (rowid INTEGER PRIMARY KEY, pair_set INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, tokens INTEGER NOT NULL,"
    " spans INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS facet_counts (key TEXT NOT NULL, value TEXT NOT NULL,"
    " traces INTEGER NOT NULL, PRIMARY KEY (key, value)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS facets_by_count ON facet_counts (key, traces DESC, value)",
    # app '' holds every trace of the session, another app those with a span of that ml_app
    "CREATE TABLE IF NOT EXISTS session_traces (app TEXT NOT NULL, session TEXT NOT NULL,"
    " start_ns INTEGER NOT NULL, trace INTEGER NOT NULL,"
    " PRIMARY KEY (app, session, start_ns, trace)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sessions (app TEXT NOT NULL, session TEXT NOT NULL,"
    " traces INTEGER NOT NULL, tokens INTEGER NOT NULL, first_ns INTEGER NOT NULL,"
    " last_start_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
    " PRIMARY KEY (app, session)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS sessions_by_last ON sessions (app, last_start_ns, session)",
    "CREATE INDEX IF NOT EXISTS sessions_by_name ON sessions (session, app)",
)
_MIN = -(1 << 63)
_ADD_TO_SESSION = (
    "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4,"
    " (SELECT start_ns FROM session_traces WHERE app = ?1 AND session = ?2"
    "  ORDER BY start_ns LIMIT 1),"
    " (SELECT start_ns FROM session_traces WHERE app = ?1 AND session = ?2"
    "  ORDER BY start_ns DESC LIMIT 1), ?5)"
    " ON CONFLICT (app, session) DO UPDATE SET traces = traces + excluded.traces,"
    " tokens = tokens + excluded.tokens, first_ns = excluded.first_ns,"
    " last_start_ns = excluded.last_start_ns, last_ns = max(last_ns, excluded.last_ns)")
_SUM_SESSION = (
    "SELECT count(*), coalesce(sum(t.tokens), 0), min(k.start_ns), max(k.start_ns),"
    " max(t.end_ns) FROM session_traces k JOIN traces t ON t.rowid = k.trace"
    " WHERE k.app = ? AND k.session = ?")


@dataclass(frozen=True)
class Facts:
    """What the index keeps of a trace."""

    pairs: tuple[tuple[str, str], ...]  # sorted (key, value): ml_app, service, ..., model
    start_ns: int
    end_ns: int  # the latest end of its spans (its start when not read)
    tokens: int
    spans: int

    def keys(self) -> set[tuple[str, str]]:
        """The (app, session) sums it is part of."""
        sessions = [value for key, value in self.pairs if key == "session_id"]
        apps = ["", *(value for key, value in self.pairs if key == "ml_app")]
        return {(app, session) for session in sessions for app in apps}


def indexed_facts(index: sqlite3.Connection, rowids: list[int],
                  schema: str = "main") -> dict[int, Facts]:
    found: dict[int, Facts] = {}
    for start in range(0, len(rowids), 500):
        some = rowids[start:start + 500]
        for rowid, pairs, *numbers in index.execute(
                "SELECT t.rowid, p.pairs, t.start_ns, t.end_ns, t.tokens, t.spans"
                f" FROM {schema}.traces t JOIN {schema}.pair_sets p ON p.id = t.pair_set"
                f" WHERE t.rowid IN ({','.join('?' * len(some))})", some):
            found[rowid] = Facts(tuple(map(tuple, json.loads(pairs))), *numbers)
    return found


def apply(index: sqlite3.Connection, old: dict[int, Facts],
          new: dict[int, Facts | None]) -> int:
    """Replace the index's facts of the traces in `new` (None: deleted) whose old facts are
    `old`; inside a write transaction. Returns the change in spans."""
    facets: Counter[tuple[str, str]] = Counter()
    sums: dict[tuple[str, str], list[int]] = {}  # key: [traces, tokens, latest end, redo]
    left, joined, gone, kept = [], [], [], []
    span_change = 0
    for rowid, after in new.items():
        before = old.get(rowid)
        if before == after:
            continue
        before_keys = before.keys() if before else set()
        after_keys = after.keys() if after else set()
        if before:
            facets.subtract(before.pairs)
            span_change -= before.spans
            left += [(*key, before.start_ns, rowid) for key in before_keys]
        if after:
            facets.update(after.pairs)
            span_change += after.spans
            joined += [(*key, after.start_ns, rowid) for key in after_keys]
            kept.append((rowid, after))
        else:
            gone.append((rowid,))
        for key in before_keys | after_keys:
            change = sums.setdefault(key, [0, 0, _MIN, 0])
            if before and key in before_keys:
                change[0] -= 1
                change[1] -= before.tokens
                if not after or key not in after_keys or after.end_ns < before.end_ns:
                    change[3] = 1  # its latest end may be gone: sum the session again
            if after and key in after_keys:
                change[0] += 1
                change[1] += after.tokens
                change[2] = max(change[2], after.end_ns)
    index.executemany("DELETE FROM session_traces WHERE app = ? AND session = ? AND start_ns = ?"
                      " AND trace = ?", left)
    index.executemany("INSERT OR IGNORE INTO session_traces VALUES (?, ?, ?, ?)", joined)
    index.executemany("DELETE FROM traces WHERE rowid = ?", gone)
    pair_sets = _pair_sets(index, {after.pairs for _, after in kept})
    index.executemany("INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?, ?, ?)", [
        (rowid, pair_sets[after.pairs], after.start_ns, after.end_ns, after.tokens, after.spans)
        for rowid, after in kept])
    changed = [(*pair, count) for pair, count in facets.items() if count]
    index.executemany("INSERT INTO facet_counts VALUES (?, ?, ?) ON CONFLICT (key, value)"
                      " DO UPDATE SET traces = traces + excluded.traces", changed)
    index.executemany("DELETE FROM facet_counts WHERE key = ? AND value = ? AND traces <= 0",
                      [pair for *pair, _ in changed])
    for (app, session), (traces, tokens, end_ns, redo) in sums.items():
        if redo:
            _sum_again(index, app, session)
        elif traces or tokens or end_ns != _MIN:
            index.execute(_ADD_TO_SESSION, (app, session, traces, tokens, end_ns))
    return span_change


def _sum_again(index: sqlite3.Connection, app: str, session: str) -> None:
    """A session's sums from its traces: after one left it, or its latest end went."""
    count, tokens, first, last, end = index.execute(_SUM_SESSION, (app, session)).fetchone()
    if count:
        index.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (app, session, count, tokens, first, last, end))
    else:
        index.execute("DELETE FROM sessions WHERE app = ? AND session = ?", (app, session))


def _pair_sets(index: sqlite3.Connection,
               wanted: set[tuple[tuple[str, str], ...]]) -> dict[tuple[tuple[str, str], ...], int]:
    found = {}
    for pairs in wanted:
        text = json.dumps(pairs, separators=(",", ":"), ensure_ascii=True)
        index.execute("INSERT OR IGNORE INTO pair_sets (pairs) VALUES (?)", (text,))
        (found[pairs],) = index.execute("SELECT id FROM pair_sets WHERE pairs = ?",
                                        (text,)).fetchone()
    return found
