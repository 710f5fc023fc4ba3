"""What the store holds, summed up: its sessions, the values of the viewer's dropdowns and of
`llmobs apps` (ml_apps, services, sessions, envs, models, with trace counts), the values
nearest to one that matches nothing, and the store's path and size."""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..config import resolve_store_path
from . import summary_reads
from .codec import integer, trace_summary
from .facts import Spans, io_span, model_of, trace_tokens
from .reading import StorePath, reading, stored_spans, trace_filters, wanted_tags, where_clause
from .summary_index import FACET_KEYS
from .traces import FACT_KEYS, FACTS_MARK

RESERVED_KEYS = (*FACT_KEYS, FACTS_MARK.partition(":")[0])
_SESSION_TRACES = 1_000  # traces of one session decoded for its summary


@dataclass
class Sessions:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None  # pass as `before` for the next (older) page
    note: str | None = None  # what the page does not count yet


def list_sessions(path: StorePath, ml_app: str | None = None, before: str | None = None,
                  limit: int = 50) -> Sessions:
    """Sessions, most recently active first: traces, tokens, first input, last output, time
    span; with `ml_app`, the traces with a span of that ml_app. Read off the viewer's summary
    index once built (summary_index.py), else summed from the tag index and the traces."""
    after = _cursor(before)
    summary_reads.update(path)
    with reading(path) as conn:
        if conn is None:
            return Sessions([])
        found = summary_reads.session_rows(conn, path, ml_app, after, limit)
        if found is None:
            rows = _summed_sessions(conn, ml_app, after, limit)
            note = None
        else:
            rows, behind = found
            note = None if not behind else (
                f"{behind:,}{'+' if behind > summary_reads.DELTA_LIMIT else ''} traces stored"
                " in the last moments are not counted yet")
    cursor = f"{rows[-1]['last_start_ns']}:{rows[-1]['session_id']}" \
        if len(rows) == limit else None
    return Sessions(rows, cursor, note)


def _cursor(text: str | None) -> tuple[int, str]:
    """(last start, session) of the last session of the page before: "ns:session"."""
    if text is None:
        return summary_reads.FIRST_PAGE
    number, colon, session = text.partition(":")
    try:
        return int(number), session if colon else ""
    except ValueError:
        raise ValueError(f"{text!r} is not a cursor of the sessions list") from None


def _summed_sessions(conn: sqlite3.Connection, ml_app: str | None, after: tuple[int, str],
                     limit: int) -> list[dict[str, Any]]:
    """list_sessions() without the summary index: the tag index finds each session's traces;
    only the sessions shown are decoded."""
    where, params = trace_filters(wanted_tags(ml_app, None, None, ()))
    # Summed in Python: SQLite joins each session's tag to every trace otherwise.
    session_of_set: dict[int, str] = {}
    sessions = dict(conn.execute("SELECT id, value FROM tags WHERE key = 'session_id'"))
    for set_id, tag_ids in conn.execute("SELECT id, tag_ids FROM tag_sets"):
        for tag_id in json.loads(tag_ids):
            if tag_id in sessions:
                session_of_set[set_id] = sessions[tag_id]
    spans: dict[str, list[Any]] = {}  # session: [traces, first start, last start, sets]
    for set_id, count, first, last in conn.execute(
            "SELECT tag_set_id, count(*), min(start_ns), max(start_ns) FROM traces"
            f" {where_clause(where)} GROUP BY tag_set_id", params):
        session = session_of_set.get(set_id)
        if session is None:
            continue
        seen = spans.setdefault(session, [0, first, last, []])
        seen[0] += count
        seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
        seen[3].append(set_id)
    shown = sorted(((seen[2], session) for session, seen in spans.items()
                    if (seen[2], session) < after), reverse=True)[:limit]
    rows = []
    for last, session in shown:
        count, first, _, set_ids = spans[session]
        in_sets = "tag_set_id IN (SELECT value FROM json_each(?))"
        rowids = [rowid for (rowid,) in conn.execute(
            f"SELECT id FROM traces {where_clause([*where, in_sets])}",
            [*params, json.dumps(set_ids)])]
        rows.append(_session_row(conn, session, count, first, last, rowids))
    return rows


def facets(path: StorePath, recent_traces: int = 500,
           limit: int | None = None) -> dict[str, list[tuple[str, int]]]:
    """Values with trace counts, most traces first (at most `limit` of each): ml_app, service,
    session_id, env and model (model_name). Read off the viewer's summary index when it is
    built (models of every trace); else from the tag index, models also from the
    `recent_traces` newest traces stored without facts (docs/local-store.md, "Facts")."""
    found: dict[str, list[tuple[str, int]]] = {key: [] for key in (*FACET_KEYS, "model")}
    summary_reads.update(path)
    with reading(path) as conn:
        if conn is None:
            return found
        counts = summary_reads.facet_counts(conn, path)
        if counts is None:
            counts = _counted_facets(conn, recent_traces)
    for (key, value), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if key in found and (limit is None or len(found[key]) < limit):
            found[key].append((value, count))
    return found


def _counted_facets(conn: sqlite3.Connection, recent_traces: int) -> Counter[tuple[str, str]]:
    """facets() without the summary index."""
    # Summed in Python: SQLite's plan for the join of sets and tags is quadratic.
    per_set = dict(conn.execute("SELECT tag_set_id, count(*) FROM traces GROUP BY tag_set_id"))
    keys = {"@model": "model", **{key: key for key in FACET_KEYS}}
    named = {tag_id: (keys[key], value) for tag_id, key, value in conn.execute(
        f"SELECT id, key, value FROM tags WHERE key IN ({','.join('?' * len(keys))})",
        list(keys))}
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
        _count_models(conn, unmarked, recent_traces, counts)
    return counts


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


def nearest(value: str, candidates: list[str], count: int = 3) -> list[str]:
    """The stored values most like `value` (a typo, another case), best first."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=count, cutoff=0.5)
    contained = [key for key in lowered if value.lower() in key and key not in close]
    return [lowered[key] for key in [*close, *contained][:count]]


def tag_keys(path: StorePath) -> list[str]:
    """Every stored tag key, less those the store keeps its facts under."""
    with reading(path) as conn:
        if conn is None:
            return []
        return [key for (key,) in conn.execute("SELECT DISTINCT key FROM tags ORDER BY key")
                if key not in RESERVED_KEYS]


def tag_values(path: StorePath, key: str, limit: int = 1000) -> list[str]:
    """Stored values of the tag `key` (at most `limit`)."""
    with reading(path) as conn:
        if conn is None:
            return []
        return [value for (value,) in conn.execute(
            "SELECT value FROM tags WHERE key = ? ORDER BY value LIMIT ?", (key, limit))]


def store_info(path: StorePath) -> dict[str, Any]:
    """The absolute path read, whether it exists, and its trace and span counts."""
    store = resolve_store_path(path)
    info: dict[str, Any] = {"path": str(store), "exists": store.is_file(), "traces": 0,
                            "spans": 0}
    if info["exists"]:
        with reading(path) as conn:
            if conn is not None:
                info["traces"] = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
                info["spans"] = conn.execute(
                    "SELECT value FROM counters WHERE name = 'spans'").fetchone()[0]
    return info


def _session_row(conn: sqlite3.Connection, session: str, count: int, first_ns: int,
                 last_ns: int, rowids: list[int]) -> dict[str, Any]:
    last_start_ns = last_ns
    traces: list[Spans] = []
    for rowid in sorted(rowids)[:_SESSION_TRACES]:
        bound, events = conn.execute("SELECT start_bound_ns, events FROM traces WHERE id = ?",
                                     (rowid,)).fetchone()
        traces.append(stored_spans(conn, rowid, bound, events))
    traces.sort(key=lambda spans: min(start for start, _ in spans))
    ends = [max(start + (integer(span.get("duration")) or 0) for start, span in spans)
            for spans in traces]
    apps = sorted({trace_summary(spans)["ml_app"] or "" for spans in traces} - {""})
    return {"session_id": session, "traces": count, "first_ns": first_ns,
            "last_start_ns": last_start_ns, "last_ns": max(ends, default=last_ns), "ml_apps": apps,
            "tokens": sum(trace_tokens(span for _, span in spans) for spans in traces),
            "first_input": io_span(traces[0], "input") if traces else None,
            "last_output": io_span(traces[-1], "output") if traces else None}
