"""Where a unit's export instructions go, stage by stage, on the writer thread's side: each
stage of export_cost.py's unit (a workflow span with an annotated llm child) run alone, in
this thread, over records made beforehand, and counted by valgrind's cachegrind as
(count(3n) - count(n)) / 2n, so start-up and imports drop out.

Stages: records (the application's spans, handed through the writer to a sink that keeps
them), build (records + the span events, as the local store builds them when a span processor
is set or a reader settles), datadog (records + the Datadog sink's JSON bodies, no HTTP), group
(build + the local store's grouping and encoding of events), store (group + the SQLite
transactions: how the sink stores built events, with a span processor or in a store before the
inbox), inbox (records + what the local store's sink does now: the records packed and one inbox
row a batch, in SQLite), settle (inbox + a reader settling those rows into traces), otlp-map
(records + OTLP attributes), otlp (otlp-map + protobuf, no HTTP). The Datadog and OTLP sinks
read the writer's records without building events: subtract `records` from theirs and from
`inbox`, `build` from group's and store's, `inbox` from settle's; records moves by a few
thousand from run to run with the writer thread's timing.

HTTP, the store's checkpoints and its retention stay out. --shape request counts
asgi_middleware.py's request span instead of the unit.

    python bench/export_stages.py [--stage NAME] [--units 1000] [--shape unit|request]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

STAGES = ("records", "build", "datadog", "group", "store", "inbox", "settle", "otlp-map", "otlp")


def request() -> None:
    """The span of bench/asgi_middleware.py's traced request: one workflow span, its trace's
    only span, with the middleware's tags."""
    from llmobs_core import LLMObs

    with LLMObs.workflow(name="GET /") as span:
        span.tags = {"http.method": "GET", "http.route": "/", "http.status_code": "200"}


def records(units: int, shape: str = "unit") -> list[Any]:
    """The span records of `units` units, as the writer hands them to its sinks."""
    from export_cost import unit

    from llmobs_core import LLMObs

    kept: list[Any] = []

    class Keep:
        def send_spans(self, events: Any) -> None:
            kept.extend(events._records)

        def send_evaluations(self, metrics: Any) -> None: ...

        def shutdown(self) -> None: ...

    LLMObs.enable(ml_app="bench", exporter=Keep())
    make = unit if shape == "unit" else request
    for _ in range(units):
        make()
    LLMObs.flush(60)
    LLMObs.disable()
    return kept


def run(stage: str, units: int, shape: str) -> None:
    from llmobs_core.export.base import SpanEvents
    from llmobs_core.span_events import EventBuilder

    kept = records(units, shape)
    if stage == "records":
        return
    build = EventBuilder([]).build
    batches = [kept[i:i + 1000] for i in range(0, len(kept), 1000)]
    if stage == "build":
        for batch in batches:
            list(SpanEvents(batch, build))
    elif stage == "datadog":
        from llmobs_core.export._datadog_payload import Encoding, span_bodies

        for batch in batches:
            for _body in span_bodies(SpanEvents(batch, build), "0.0.0", Encoding()):
                pass
    elif stage in ("group", "store"):
        from llmobs_core.export.local import LocalStoreSink
        from llmobs_core.store.traces import group_by_trace
        from llmobs_core.store.write import insert_spans, open_store, write_transaction

        if stage == "group":
            for batch in batches:
                group_by_trace(SpanEvents(batch, build), 0)
            return
        sink = LocalStoreSink(Path(tempfile.mkdtemp()) / "stages.db")
        conn = open_store(sink.path, 10)
        for batch in batches:
            groups = group_by_trace(SpanEvents(batch, build), 0)
            with write_transaction(conn):
                insert_spans(conn, groups, sink._tag_sets)
    elif stage in ("inbox", "settle"):
        from llmobs_core.store.inbox import pack
        from llmobs_core.store.settle import settle
        from llmobs_core.store.write import insert_inbox, open_store, write_transaction

        path = Path(tempfile.mkdtemp()) / "stages.db"
        conn = open_store(path, 10)
        for batch in batches:  # as LocalStoreSink.send_spans does with the writer's records
            packed = pack(batch, build, 0)
            with write_transaction(conn):
                insert_inbox(conn, packed, "[]", 0)
        conn.close()
        if stage == "settle":
            settle(path)
    elif stage == "otlp-map":
        from llmobs_core.export.otlp import span_datas

        for batch in batches:
            span_datas(SpanEvents(batch, build))
    elif stage == "otlp":
        from llmobs_core.export.otlp import OTLPSink, span_datas

        sink = OTLPSink("http://127.0.0.1:9/v1/traces")
        for batch in batches:
            sink.encode(span_datas(SpanEvents(batch, build)))


def count(stage: str, units: int, shape: str) -> int:
    return instructions_of([sys.executable, __file__, "--run", stage, "--units", str(units),
                            "--shape", shape])


def instructions_of(command: list[str]) -> int:
    """The instructions `command` executes, counted by valgrind's cachegrind."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         *command], capture_output=True, text=True, timeout=3600)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(done.stderr[-2000:])
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES, action="append")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--shape", choices=("unit", "request"), default="unit",
                        help="unit: export_cost.py's unit; request: asgi_middleware.py's span")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run, args.units, args.shape)
        return
    what = ("a unit (workflow + annotated llm child)" if args.shape == "unit"
            else "a request's span (one-span trace)")
    print(f"instructions {what}, per stage (cachegrind)")
    for stage in args.stage or STAGES:
        per_unit = (count(stage, 3 * args.units, args.shape)
                    - count(stage, args.units, args.shape)) / (2 * args.units)
        print(f"  {stage:<8} {per_unit:9,.0f}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
