"""The viewer before its summary index is built (a store never opened by `llmobs ui`, or the
first seconds of one): Sessions and the dropdown values read straight (bounded to the newest
traces, as the viewer does), the exact dropdown values of `llmobs apps`, `llmobs apps` itself,
store_info; then `llmobs ui` started on the store (a process of its own, as a user runs it)
and its pages fetched over HTTP again and again while its thread builds the index: each
page's median, 95th percentile and maximum during the build and after. Run by
viewer_queries.py, which gives it its store and its timer."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from llmobs_core.store import pages, summaries, summary_index, summary_recent

PAGES = ("/sessions", "/sessions?ml_app=shop-assistant", "/", "/?view=spans",
         "/?ml_app=shop-assistant&kind=llm")


def forget_summary_index(path: Path) -> None:
    target = summary_index.index_path(path, summary_index.FOLDER)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


def cold_start(path: Path, timed, build_limit_s: float = 600) -> None:  # noqa: ANN001
    """`timed(name, work, runs=None)` prints one figure: the caller's timer, passed in."""
    forget_summary_index(path)
    recent = summary_recent.SESSION_TRACES
    timed(f"Sessions, no summary index (newest {recent:,} traces)",
          lambda: summaries.list_sessions(path))
    cursor = summaries.list_sessions(path).next_cursor
    timed("Sessions page 2, no summary index", lambda: summaries.list_sessions(
        path, before=cursor))
    timed("Sessions of one ml_app, no summary index",
          lambda: summaries.list_sessions(path, "shop-assistant"))
    timed(f"Dropdown values, no summary index (newest {summary_recent.FACET_TRACES:,})",
          lambda: summaries.facets(path, limit=500, window=summary_recent.FACET_TRACES))
    timed("Dropdown values over every trace (llmobs apps), no index",
          lambda: summaries.facets(path), runs=3)
    timed("store_info without the trace count (each viewer page)",
          lambda: summaries.store_info(path, count=False))
    timed("store_info with the trace count (count(*))", lambda: summaries.store_info(path))
    command = [sys.executable, "-m", "llmobs_core.cli", "--path", str(path)]
    timed("llmobs apps (a process: start-up included), no index",
          lambda: subprocess.run([*command, "apps"], check=True, capture_output=True), runs=3)
    _served_while_building(path, command, build_limit_s)


def _served_while_building(path: Path, command: list[str], limit_s: float) -> None:
    forget_summary_index(path)
    trace_id = pages.find_traces(path, pages.Filters(), limit=1).rows[0]["trace_id"]
    urls = (*PAGES, f"/trace/{trace_id}")
    server = subprocess.Popen([*command, "ui", "--no-open", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        found = re.search(r"http://\S+/", line)
        assert found, line
        base = found[0].rstrip("/")
        during: dict[str, list[float]] = {url: [] for url in urls}
        notes = 0
        started = time.perf_counter()
        with httpx.Client(base_url=base, timeout=60) as client:
            while summary_index.build_progress(path) != 1.0:
                assert time.perf_counter() - started < limit_s, "the index was not built"
                for url in urls:
                    notes += _fetch(client, url, during[url])
            built_s = time.perf_counter() - started
            after: dict[str, list[float]] = {url: [] for url in urls}
            for _ in range(5):
                for url in urls:
                    _fetch(client, url, after[url])
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"llmobs ui on this store: summary index built by its indexer in {built_s:.0f} s;"
          f" {sum(map(len, during.values()))} pages fetched meanwhile ({notes} with the note)")
    for url in urls:
        shown = url if not url.startswith("/trace/") else "/trace/<id>"
        print(f"  {shown:<36} during the build: {_spread(during[url])};"
              f" after: {_spread(after[url])}", flush=True)


def _fetch(client: httpx.Client, url: str, times: list[float]) -> int:
    began = time.perf_counter()
    response = client.get(url)
    times.append((time.perf_counter() - began) * 1000)
    assert response.status_code == 200, (url, response.status_code)
    return int('class="note"' in response.text)


def _spread(times: list[float]) -> str:
    if not times:
        return "no fetch"
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    slow = sum(1 for wall in ordered if wall > 200)
    return (f"median {statistics.median(ordered):5.1f} ms, p95 {p95:5.1f}, max"
            f" {ordered[-1]:5.1f}, {slow} of {len(ordered)} over 200 ms")

