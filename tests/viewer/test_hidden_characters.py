"""Characters a page would hide, or use to reorder what is read (ESC, other C0 and C1
controls, bidi overrides), show as escapes (`\\x1b`, `\\u202e`), as `llmobs show` prints them:
in the lists, in a trace's panels, in rows that live mode adds, and in the one-file export."""

from __future__ import annotations

import time
from pathlib import Path

from llmobs_core.cli.ui import create_app
from llmobs_core.cli.ui.export import render_trace_html
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries
from tests.store.helpers import new_trace_id, span_event

from .conftest import Watched, serve

NAME = "esc \x1b[31mred\x1b[0m \x9b2J rlo \u202eevil\u202c end"
SHOWN = "esc \\x1b[31mred\\x1b[0m \\x9b2J rlo \\u202eevil\\u202c end"


def record(path: Path, start_ns: int) -> str:
    trace_id = new_trace_id(start_ns)
    event = span_event(trace_id, name=NAME, kind="workflow", start_ns=start_ns,
                       session_id=NAME)
    event["meta"]["input"] = {"value": NAME}
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    sink.send_spans([event])
    sink.shutdown()
    return trace_id


def test_hidden_characters_show_as_escapes(watched: Watched, tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    trace_id = record(path, time.time_ns() - 10**9)
    server, url = serve(create_app(path))
    page = watched.page
    try:
        for address in ("/", "/?view=spans", "/sessions", f"/trace/{trace_id}"):
            page.goto(url + address)
            text = page.inner_text("main")
            assert SHOWN in text, address
            assert not {"\x1b", "\x9b", "\u202e"} & set(text), address
        page.goto(url + "/")
        record(path, time.time_ns())
        live = page.locator("#rows tr.new")
        live.wait_for(timeout=10_000)
        assert SHOWN in live.inner_text()
        exported = tmp_path / "trace.html"
        trace = queries.get_trace(path, trace_id)
        assert trace is not None
        exported.write_text(render_trace_html(trace), encoding="utf-8")
        page.goto(exported.as_uri())
        assert SHOWN in page.inner_text("body")
        assert "\x1b" not in exported.read_text(encoding="utf-8")
    finally:
        server.should_exit = True
