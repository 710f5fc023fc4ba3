"""The viewer's queries on a store of --spans spans (default 1,000,000): the time of each list
page (Traces and All Spans, each filter alone and some combined, first and later pages), of a
trace's detail page (get_trace and the panels built from it), of sessions and of the dropdown
values; each the median of --runs runs. Traces of 5 spans as in bench/local_store.py, written
through LocalStoreSink; one trace in 1,000 fails, calls another model and holds a rare word.
The free-text index is built first (its time and cost per span printed); --no-text-index times
the text filters without it. Sessions and dropdown values are timed without the viewer's
summary index (viewer_cold_start.py: also `llmobs apps`, and the pages of `llmobs ui` served
while it builds the index), then with it (its build time and size printed), then after 1,000
more spans.
Target (issue 16): under 200 ms each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from local_store import make_events  # bench/ is on sys.path when run as a script
from viewer_cold_start import cold_start, forget_summary_index

from llmobs_core.cli.ui import present
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import (
    pages,
    queries,
    summaries,
    summary_index,
    summary_reads,
    text_index,
)
from llmobs_core.store.reading import reading

RARE_EVERY = 1_000  # traces


def build(path: Path, spans: int) -> None:
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    started = time.perf_counter()
    for done in range(0, spans, 100_000):
        events = make_events(min(100_000, spans - done))
        for index in range(0, len(events), 5 * RARE_EVERY):
            _make_rare(events[index:index + 5])
        for start in range(0, len(events), 1_000):
            sink.send_spans(events[start:start + 1_000])
    sink.shutdown()
    print(f"wrote {spans:,} spans in {time.perf_counter() - started:.0f} s")


def _make_rare(trace: list[dict]) -> None:
    for span in trace:
        meta = span["meta"]
        if meta["span"]["kind"] == "llm":
            meta["model_name"] = "claude-rare"
            meta["output"] = {"messages": [{"role": "assistant",
                                            "content": "Try the Zephyrine 9 (119 EUR)."}]}
        if meta["span"]["kind"] == "tool":
            span["status"] = "error"
            meta["error"] = {"type": "TimeoutError", "message": "price service timed out"}


RUNS = 5


def timed(name: str, work: Callable[[], object], runs: int | None = None) -> None:
    """Wall-clock and CPU time (of this process: what the query costs on a machine shared
    with other work), median of the runs, and the wall-clock maximum."""
    walls, cpus = [], []
    for _ in range(runs or RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    rows = len(getattr(result, "rows", None) or [])
    note = getattr(result, "note", None)
    print(f"{name:<52} {statistics.median(walls):7.1f} ms (CPU {statistics.median(cpus):6.1f})"
          f"  max {max(walls):7.1f}  {rows:>2} rows{'  (' + note + ')' if note else ''}",
          flush=True)


def main() -> None:
    global RUNS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="reuse (or make) this store")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-text-index", action="store_true")
    args = parser.parse_args()
    RUNS = args.runs
    path = args.store or Path(tempfile.mkdtemp(prefix="llmobs-viewer-bench-")) / "traces.db"
    if not path.exists():
        build(path, args.spans)
    os.environ.setdefault("XDG_CACHE_HOME", str(path.parent / "cache"))
    info = summaries.store_info(path)
    print(f"store {path}: {info['traces']:,} traces, {info['spans']:,} spans;"
          f" median of {RUNS} runs, wall-clock (and CPU) time, then the wall-clock maximum")
    if not args.no_text_index:
        _build_text_index(path, info["spans"])
    F = pages.Filters
    newest = pages.find_traces(path, F(), limit=50)
    trace_id = newest.rows[-1]["trace_id"]
    session = newest.rows[0]["session_id"]
    now = time.time_ns()
    first_ns = newest.rows[0]["start_ns"]
    traces: list[tuple[str, pages.Filters]] = [
        ("no filter", F()),
        ("tag env:prod", F(tags=("env:prod",))),
        ("tag that matches nothing", F(tags=("env:nowhere",))),
        ("ml_app", F(ml_app="shop-assistant")),
        ("service", F(service="chat-api")),
        ("session", F(session=session)),
        ("status=error (1 trace in 1,000)", F(status="error")),
        ("status=ok", F(status="ok")),
        ("kind=llm (every trace)", F(kind="llm")),
        ("kind=embedding (none)", F(kind="embedding")),
        ("model, 1 trace in 1,000", F(model="claude-rare")),
        ("model matching nothing", F(model="no-such-model")),
        ("last 15 minutes", F(since_ns=now - 900 * 10**9)),
        ("custom range, an old hour", F(since_ns=first_ns - 10**9 * 4000,
                                        until_ns=first_ns - 10**9 * 400)),
        ("text in every trace ('stride 3')", F(text="stride 3")),
        ("text, 1 trace in 1,000 ('zephyrine')", F(text="zephyrine")),
        ("text matching nothing", F(text="no such words anywhere")),
        ("text of 2 characters ('zq', none)", F(text="zq")),
        ("text with FTS syntax ('\"near(x)\" -y*')", F(text='"near(x)" -y*')),
        ("combined: ml_app+service+kind+model+status", F(
            ml_app="shop-assistant", service="chat-api", kind="tool", model="claude-rare",
            status="error")),
        ("combined: session+text+last 7 days", F(session=session, text="stride",
                                                 since_ns=now - 7 * 86_400 * 10**9)),
    ]
    for view, find in (("Traces", pages.find_traces), ("All Spans", pages.find_spans)):
        for name, filters in traces:
            timed(f"{view}, {name}", lambda find=find, filters=filters: find(path, filters))
        for depth in (10, 100):
            cursor = _cursor_after(find, path, depth)
            timed(f"{view}, page {depth + 1}", lambda find=find, cursor=cursor: find(
                path, F(), before=cursor))
        cursor = _cursor_after(find, path, 10, F(model="claude-rare"))
        timed(f"{view}, model 1 in 1,000, page 11", lambda find=find, cursor=cursor: find(
            path, F(model="claude-rare"), before=cursor))
    timed("Traces, live poll after the newest", lambda: pages.traces_after(
        path, F(), pages.last_rowid(path)))
    timed("Trace detail: get_trace + panels", lambda: present.trace_view(
        queries.get_trace(path, trace_id) or {}))
    cold_start(path, timed)  # before the summary index is built, and while llmobs ui builds it
    forget_summary_index(path)
    _build_summary_index(path, info["spans"])
    timed("Sessions, first page", lambda: summaries.list_sessions(path))
    cursor = summaries.list_sessions(path).next_cursor
    timed("Sessions, page 2", lambda: summaries.list_sessions(path, before=cursor))
    timed("Sessions of one ml_app", lambda: summaries.list_sessions(path, "shop-assistant"))
    timed("Dropdown values (facets)", lambda: summaries.facets(path))
    _add_traces(path, 1_000)
    timed("Dropdown values, 1,000 spans stored since the index's update",
          lambda: _delta_facets(path), runs=1)
    timed("Summary index: update after 1,000 new spans",
          lambda: summary_index.refresh(path, 10), runs=1)
    timed("Summary index: update with nothing new", lambda: summary_index.refresh(path, 10))


def _build_summary_index(path: Path, spans: int) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    while summary_index.refresh(path, 10.0).more:
        pass
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = summary_index.index_path(path, summary_index.FOLDER).stat().st_size
    print(f"summary index: built in {wall:.0f} s ({cpu / max(spans, 1) * 1e6:.1f} us of CPU a"
          f" span), {size / max(spans, 1):.0f} bytes a span")


def _add_traces(path: Path, spans: int) -> None:
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    sink.send_spans(make_events(spans))
    sink.shutdown()


def _delta_facets(path: Path) -> object:
    """The counts of the index plus the traces stored since its update, read as facets()
    does before it updates the index itself."""
    with reading(path) as conn:
        assert conn is not None
        counts = summary_reads.facet_counts(conn, path)
        assert counts is not None, "the index could not give exact counts"
        return counts


def _build_text_index(path: Path, spans: int) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    while text_index.refresh(path, 10.0).missing_traces:
        pass
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    size = text_index.index_path(path).stat().st_size
    print(f"text index: built in {wall:.0f} s ({cpu / max(spans, 1) * 1e6:.1f} us of CPU a"
          f" span), {size / max(spans, 1):.0f} bytes a span")


def _cursor_after(find: Callable[..., pages.Page], path: Path, count: int,
                  filters: pages.Filters | None = None) -> str | None:
    cursor = None
    for _ in range(count):
        cursor = find(path, filters or pages.Filters(), before=cursor).next_cursor
    return cursor


if __name__ == "__main__":
    main()
