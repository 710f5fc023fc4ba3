"""The Sessions page and the dropdowns of a served viewer whose thread keeps its side indexes
(lifespan on, as `llmobs ui` runs): while an application writes the store every page answers
200, once the writer stops the pages show what the events say, and the free-text index is
built after the summary index; before the summary index is built, the pages count the newest
traces only and say so, in a real browser."""

from __future__ import annotations

import html
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from llmobs_core.cli.ui import create_app
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import pages, summary_index
from llmobs_core.store.reading import reading
from tests.store.viewer_store import (
    by_trace,
    expected_facets,
    expected_sessions,
    more_events,
    varied_events,
    write,
)

from .conftest import Watched, serve

ROW = re.compile(r'class="name">([^<]*)</a></td>\s*<td>[^<]*</td><td class="num">(\d+)</td>'
                 r'<td class="num">(\d+)</td>')
OPTION = re.compile(r'<option value="([^"]*)"[^>]*>[^<]*\((\d+)\)</option>')


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our own server
        assert response.status == 200
        return response.read().decode()


def built(path: Path) -> bool:
    with reading(path) as conn:
        return conn is not None and summary_index.attach(conn, path) is not None


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the viewer's index thread did not catch up"
        time.sleep(0.1)


def test_sessions_and_dropdowns_of_a_store_written_while_served(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    now = time.time_ns()
    events = varied_events(now)
    write(path, events)
    server, url = serve(create_app(path), lifespan="on")
    try:
        wait_for(lambda: built(path))
        sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
        try:
            for i in range(15):
                batch = more_events(now + i * 10**10, 4, f"app-{i % 2}")
                sink.send_spans(batch)
                events += batch
                get(url + "/sessions")
                get(url + "/?view=spans")
        finally:
            sink.shutdown()
        sessions = [(row["session_id"], row["traces"], row["tokens"])
                    for row in expected_sessions(events)]

        def shown() -> list[tuple[str, int, int]]:
            page = get(url + "/sessions")
            return [(html.unescape(name), int(traces), int(tokens))
                    for name, traces, tokens in ROW.findall(page)]

        wait_for(lambda: shown() == sessions)
        assert 'id="sessions-note"' not in get(url + "/sessions")
        page = get(url + "/")
        select = page[page.index('id="f-session"'):page.index("</select>", page.index(
            'id="f-session"'))]
        assert dict((value, int(count)) for value, count in OPTION.findall(select)) == \
            expected_facets(events)["session_id"]
        one_app = get(url + "/sessions?ml_app=app-1")
        assert [name for name, *_ in ROW.findall(one_app)] == [
            row["session_id"] for row in expected_sessions(events, "app-1")]
        # then the thread builds the free-text index: a search no longer reads the store
        wait_for(lambda: pages.find_traces(path, pages.Filters(text="zanzibar")).note is None)
        assert len(pages.find_traces(path, pages.Filters(text="zanzibar")).rows) == 1
    finally:
        server.should_exit = True


def test_pages_say_they_count_the_newest_traces_until_the_index_is_built(
        watched: Watched, tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    events = more_events(time.time_ns() - 60 * 10**9, 12, "app-x")
    write(path, events, batch=2)  # one trace a batch
    server, url = serve(create_app(path, recent=(4, 5)))  # no index thread: never built
    page = watched.page
    try:
        page.goto(url + "/sessions")
        note = page.locator("#sessions-note")
        assert note.is_visible()
        assert note.inner_text() == (
            "Sessions and their sums are counted over only the newest 4 of 12 traces for now:"
            " the exact figures over every trace are being built (not started yet) and will"
            " replace them.")
        counts = page.locator("#sessions tbody td.num:nth-child(3)").all_inner_texts()
        assert sum(map(int, counts)) == 4
        page.screenshot(path=str(tmp_path / "sessions-before-index.png"))
        page.goto(url + "/")
        assert "newest 5 of 12 traces" in page.locator("#counts-note").inner_text()
        options = page.locator("#f-session option").all_inner_texts()
        newest_5 = [span for spans in list(by_trace(events).values())[-5:] for span in spans]
        assert options[1:] == [f"{value} ({count})" for value, count in sorted(
            expected_facets(newest_5)["session_id"].items(), key=lambda item: (-item[1], item[0]))]
        while summary_index.refresh(path, 30).more:  # what `llmobs ui`'s thread does
            pass
        page.goto(url + "/sessions")
        assert page.locator("#sessions-note").count() == 0
        shown = page.locator("#sessions tbody td.num:nth-child(3)").all_inner_texts()
        assert list(map(int, shown)) == [row["traces"] for row in expected_sessions(events)]
        page.goto(url + "/")
        assert page.locator("#counts-note").count() == 0
    finally:
        server.should_exit = True
