"""All Spans pages by a real cursor: following it gives every span once, newest first, even
for a trace stored late or split across batches, and a later page reads only its own rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmobs_core.store import pages
from llmobs_core.store.walk import SpanCursor

from .helpers import trace_events
from .viewer_store import all_pages, expected_spans, late_root_events, varied_events, write

F = pages.Filters


def test_pages_give_every_span_once_with_a_late_root(tmp_path: Path) -> None:
    """A long trace whose root started an hour ago but arrived last is shown at its place,
    and no span is lost or repeated across pages of every size."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now)
    children, root = late_root_events(now)
    write(path, events[:60] + children, batch=25)
    write(path, events[60:] + root, batch=25)
    everything = events + children + root
    for limit in (1, 4, 7, 50):
        assert all_pages(pages.find_spans, path, F(), "span_id", limit) == \
            expected_spans(everything, F())
    assert all_pages(pages.find_spans, path, F(kind="workflow"), "span_id", 3) == \
        expected_spans(everything, F(kind="workflow"))


def test_a_later_page_reads_only_its_own_rows(tmp_path: Path) -> None:
    """The 20th page decodes about as many stored rows as the first, not the 19 pages
    before it."""
    path = tmp_path / "traces.db"
    start = time.time_ns() - 10**12
    events = [event for i in range(300) for event in trace_events(2, start_ns=start + i * 10**9)]
    write(path, events, batch=20)
    first = pages.find_spans(path, F(), limit=10)
    cursor = first.next_cursor
    for _ in range(18):
        cursor = pages.find_spans(path, F(), before=cursor, limit=10).next_cursor
    twentieth = pages.find_spans(path, F(), before=cursor, limit=10)
    assert len(twentieth.rows) == 10
    assert twentieth.scanned <= first.scanned + 10 < 40


def test_older_cursors_and_time_ranges_start_at_the_right_rows(tmp_path: Path) -> None:
    """A cursor of the key alone (as earlier versions gave) and an upper time bound both
    give the spans older than them, found without reading the newer rows' spans."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now)
    write(path, events, batch=9)
    page = pages.find_spans(path, F(), limit=10)
    legacy = page.next_cursor.split("~")[0]
    assert all_pages(lambda p, f, before, limit: pages.find_spans(
        p, f, before=before or legacy, limit=limit), path, F(), "span_id") == \
        expected_spans(events, F())[10:]
    until = F(until_ns=now - 20 * 10**9)
    assert all_pages(pages.find_spans, path, until, "span_id", 6) == \
        expected_spans(events, until)


@pytest.mark.parametrize("text", ["x", "1.2.3", "1.2.3.4.5~1.2~1-999999999~", "a~b~c~d",
                                  "1.2.3.4.5~1.2~3"])
def test_a_cursor_that_is_not_one_is_refused(text: str) -> None:
    """A hand-made cursor is refused with a ValueError (the viewer answers 400), whatever its
    size says."""
    with pytest.raises(ValueError, match="not a cursor"):
        SpanCursor.parse(text)


def test_cursor_text_round_trips() -> None:
    """A cursor's text names runs of rows and reads back as the same cursor."""
    cursor = SpanCursor((5, 6, 1, 7, 0), (3, 9), ((1, 4), (1, 5), (1, 6), (0, 2), (1, 9)))
    assert SpanCursor.parse(cursor.text()) == SpanCursor(
        cursor.key, cursor.below, ((1, 4), (1, 5), (1, 6), (1, 9), (0, 2)))
    assert "4-6" in cursor.text()
