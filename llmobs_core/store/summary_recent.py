"""Sessions and dropdown values without the viewer's summary index (summary_index.py): summed
from the store's newest traces only, so that a page answers in a bounded time on a store of any
size while the index is built. Exact when the store holds no more traces than are read; else
the result says so (`Recent.note`: how many traces were counted, how far the index's build
is). With no bound (`llmobs apps`), the dropdown values are summed over every trace."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import summary_index
from .codec import integer
from .facts import io_span, model_of, trace_tokens
from .reading import StorePath, stored_spans
from .summary_index import FACET_KEYS

SESSION_TRACES = 500  # newest traces read for Sessions without the index (~0.1 ms each decoded)
FACET_TRACES = 10_000  # newest traces counted for the dropdown values without the index


@dataclass
class Recent:
    counted: int  # traces read
    stored: int  # traces in the store (counted only when more than `counted`)
    note: str | None = None


def sessions(conn: sqlite3.Connection, path: StorePath, ml_app: str | None,
             after: tuple[int, str], limit: int,
             window: int = SESSION_TRACES) -> tuple[list[dict[str, Any]], str | None]:
    """A page of sessions summed over the store's `window` newest traces (those with a span of
    `ml_app` when given), most recently active first, and the note saying so when the store
    holds more."""
    tags = _tags(conn, ("session_id", "ml_app"))
    session_of: dict[int, str] = {}
    apps_of: dict[int, set[str]] = {}
    for set_id, tag_ids in conn.execute("SELECT id, tag_ids FROM tag_sets"):
        for tag_id in json.loads(tag_ids):
            key, value = tags.get(tag_id, ("", ""))
            if key == "session_id":
                session_of[set_id] = value
            elif key == "ml_app":
                apps_of.setdefault(set_id, set()).add(value)
    newest = conn.execute("SELECT id, tag_set_id, start_ns FROM traces ORDER BY id DESC"
                          " LIMIT ?", (window + 1,)).fetchall()
    seen: dict[str, list[Any]] = {}  # session: [first start, last start, rowids, ml_apps]
    for rowid, set_id, start in newest[:window]:
        session = session_of.get(set_id)
        if session is None or (ml_app is not None and ml_app not in apps_of.get(set_id, ())):
            continue
        found = seen.setdefault(session, [start, start, [], set()])
        found[0], found[1] = min(found[0], start), max(found[1], start)
        found[2].append(rowid)
        found[3] |= apps_of.get(set_id, set())
    shown = sorted(((found[1], session) for session, found in seen.items()
                    if (found[1], session) < after), reverse=True)[:limit]
    rows = [_session_row(conn, session, *seen[session]) for _, session in shown]
    return rows, _note(conn, path, len(newest), window, "Sessions and their sums")


def facet_counts(conn: sqlite3.Connection, path: StorePath, recent_models: int,
                 window: int | None) -> tuple[Counter[tuple[str, str]], str | None]:
    """Trace counts of each dropdown (key, value) over the store's `window` newest traces
    (every trace when None), and the note saying so when the store holds more; models also
    from the `recent_models` newest traces stored without facts (docs/local-store.md)."""
    if window is None:
        # Summed in Python: SQLite's plan for the join of sets and tags is quadratic.
        per_set = dict(conn.execute("SELECT tag_set_id, count(*) FROM traces"
                                    " GROUP BY tag_set_id"))
        read = 0
    else:
        newest = [set_id for (set_id,) in conn.execute(
            "SELECT tag_set_id FROM traces ORDER BY id DESC LIMIT ?", (window + 1,))]
        per_set, read = Counter(newest[:window]), len(newest)
    keys = {"@model": "model", **{key: key for key in FACET_KEYS}}
    named = {tag_id: (keys[key], value) for tag_id, (key, value) in _tags(conn, keys).items()}
    counts: Counter[tuple[str, str]] = Counter()
    unmarked = []
    (mark,) = conn.execute("SELECT coalesce(max(id), -1) FROM tags WHERE key = '@facts'"
                           ).fetchone()
    for set_id, tag_ids in conn.execute("SELECT id, tag_ids FROM tag_sets"):
        count = per_set.get(set_id)
        if not count:
            continue
        members = json.loads(tag_ids)
        if mark not in members:
            unmarked.append(set_id)
        for tag_id in members:
            if tag_id in named:
                counts[named[tag_id]] += count
    if unmarked:
        _count_models(conn, unmarked, recent_models, counts)
    what = "The dropdowns' values and counts"
    note = None if window is None else _note(conn, path, read, window, what)
    return counts, note


def _tags(conn: sqlite3.Connection, keys: Any) -> dict[int, tuple[str, str]]:
    keys = list(keys)
    return {tag_id: (key, value) for tag_id, key, value in conn.execute(
        f"SELECT id, key, value FROM tags WHERE key IN ({','.join('?' * len(keys))})", keys)}


def _note(conn: sqlite3.Connection, path: StorePath, read: int, window: int,
          what: str) -> str | None:
    """None when every trace was read; else what was counted and how far the index is."""
    if read <= window:
        return None
    (stored,) = conn.execute("SELECT count(*) FROM traces").fetchone()
    done = summary_index.build_progress(path)
    counted = f"{what} are counted over only the newest {window:,} of {stored:,} traces for now"
    if done == 1.0:  # built, but too far behind the store, or traces deleted since its update
        return f"{counted}: the exact figures are catching up with the latest writes."
    where = "not started yet" if done is None else f"{done:.0%} done"
    return (f"{counted}: the exact figures over every trace are being built ({where}) and will"
            " replace them.")


def _count_models(conn: sqlite3.Connection, set_ids: list[int], recent_traces: int,
                  counts: Counter[tuple[str, str]]) -> None:
    """Models of the newest traces stored without facts, read off their spans."""
    marks = ",".join("?" * len(set_ids))
    for rowid, bound, events in conn.execute(
            f"SELECT id, start_bound_ns, events FROM traces WHERE tag_set_id IN ({marks})"
            " ORDER BY id DESC LIMIT ?", [*set_ids, recent_traces]):
        names = {model_of(span) for _, span in stored_spans(conn, rowid, bound, events)}
        for name in names - {None}:
            counts["model", name] += 1  # type: ignore[index]


def _session_row(conn: sqlite3.Connection, session: str, first_ns: int, last_start_ns: int,
                 rowids: list[int], apps: set[str]) -> dict[str, Any]:
    traces = []
    for rowid in sorted(rowids):
        bound, events = conn.execute("SELECT start_bound_ns, events FROM traces WHERE id = ?",
                                     (rowid,)).fetchone()
        traces.append(stored_spans(conn, rowid, bound, events))
    traces.sort(key=lambda spans: min(start for start, _ in spans))
    ends = [max(start + (integer(span.get("duration")) or 0) for start, span in spans)
            for spans in traces]
    return {"session_id": session, "traces": len(traces), "first_ns": first_ns,
            "last_start_ns": last_start_ns, "last_ns": max(ends, default=last_start_ns),
            "ml_apps": sorted(apps - {""}),
            "tokens": sum(trace_tokens(span for _, span in spans) for spans in traces),
            "first_input": io_span(traces[0], "input") if traces else None,
            "last_output": io_span(traces[-1], "output") if traces else None}
