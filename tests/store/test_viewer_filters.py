"""The viewer's filters, alone and combined, in the Traces and All Spans lists: each gives
exactly the rows that the events themselves say match, page after page, on a store written
now (facts in the tag sets) and on one written before facts existed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmobs_core.store import pages, summaries, text_index

from .viewer_store import (
    all_pages,
    expected_spans,
    expected_traces,
    strip_facts,
    varied_events,
    write,
)

F = pages.Filters
NOW = time.time_ns()
FILTERS = {
    "none": F(),
    "tag": F(tags=("team:blue",)),
    "bare tag": F(tags=("team",)),
    "service": F(service="svc-a"),
    "session": F(session="sess-2"),
    "ml_app": F(ml_app="shop"),
    "status error": F(status="error"),
    "status ok": F(status="ok"),
    "kind tool": F(kind="tool"),
    "kind workflow": F(kind="workflow"),
    "model": F(model="claude-3"),
    "model none": F(model="no-such-model"),
    "since": F(since_ns=NOW - 15 * 10**9),
    "range": F(since_ns=NOW - 30 * 10**9, until_ns=NOW - 12 * 10**9),
    "text": F(text="zanzibar"),
    "text short": F(text="br"),
    "combined": F(service="svc-a", kind="llm", model="claude-3", status="ok",
                  since_ns=NOW - 35 * 10**9),
    "combined text": F(session="sess-0", text="paris", tags=("team:red",)),
    "combined error": F(status="error", kind="tool", service="svc-b"),
}


@pytest.fixture(params=["with facts", "written before facts"])
def varied_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[dict]]:
    path = tmp_path / "traces.db"
    events = varied_events(NOW)
    write(path, events, batch=50)
    if request.param == "written before facts":
        strip_facts(path)
    return path, events


@pytest.mark.parametrize("name", FILTERS)
def test_traces_list_gives_exactly_the_matching_traces(varied_store, name: str) -> None:
    """Every filter in the Traces list keeps the traces the events say match, newest first,
    across pages."""
    path, events = varied_store
    found = all_pages(pages.find_traces, path, FILTERS[name], "trace_id")
    assert found == expected_traces(events, FILTERS[name])


@pytest.mark.parametrize("name", FILTERS)
def test_spans_list_gives_exactly_the_matching_spans(varied_store, name: str) -> None:
    """Every filter in the All Spans list keeps the spans the events say match, newest first,
    across pages, with no span twice."""
    path, events = varied_store
    found = all_pages(pages.find_spans, path, FILTERS[name], "span_id")
    assert found == expected_spans(events, FILTERS[name])


@pytest.mark.parametrize("name", ["text", "combined text", "text short"])
def test_text_filters_give_the_same_rows_with_the_text_index(varied_store, name: str) -> None:
    """With the viewer's text index built, text filters give the same rows as without it."""
    path, events = varied_store
    text_index.refresh(path, 10)
    assert all_pages(pages.find_traces, path, FILTERS[name], "trace_id") == \
        expected_traces(events, FILTERS[name])
    assert all_pages(pages.find_spans, path, FILTERS[name], "span_id") == \
        expected_spans(events, FILTERS[name])


def test_facts_are_reserved_tags_and_stay_out_of_the_dropdowns(tmp_path: Path) -> None:
    """Kind, model and error status are stored as @ tags, which `llmobs apps` and the
    suggestions never show, while the dropdown's models come from them."""
    path = tmp_path / "traces.db"
    write(path, varied_events(NOW))
    keys = summaries.tag_keys(path)
    assert not [key for key in keys if key.startswith("@")]
    assert {"ml_app", "service", "team"} <= set(keys)
    models = dict(summaries.facets(path)["model"])
    assert models == {"gpt-4o-mini": 40, "claude-3": 7}  # traces with a span of the model


def test_a_filter_on_a_store_without_facts_says_how_far_it_read(tmp_path: Path) -> None:
    """On a store written before facts, a filter that matches nothing reads the traces and
    the page says how many it searched."""
    path = tmp_path / "traces.db"
    write(path, varied_events(NOW))
    strip_facts(path)
    page = pages.find_traces(path, F(text="qq"))
    assert page.rows == [] and page.next_cursor is None
    assert page.note is not None and "searched 40 stored traces" in page.note
