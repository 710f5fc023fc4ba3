"""Sessions and dropdown values before the viewer's summary index is built: summed over the
store's newest traces only (so a page costs the same on a store of any size), equal to what
the events of those traces say, with a note giving how many traces were counted and how far
the index's build is; exact over every trace, with no note, once the index is built or when
the store holds no more traces than are read."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from llmobs_core.store import summaries, summary_index

from .helpers import trace_events
from .viewer_store import by_trace, expected_facets, expected_sessions, write

FIELDS = ("session_id", "traces", "tokens", "first_ns", "last_start_ns", "last_ns")


def sessions_events(count: int, spans: int = 2) -> list[dict[str, Any]]:
    """`count` traces one second apart, oldest first, in 4 sessions of 2 ml_apps."""
    now = time.time_ns() - count * 10**9
    events: list[dict[str, Any]] = []
    for i in range(count):
        events += trace_events(spans, start_ns=now + i * 10**9, ml_app=f"app-{i % 2}",
                               session_id=f"sess-{i % 4}")
    return events


def newest(events: list[dict[str, Any]], traces: int) -> list[dict[str, Any]]:
    kept = list(by_trace(events).values())[-traces:]
    return [span for spans in kept for span in spans]


def shown(path: Path, window: int, ml_app: str | None = None) -> tuple[list[dict], set[str]]:
    """Every page of Sessions (2 a page), and the notes the pages gave."""
    rows, notes, cursor = [], set(), None
    while True:
        page = summaries.list_sessions(path, ml_app, cursor, limit=2, window=window)
        rows += [{key: row[key] for key in FIELDS}
                 | {"first_input": row["first_input"]["span_id"],
                    "last_output": row["last_output"]["span_id"]} for row in page.rows]
        notes |= {page.note} if page.note else set()
        if page.next_cursor is None:
            return rows, notes
        cursor = page.next_cursor


def expected(events: list[dict[str, Any]], ml_app: str | None = None) -> list[dict]:
    return [{key: row[key] for key in (*FIELDS, "first_input", "last_output")}
            for row in expected_sessions(events, ml_app)]


def test_without_the_index_sessions_and_dropdowns_count_the_newest_traces(
        tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    events = sessions_events(30)
    write(path, events, batch=2)  # one trace a batch: row ids in the order of the events
    last_7 = newest(events, 7)
    rows, notes = shown(path, window=7)
    assert rows == expected(last_7)
    assert notes == {"Sessions and their sums are counted over only the newest 7 of 30 traces"
                     " for now: the exact figures over every trace are being built (not"
                     " started yet) and will replace them."}
    rows, _ = shown(path, window=7, ml_app="app-1")
    assert rows == expected(last_7, "app-1")
    found = summaries.facets(path, window=7)
    assert {key: dict(values) for key, values in found.items()} == expected_facets(last_7)
    assert found.note is not None and "newest 7 of 30 traces" in found.note
    # a store no larger than what is read: exact, nothing to say
    assert shown(path, window=30) == (expected(events), set())
    exact = summaries.facets(path, window=30)
    assert {key: dict(values) for key, values in exact.items()} == expected_facets(events)
    assert exact.note is None
    # without a bound (llmobs apps): every trace
    assert {key: dict(values) for key, values in summaries.facets(path).items()} == \
        expected_facets(events)


def test_the_note_says_how_far_the_build_is_then_the_figures_are_exact(
        tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    events = sessions_events(450, spans=1)
    write(path, events, batch=150)
    assert summary_index.build_progress(path) is None
    progress = summary_index.refresh(path, 0)  # one step: 200 of the 450 traces
    assert not progress.built
    assert summary_index.build_progress(path) == 200 / 450
    page = summaries.list_sessions(path, window=10)
    assert page.note is not None and "(44% done)" in page.note
    assert "newest 10 of 450 traces" in page.note
    assert sum(row["traces"] for row in page.rows) == 10
    facets = summaries.facets(path, window=10)
    assert facets.note is not None and re.search(r"\(44% done\)", facets.note)
    while summary_index.refresh(path, 30).more:
        pass
    assert summary_index.build_progress(path) == 1.0
    rows, notes = shown(path, window=10)
    assert (rows, notes) == (expected(events), set())
    built = summaries.facets(path, window=10)
    assert {key: dict(values) for key, values in built.items()} == expected_facets(events)
    assert built.note is None


def test_a_built_index_far_behind_the_store_says_it_is_catching_up(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    write(path, sessions_events(10, spans=1))
    while summary_index.refresh(path, 30).more:
        pass
    write(path, sessions_events(2_001, spans=1), batch=1_000)  # more than the index adds
    found = summaries.facets(path, window=10, update=False)
    assert found.note == ("The dropdowns' values and counts are counted over only the newest"
                          " 10 of 2,011 traces for now: the exact figures are catching up"
                          " with the latest writes.")
    while summary_index.refresh(path, 30).more:
        pass
    assert summaries.facets(path, window=10, update=False).note is None
