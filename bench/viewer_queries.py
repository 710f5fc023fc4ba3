"""The viewer's queries on a store of --spans spans (default 1,000,000): the time of each list
page (Traces and All Spans, with each kind of filter), of a trace's detail page (get_trace and
the panels built from it), of sessions and of the dropdown values. Traces of 5 spans as in
bench/local_store.py, written through LocalStoreSink. Target (issue 16): under 200 ms each.
A rare kind, model or text match reads up to pages.SCAN_BUDGET traces: the worst case shown.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from local_store import make_events  # bench/ is on sys.path when run as a script

from llmobs_core.cli.ui import present
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import pages, queries, summaries


def build(path: Path, spans: int) -> None:
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    started = time.perf_counter()
    for done in range(0, spans, 100_000):
        events = make_events(min(100_000, spans - done))
        for start in range(0, len(events), 1_000):
            sink.send_spans(events[start:start + 1_000])
    sink.shutdown()
    print(f"wrote {spans:,} spans in {time.perf_counter() - started:.0f} s")


def timed(name: str, work: Callable[[], object], runs: int = 5) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    print(f"{name:<48} median {statistics.median(times):8.1f} ms   max {max(times):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="reuse (or make) this store")
    args = parser.parse_args()
    path = args.store or Path(tempfile.mkdtemp(prefix="llmobs-viewer-bench-")) / "traces.db"
    if not path.exists():
        build(path, args.spans)
    info = summaries.store_info(path)
    print(f"store {path}: {info['traces']:,} traces, {info['spans']:,} spans")
    F = pages.Filters
    newest = pages.find_traces(path, F(), limit=50)
    trace_id = newest.rows[-1]["trace_id"]
    session = newest.rows[0]["session_id"]
    timed("Traces, first page", lambda: pages.find_traces(path, F()))
    timed("Traces, page after 10 pages", lambda: pages.find_traces(
        path, F(), before=_cursor_after(path, 10)))
    timed("Traces, ml_app filter", lambda: pages.find_traces(path, F(ml_app="shop-assistant")))
    timed("Traces, session filter", lambda: pages.find_traces(path, F(session=session)))
    timed("Traces, status=error (none stored)", lambda: pages.find_traces(path, F(status="error")))
    timed("Traces, kind=llm (every trace)", lambda: pages.find_traces(path, F(kind="llm")))
    timed("Traces, model matching nothing (worst case)", lambda: pages.find_traces(
        path, F(model="no-such-model")), runs=1)
    timed("Traces, text matching nothing (worst case)", lambda: pages.find_traces(
        path, F(text="no such words anywhere")), runs=1)
    timed("Traces, live poll after the newest", lambda: pages.traces_after(
        path, F(), pages.last_rowid(path)))
    timed("All Spans, first page", lambda: pages.find_spans(path, F()))
    timed("All Spans, kind=tool", lambda: pages.find_spans(path, F(kind="tool")))
    timed("Trace detail: get_trace + panels", lambda: present.trace_view(
        queries.get_trace(path, trace_id) or {}))
    timed("Sessions, first page", lambda: summaries.list_sessions(path))
    timed("Dropdown values (facets)", lambda: summaries.facets(path), runs=3)


def _cursor_after(path: Path, count: int) -> str | None:
    cursor = None
    for _ in range(count):
        cursor = pages.find_traces(path, pages.Filters(), before=cursor).next_cursor
    return cursor


if __name__ == "__main__":
    main()
