"""What the store holds, summed up: its sessions, the values of the viewer's dropdowns and of
`llmobs apps` (ml_apps, services, sessions, envs, models, with trace counts), the values
nearest to one that matches nothing, and the store's path and size."""

from __future__ import annotations

import difflib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..config import resolve_store_path
from .codec import integer, trace_summary
from .facts import Spans, io_span, model_of, trace_tokens
from .reading import StorePath, reading, stored_spans, trace_filters, wanted_tags, where_clause

FACET_KEYS = ("ml_app", "service", "session_id", "env")
_SESSION_TRACES = 1_000  # traces of one session decoded for its summary


@dataclass
class Sessions:
    rows: list[dict[str, Any]]
    next_cursor: int | None = None  # pass as `before_ns` for the next (older) page


def list_sessions(path: StorePath, ml_app: str | None = None, before_ns: int | None = None,
                  limit: int = 50) -> Sessions:
    """Sessions, most recently active first: traces, tokens, first input, last output, time
    span. The tag index finds each session's traces; only the sessions shown are decoded."""
    where, params = trace_filters(wanted_tags(ml_app, None, None, ()))
    having, having_params = ("HAVING max(t.start_ns) < ?", [before_ns]) if before_ns else ("", [])
    sql = ("WITH sess AS (SELECT s.id AS set_id, g.value AS session FROM tag_sets s,"
           " json_each(s.tag_ids) j JOIN tags g ON g.id = j.value WHERE g.key = 'session_id')"
           " SELECT sess.session, count(*), min(t.start_ns), max(t.start_ns),"
           " json_group_array(t.id) FROM traces t JOIN sess ON sess.set_id = t.tag_set_id"
           f" {where_clause(where)} GROUP BY sess.session {having}"
           " ORDER BY max(t.start_ns) DESC LIMIT ?")
    with reading(path) as conn:
        if conn is None:
            return Sessions([])
        found = conn.execute(sql, [*params, *having_params, limit]).fetchall()
        rows = [_session_row(conn, *row) for row in found]
    return Sessions(rows, found[-1][3] if len(found) == limit else None)


def facets(path: StorePath, recent_traces: int = 500) -> dict[str, list[tuple[str, int]]]:
    """Values with trace counts, most traces first: ml_app, service, session_id and env from
    the tag index; model (model_name) from the `recent_traces` newest traces."""
    sql = ("WITH per_set AS (SELECT tag_set_id, count(*) AS n FROM traces GROUP BY tag_set_id)"
           " SELECT g.key, g.value, sum(p.n) FROM per_set p JOIN tag_sets s ON s.id ="
           " p.tag_set_id, json_each(s.tag_ids) j JOIN tags g ON g.id = j.value"
           f" WHERE g.key IN ({','.join('?' * len(FACET_KEYS))})"
           " GROUP BY g.key, g.value ORDER BY g.key, sum(p.n) DESC, g.value")
    found: dict[str, list[tuple[str, int]]] = {key: [] for key in (*FACET_KEYS, "model")}
    with reading(path) as conn:
        if conn is None:
            return found
        for key, value, count in conn.execute(sql, FACET_KEYS):
            found[key].append((value, count))
        models: dict[str, int] = {}
        for rowid, bound, events in conn.execute(
                "SELECT id, start_bound_ns, events FROM traces ORDER BY id DESC LIMIT ?",
                (recent_traces,)):
            names = {model_of(span) for _, span in stored_spans(conn, rowid, bound, events)}
            for name in names:
                if name is not None:
                    models[name] = models.get(name, 0) + 1
    found["model"] = sorted(models.items(), key=lambda item: (-item[1], item[0]))
    return found


def nearest(value: str, candidates: list[str], count: int = 3) -> list[str]:
    """The stored values most like `value` (a typo, another case), best first."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=count, cutoff=0.5)
    contained = [key for key in lowered if value.lower() in key and key not in close]
    return [lowered[key] for key in [*close, *contained][:count]]


def tag_keys(path: StorePath) -> list[str]:
    """Every stored tag key."""
    with reading(path) as conn:
        if conn is None:
            return []
        return [key for (key,) in conn.execute("SELECT DISTINCT key FROM tags ORDER BY key")]


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
                 last_ns: int, rowids_json: str) -> dict[str, Any]:
    traces: list[Spans] = []
    for rowid in sorted(json.loads(rowids_json))[:_SESSION_TRACES]:
        bound, events = conn.execute("SELECT start_bound_ns, events FROM traces WHERE id = ?",
                                     (rowid,)).fetchone()
        traces.append(stored_spans(conn, rowid, bound, events))
    traces.sort(key=lambda spans: min(start for start, _ in spans))
    ends = [max(start + (integer(span.get("duration")) or 0) for start, span in spans)
            for spans in traces]
    apps = sorted({trace_summary(spans)["ml_app"] or "" for spans in traces} - {""})
    return {"session_id": session, "traces": count, "first_ns": first_ns,
            "last_ns": max(ends, default=last_ns), "ml_apps": apps,
            "tokens": sum(trace_tokens(span for _, span in spans) for spans in traces),
            "first_input": io_span(traces[0], "input") if traces else None,
            "last_output": io_span(traces[-1], "output") if traces else None}
