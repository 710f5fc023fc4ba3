"""Free-text search: a case-insensitive substring of the values in spans' inputs and outputs,
whatever characters it holds (FTS5 query syntax is searched literally, never read as syntax),
through the viewer's text index in the cache folder, which follows the store as it grows,
is pruned, or is made again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmobs_core.store import pages, text_index

from .helpers import trace_events
from .viewer_store import (
    HOSTILE_TEXTS,
    all_pages,
    expected_spans,
    expected_traces,
    late_root_events,
    varied_events,
    write,
)

F = pages.Filters
HOSTILE_QUERIES = [*HOSTILE_TEXTS, 'NEAR(x, y)', '"hi"', "* b -", "(left)", "OR (right)",
                   "AND OR", "col:umn", "^start", "{braces}", "[brackets]", '"', "'", "--",
                   "100%", "_under_", "\\back\\", "NEAR", "a OR b", 'say "hi', "%", "*"]


@pytest.fixture
def hostile_store(tmp_path: Path) -> tuple[Path, list[dict]]:
    path = tmp_path / "traces.db"
    events = varied_events()
    write(path, events)
    return path, events


@pytest.mark.parametrize("indexed", [False, True], ids=["store read", "text index"])
@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_query_syntax_is_searched_literally(hostile_store, query: str, indexed: bool) -> None:
    """Quotes, NEAR, *, -, parentheses, AND/OR/NOT, column filters and LIKE wildcards find
    exactly the spans holding that text, with or without the text index."""
    path, events = hostile_store
    if indexed:
        text_index.refresh(path, 10)
    assert all_pages(pages.find_spans, path, F(text=query), "span_id") == \
        expected_spans(events, F(text=query))
    assert all_pages(pages.find_traces, path, F(text=query), "trace_id") == \
        expected_traces(events, F(text=query))


def test_search_ignores_case_and_finds_substrings_not_keys(hostile_store) -> None:
    """"ZANZIB" finds "Where is Zanzibar?"; a JSON key such as "role" or "content" is not
    searched, only values."""
    path, _ = hostile_store
    text_index.refresh(path, 10)
    [row] = pages.find_spans(path, F(text="ZANZIB")).rows
    assert "Zanzibar" in str(row["event"]["meta"]["input"])
    assert pages.find_spans(path, F(text="content")).rows == []
    assert pages.find_spans(path, F(text='"role"')).rows == []


def test_index_follows_new_rows_chunks_and_a_remade_store(tmp_path: Path) -> None:
    """Traces stored after the index was built, and a trace's spans arriving in a later
    batch, are found once it is refreshed; until then they are read from the store. A store
    deleted and made again gets a fresh index."""
    path = tmp_path / "traces.db"
    now = time.time_ns()
    first = trace_events(2, start_ns=now - 10**10)
    write(path, first)
    assert text_index.refresh(path, 10).missing_traces == 0
    children, root = late_root_events(now)
    children[0]["meta"]["output"] = {"value": "quokka facts"}
    root[0]["meta"]["output"] = {"value": "wombat summary"}
    write(path, children)
    for word in ("quokka", "wombat"):  # the new trace is not in the index yet: read instead
        page = pages.find_traces(path, F(text=word))
        assert [row["trace_id"] for row in page.rows] == ([children[0]["trace_id"]]
                                                         if word == "quokka" else [])
        assert page.note is not None and "not in the text index yet" in page.note
    write(path, root)  # a chunk of a trace stored before
    text_index.refresh(path, 10)
    page = pages.find_traces(path, F(text="wombat"))
    assert [row["trace_id"] for row in page.rows] == [root[0]["trace_id"]]
    assert page.note is None
    [span] = pages.find_spans(path, F(text="WOMBAT")).rows
    assert span["span_id"] == root[0]["span_id"]
    for name in ("traces.db", "traces.db-wal", "traces.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    again = trace_events(1)
    again[0]["meta"]["output"] = {"value": "platypus"}
    write(path, again)
    assert text_index.refresh(path, 10).missing_traces == 0
    assert pages.find_traces(path, F(text="quokka")).rows == []
    assert len(pages.find_traces(path, F(text="platypus")).rows) == 1


def test_short_text_reads_the_store_and_says_so(hostile_store) -> None:
    """A text of fewer than 3 characters cannot use a trigram index: the page reads the
    store and says so."""
    path, events = hostile_store
    text_index.refresh(path, 10)
    page = pages.find_traces(path, F(text="%"), limit=100)
    assert [row["trace_id"] for row in page.rows] == expected_traces(events, F(text="%"))
    assert page.note is not None and "fewer than 3 characters" in page.note


def test_index_lives_in_the_cache_folder_and_the_store_stays_untouched(
        hostile_store, tmp_path: Path) -> None:
    """The index is a file of the user's cache folder; building it does not change the
    store's file."""
    path, _ = hostile_store
    before = path.read_bytes()
    text_index.refresh(path, 10)
    assert path.read_bytes() == before
    assert text_index.index_path(path).is_file()
    assert tmp_path not in text_index.index_path(path).parents
