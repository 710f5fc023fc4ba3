"""Span events and evaluation metrics in the wire format's shape, as the writer hands them to
the local store, and the checks the store's tests share."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink, SinkError

# -- a small factory for span events and evaluation metrics in the wire format's shape --------

def new_trace_id(at_ns: int | None = None) -> str:
    seconds = (at_ns or time.time_ns()) // 10**9
    return f"{seconds:08x}{0:08x}{random.getrandbits(64):016x}"


def span_event(trace_id: str, *, parent_id: str = "undefined", name: str = "chat",
               kind: str = "llm", ml_app: str = "shop", service: str | None = "chat-api",
               session_id: str | None = None, start_ns: int | None = None,
               duration: int = 2_000_000, tags: tuple[str, ...] = (),
               error: dict | None = None) -> dict:
    span_id = str(random.getrandbits(64))
    meta: dict = {"span": {"kind": kind}, "metadata": {"temperature": 0.1},
                  "input": {"messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Capital of France?"}]},
                  "output": {"messages": [{"role": "assistant", "content": "Paris."}]}}
    if kind == "llm":
        meta.update(model_name="gpt-4o-mini", model_provider="openai")
    if error:
        meta["error"] = error
    all_tags = [f"ml_app:{ml_app}", "env:test", "language:python", f"error:{int(bool(error))}"]
    if service:
        all_tags.append(f"service:{service}")
    if session_id:
        all_tags.append(f"session_id:{session_id}")
    event = {
        "trace_id": trace_id, "span_id": span_id, "parent_id": parent_id, "name": name,
        "start_ns": start_ns or time.time_ns(), "duration": duration,
        "status": "error" if error else "ok", "meta": meta,
        "metrics": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        "tags": [*all_tags, *tags],
        "_dd": {"span_id": span_id, "trace_id": trace_id, "apm_trace_id": trace_id},
    }
    if session_id:
        event["session_id"] = session_id
    return event


def trace_events(spans: int = 3, start_ns: int | None = None, **fields) -> list[dict]:
    """A root workflow span and spans-1 llm children, one microsecond apart."""
    start_ns = start_ns or time.time_ns()
    trace_id = new_trace_id(start_ns)
    root = span_event(trace_id, name="answer", kind="workflow", start_ns=start_ns,
                      duration=10_000_000, **fields)
    children = [span_event(trace_id, parent_id=root["span_id"], start_ns=start_ns + i * 1000,
                           **fields) for i in range(1, spans)]
    return [root, *children]


def span_metric(span: dict, label: str = "quality", value: float = 0.9) -> dict:
    return {"join_on": {"span": {"span_id": span["span_id"], "trace_id": span["trace_id"]}},
            "label": label, "metric_type": "score", "score_value": value,
            "ml_app": "shop", "timestamp_ms": time.time_ns() // 10**6, "tags": ["ddtrace:1"]}


def stored_span_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM spans").fetchone()[0]


def big_traces(megabytes: int) -> list[dict]:
    """Traces of 5 spans whose outputs are 4 KB each, about `megabytes` MB in all."""
    events: list[dict] = []
    while len(events) * 4500 < megabytes << 20:
        for event in trace_events(5):
            event["meta"]["output"] = {"value": random.randbytes(2000).hex()}
            events.append(event)
    return events


def fails_twice_with_one_warning(sink: LocalStoreSink, warnings_logged, expected: str) -> None:
    for _ in range(2):
        with pytest.raises(SinkError, match=expected):
            sink.send_spans(trace_events(2))
    [record] = warnings_logged()
    assert expected in record.getMessage()
