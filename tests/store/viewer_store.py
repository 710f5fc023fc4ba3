"""A small store with one of each thing the viewer filters on, the answers those filters, the
Sessions view and the dropdowns must give (worked out from the events themselves), and a way
to make it look like a store written before the sink put facts in the tag sets."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import pages
from llmobs_core.store.codec import kind_of, session_of, tag_value
from llmobs_core.store.facts import io_span, io_text, model_of, trace_tokens

from .helpers import span_event, trace_events

FACETS = ("ml_app", "service", "session_id", "env")
HOSTILE_TEXTS = ['say "hi" NEAR(x, y) now', "a * b - c", "(left) OR (right)", "NOT AND OR",
                 '"unclosed', "col:umn ^start {braces} [brackets]", "semi;colon' --",
                 "100% _under_ \\back\\slash"]


def varied_events(now_ns: int | None = None) -> list[dict[str, Any]]:
    """Traces one second apart, newest last: plain ones, errors, other kinds and models,
    sessions and services, hostile text, and a trace whose root arrives in a later batch."""
    now_ns = now_ns or time.time_ns()
    events: list[dict[str, Any]] = []
    for i in range(40):
        start = now_ns - (40 - i) * 10**9
        trace = trace_events(3, start_ns=start, session_id=f"sess-{i % 4}",
                             service="svc-a" if i % 2 else "svc-b",
                             tags=(f"team:{'red' if i % 3 else 'blue'}",))
        if i % 7 == 3:
            trace[1]["status"] = "error"  # and tagged error:1, as the SDK does
            trace[1]["tags"] = [tag if tag != "error:0" else "error:1" for tag in trace[1]["tags"]]
            trace[1]["meta"]["error"] = {"type": "ValueError", "message": "boom"}
        if i % 5 == 1:
            trace[2]["meta"]["model_name"] = "claude-3"
        if i % 6 == 2:
            trace[2]["meta"]["span"]["kind"] = "tool"
            trace[2]["meta"].pop("model_name", None)
        if i < len(HOSTILE_TEXTS):
            trace[1]["meta"]["output"] = {"value": HOSTILE_TEXTS[i]}
        if i == 20:
            trace[2]["meta"]["input"] = {"messages": [{"role": "user",
                                                       "content": "Where is Zanzibar?"}]}
        events.extend(trace)
    return events


def write(path: Path, events: list[dict[str, Any]], batch: int = 1000) -> None:
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    for start in range(0, len(events), batch):
        assert sink.send_spans(events[start:start + batch]) is None
    sink.shutdown()


def late_root_events(now_ns: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A long trace: its children first, then, in a later batch, its root, which started
    long before everything else."""
    root = span_event("feed" + "0" * 28, name="long-run", kind="workflow",
                      start_ns=now_ns - 3600 * 10**9, duration=3600 * 10**9)
    children = [span_event(root["trace_id"], parent_id=root["span_id"], kind="llm",
                           start_ns=now_ns - (60 - i) * 10**9) for i in range(3)]
    return children, [root]


def strip_facts(path: Path) -> None:
    """Make the store look written before facts: no @ tags in any tag set (sets that become
    the same are merged, as the old sink would have made one)."""
    with sqlite3.connect(path) as conn:
        facts = {tag_id for (tag_id,) in conn.execute("SELECT id FROM tags WHERE key LIKE '@%'")}
        first: dict[str, int] = {}
        for set_id, tag_ids in conn.execute("SELECT id, tag_ids FROM tag_sets").fetchall():
            kept = json.dumps(sorted(set(json.loads(tag_ids)) - facts), separators=(",", ":"))
            conn.execute("DELETE FROM tag_sets WHERE id = ?", (set_id,))
            if kept in first:
                conn.execute("UPDATE traces SET tag_set_id = ? WHERE tag_set_id = ?",
                             (first[kept], set_id))
            else:
                first[kept] = set_id
                conn.execute("INSERT INTO tag_sets (id, tag_ids) VALUES (?, ?)", (set_id, kept))
        conn.execute("DELETE FROM tags WHERE key LIKE '@%'")


def span_passes(span: dict[str, Any], filters: pages.Filters) -> bool:
    """What a filter means for one span, read off the event alone."""
    tags = span.get("tags") or []
    checks = [
        filters.ml_app is None or tag_value(tags, "ml_app") == filters.ml_app,
        filters.service is None or tag_value(tags, "service") == filters.service,
        filters.session is None or session_of(span) == filters.session,
        all(tag in tags if ":" in tag else any(t.startswith(tag + ":") for t in tags)
            for tag in filters.tags),
        filters.kind is None or kind_of(span) == filters.kind,
        filters.model is None or model_of(span) == filters.model,
        filters.status is None or (span["status"] == "error") == (filters.status == "error"),
        filters.text is None or filters.text.lower() in io_text(span).lower(),
        filters.since_ns is None or span["start_ns"] >= filters.since_ns,
        filters.until_ns is None or span["start_ns"] < filters.until_ns,
    ]
    return all(checks)


def expected_spans(events: list[dict[str, Any]], filters: pages.Filters) -> list[str]:
    """Span ids passing the filters, newest first."""
    return [span["span_id"] for span in sorted(events, key=lambda e: e["start_ns"], reverse=True)
            if span_passes(span, filters)]


def expected_traces(events: list[dict[str, Any]], filters: pages.Filters) -> list[str]:
    """Trace ids passing the filters as a trace does, newest first: tags, kind, model and text
    on any span, status the trace's own, time on the trace's start."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in events:
        by_trace.setdefault(span["trace_id"], []).append(span)
    found = []
    for trace_id, spans in by_trace.items():
        start = min(span["start_ns"] for span in spans)
        error = any(span["status"] == "error" for span in spans)
        span_level = pages.Filters(ml_app=filters.ml_app, service=filters.service,
                                   session=filters.session, tags=filters.tags)
        if not all(any(span_passes(span, one) for span in spans) for one in (
                span_level, pages.Filters(kind=filters.kind), pages.Filters(model=filters.model),
                pages.Filters(text=filters.text))):
            continue
        if filters.status and error != (filters.status == "error"):
            continue
        if (filters.since_ns is not None and start < filters.since_ns) or (
                filters.until_ns is not None and start >= filters.until_ns):
            continue
        found.append((start, trace_id))
    return [trace_id for _, trace_id in sorted(found, reverse=True)]


def all_pages(find: Any, path: Path, filters: pages.Filters, key: str,
              limit: int = 7) -> list[str]:
    """Every row's `key`, following the cursor page after page."""
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        page = find(path, filters, before=cursor, limit=limit)
        seen += [row[key] for row in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


def more_events(now_ns: int, count: int = 6, ml_app: str = "other") -> list[dict[str, Any]]:
    """Traces of another ml_app in a session of their own and in sess-1."""
    events = []
    for i in range(count):
        events += trace_events(2, start_ns=now_ns + i * 10**9, ml_app=ml_app,
                               session_id=f"sess-{ml_app}" if i % 2 else "sess-1")
    return events


def by_trace(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    traces: dict[str, list[dict[str, Any]]] = {}
    for span in events:
        traces.setdefault(span["trace_id"], []).append(span)
    return traces


def expected_facets(events: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Traces with a span of each value."""
    counts: dict[str, Counter[str]] = {key: Counter() for key in (*FACETS, "model")}
    for spans in by_trace(events).values():
        values = {(key, value) for span in spans for key, _, value in
                  (tag.partition(":") for tag in span["tags"]) if key in FACETS}
        values |= {("session_id", span["session_id"]) for span in spans
                   if span.get("session_id")}
        values |= {("model", model) for span in spans if (model := model_of(span))}
        for key, value in values:
            counts[key][value] += 1
    return {key: dict(found) for key, found in counts.items()}


def expected_sessions(events: list[dict[str, Any]],
                      ml_app: str | None = None) -> list[dict[str, Any]]:
    """Each session's sums, most recently started trace first."""
    sums: dict[str, dict[str, Any]] = {}
    for spans in by_trace(events).values():
        apps = {tag_value(span["tags"], "ml_app") for span in spans}
        if ml_app is not None and ml_app not in apps:
            continue
        start = min(span["start_ns"] for span in spans)
        paired = [(span["start_ns"], span) for span in spans]
        for session in {session_of(span) for span in spans} - {None}:
            found = sums.setdefault(session, {
                "session_id": session, "traces": 0, "tokens": 0, "first_ns": start,
                "last_start_ns": start, "last_ns": 0, "first": paired, "last": paired})
            found["traces"] += 1
            found["tokens"] += trace_tokens(spans)
            found["last_ns"] = max(found["last_ns"],
                                   max(span["start_ns"] + span["duration"] for span in spans))
            if start < found["first_ns"]:
                found["first_ns"], found["first"] = start, paired
            if start > found["last_start_ns"]:
                found["last_start_ns"], found["last"] = start, paired
    for found in sums.values():
        found["first_input"] = io_span(found.pop("first"), "input")["span_id"]
        found["last_output"] = io_span(found.pop("last"), "output")["span_id"]
    return sorted(sums.values(), key=lambda found: (found["last_start_ns"], found["session_id"]),
                  reverse=True)
