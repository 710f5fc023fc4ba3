"""The local store's sink: spans per second for encode + write, as the writer drives it.

Traces of 5 realistic spans (a workflow root, an agent, an llm span with 2 input messages and
1 output message, a tool, a retrieval), or of fewer with --trace-size, in batches of --batch
spans, through LocalStoreSink.send_spans into a fresh temporary file. Encoding alone is
measured too, with json and (when installed) orjson. Target: 200,000 spans/s encode + write.
With --reads, the time the read side and the `llmobs` command take on the last store written.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import codec as _store_codec
from llmobs_core.store import queries as q

TAGS = ["ml_app:shop-assistant", "service:chat-api", "env:prod", "version:1.4.2",
        "language:python", "ddtrace.version:llmobs-0.1.0"]


def span(trace_id: str, span_id: int, parent_id: str, kind: str, name: str, start_ns: int,
         session_id: str) -> dict:
    meta: dict = {"span": {"kind": kind}, "metadata": {"attempt": 1}}
    if kind == "llm":
        meta.update(
            model_name="gpt-4o-mini", model_provider="openai",
            metadata={"temperature": 0.2, "max_tokens": 256, "top_p": 1.0},
            input={"messages": [
                {"role": "system", "content": "You are a helpful shopping assistant. Be brief."},
                {"role": "user", "content": "Which of these running shoes suits a beginner "
                                            "with flat feet, and what does it cost?"}]},
            output={"messages": [{"role": "assistant", "content": "The Stride 3: stable, "
                                  "cushioned, 89 EUR. It has a firm arch support."}]})
    elif kind == "retrieval":
        meta.update(input={"value": "running shoes flat feet"},
                    output={"documents": [{"text": "Stride 3 product sheet", "id": "p-311",
                                           "score": 0.83}]})
    else:
        meta.update(input={"value": "Which running shoe for flat feet?"},
                    output={"value": "The Stride 3 (89 EUR)."})
    return {
        "trace_id": trace_id, "span_id": str(span_id), "parent_id": parent_id, "name": name,
        "start_ns": start_ns, "duration": 48_000_000, "status": "ok", "session_id": session_id,
        "meta": meta,
        "metrics": {"input_tokens": 64, "output_tokens": 21, "total_tokens": 85}
        if kind == "llm" else {},
        "tags": [*TAGS, f"session_id:{session_id}", "error:0"],
        "_dd": {"span_id": str(span_id), "trace_id": trace_id, "apm_trace_id": trace_id},
    }


def trace(start_ns: int, size: int = 5) -> list[dict]:
    trace_id = f"{start_ns // 10**9:08x}{0:08x}{random.getrandbits(64):016x}"
    ids = [random.getrandbits(64) for _ in range(5)]
    session = f"session-{random.randrange(1000)}"
    shape = [("undefined", "workflow", "answer_question"), (str(ids[0]), "agent", "shopper"),
             (str(ids[1]), "retrieval", "search_catalog"), (str(ids[1]), "llm", "chat"),
             (str(ids[1]), "tool", "price_lookup")]
    return [span(trace_id, ids[i], parent, kind, name, start_ns + i * 1_000, session)
            for i, (parent, kind, name) in enumerate(shape[:size])]


def make_events(count: int, trace_size: int = 5) -> list[dict]:
    now = time.time_ns()
    events: list[dict] = []
    while len(events) < count:
        events.extend(trace(now + len(events) * 10_000, trace_size))
    return events[:count]


def encode_rate(events: list[dict]) -> float:
    started = time.perf_counter()
    for event in events:
        _store_codec.encode(event)
    return len(events) / (time.perf_counter() - started)


def write_rates(events: list[dict], batch: int, path: Path) -> tuple[float, float, int]:
    """Spans per second of wall-clock time and of this process's CPU time (which other
    work on the machine does not slow down), and the file's size."""
    sink = LocalStoreSink(path, max_spans=0, max_age_days=0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(events), batch):
        sink.send_spans(events[i:i + batch])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sink.shutdown()
    return len(events) / wall, len(events) / cpu, path.stat().st_size


def read_times(path: Path, events: list[dict]) -> None:
    """Milliseconds per query on the store at `path` (best of 3), and per `llmobs` command
    (a new process each time, so with Python's start-up and imports)."""
    some = events[len(events) // 2]
    session, trace_id = some["session_id"], some["trace_id"]
    queries: list[tuple[str, Callable[[], object]]] = [
        ("list_traces()", lambda: q.list_traces(path)),
        ("list_traces(session=...)", lambda: q.list_traces(path, session=session)),
        ("list_traces(tags=['env:prod'])", lambda: q.list_traces(path, tags=["env:prod"])),
        ("list_spans()", lambda: q.list_spans(path)),
        ("list_spans(session=...)", lambda: q.list_spans(path, session=session)),
        ("list_spans(service=...)", lambda: q.list_spans(path, service="chat-api")),
        ("list_spans(limit=10000)", lambda: q.list_spans(path, limit=10_000)),
        ("get_trace()", lambda: q.get_trace(path, trace_id)),
        ("match_trace_ids(prefix)", lambda: q.match_trace_ids(path, trace_id[:12])),
    ]
    for name, query in queries:
        best = min(_timed(query) for _ in range(3))
        print(f"  {name:32} {best * 1e3:8.1f} ms")
    commands = [["traces"], ["spans"], ["spans", "--session", session], ["show", trace_id]]
    for command in commands:
        argv = [sys.executable, "-m", "llmobs_core.cli", "--path", str(path), *command]
        best = min(_timed(lambda argv=argv: subprocess.run(argv, capture_output=True,
                                                           check=True)) for _ in range(3))
        print(f"  llmobs {' '.join(command)[:25]:25} {best * 1e3:8.1f} ms (whole command)")


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trace-size", type=int, choices=range(1, 6), default=5,
                        help="spans per trace (1: a web request's trace)")
    parser.add_argument("--reads", action="store_true", help="time reads on the last store")
    args = parser.parse_args()
    events = make_events(args.spans, args.trace_size)
    print(f"{args.spans:,} spans in traces of {args.trace_size}, "
          f"{sum(len(json.dumps(e)) for e in events[:5]) // 5:,} bytes per span as JSON, "
          f"batches of {args.batch:,}; best of {args.rounds} rounds")
    fast = _store_codec.orjson
    encoders = [("orjson", fast), ("json", None)] if fast else [("json", None)]
    with tempfile.TemporaryDirectory() as directory:
        for name, module in encoders:
            _store_codec.orjson = module
            encode = max(encode_rate(events) for _ in range(args.rounds))
            paths = [Path(directory) / f"{name}-{n}.db" for n in range(args.rounds)]
            results = [write_rates(events, args.batch, path) for path in paths]
            wall, cpu, size = max(results)
            print(f"{name:7} encode only {encode:>10,.0f} spans/s   encode + write "
                  f"{wall:>8,.0f} spans/s ({cpu:,.0f} per CPU second)   "
                  f"{size / args.spans:,.0f} bytes per span on disk")
        _store_codec.orjson = fast
        if args.reads:
            print(f"reading the store of {args.spans:,} spans:")
            read_times(paths[-1], events)


if __name__ == "__main__":
    main()
