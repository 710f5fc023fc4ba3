"""Writing the local store: what goes in comes back exactly, whatever the batch, once only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries as q
from tests.store.helpers import span_metric, stored_span_count, trace_events


def test_spans_and_evaluations_read_back_exactly(store: Path) -> None:
    """Every field of every span and evaluation comes back as it was sent."""
    events = trace_events(4, session_id="s-1")
    metric = span_metric(events[2])
    sink = LocalStoreSink(store)
    sink.send_spans(events)
    sink.send_evaluations([metric])
    sink.shutdown()

    trace = q.get_trace(store, events[0]["trace_id"])
    assert trace["spans"] == events
    assert trace["evaluations"] == [metric]
    assert q.evaluations_by_span(trace) == {events[2]["span_id"]: [metric]}
    assert q.list_evals(store) == [metric]


@pytest.mark.parametrize("traces", [1, 255, 777])
def test_a_batch_of_any_size_is_stored_whole(store: Path, traces: int) -> None:
    """Rows go in by statements of a power of two: every count splits into them exactly,
    one-span traces and traces of several spans alike."""
    start = time.time_ns()
    sent = [trace_events(1 + i % 3, start_ns=start + i * 10_000, session_id=f"s{i % 5}")
            for i in range(traces)]
    sink = LocalStoreSink(store)
    sink.send_spans([span for trace in sent for span in trace])
    sink.shutdown()

    assert stored_span_count(store) == sum(len(trace) for trace in sent)
    for trace in (sent[0], sent[-1]):
        assert q.get_trace(store, trace[0]["trace_id"])["spans"] == trace
    assert {t["session_id"] for t in q.list_traces(store, limit=1000)} == \
        {f"s{i}" for i in range(min(traces, 5))}


def test_duplicate_spans_and_evaluations_are_stored_once(store: Path) -> None:
    """A retried batch, or one that overlaps an earlier one, adds only the spans not seen."""
    events = trace_events(5)
    metric = span_metric(events[1])
    sink = LocalStoreSink(store)
    sink.send_spans(events[:3])
    sink.send_spans(events[:3])
    sink.send_spans(events)
    sink.send_evaluations([metric])
    sink.send_evaluations([metric, metric])
    assert stored_span_count(store) == 5
    assert q.list_traces(store)[0]["span_count"] == 5
    assert len(q.list_evals(store)) == 1


def test_events_without_ids_are_skipped_and_odd_values_still_stored(store: Path) -> None:
    """A span without ids is left out; values JSON cannot hold natively are stored as text;
    fields of the wrong type do not fail the batch."""
    good = trace_events(1)[0]
    good["meta"]["metadata"] = {"when": time.gmtime(0)[:3], 7: "int key", "bad": "\udcff"}
    odd = trace_events(1)[0] | {"name": ["not", "a", "string"], "start_ns": "soon",
                                "meta": None}
    LocalStoreSink(store).send_spans([{"name": "no ids"}, good, odd])
    [stored] = q.get_trace(store, good["trace_id"])["spans"]
    assert stored["meta"]["metadata"] == {"when": [1970, 1, 1], "7": "int key", "bad": "\udcff"}
    assert q.get_trace(store, odd["trace_id"])["spans"] == [odd]


def test_json_is_used_when_orjson_is_not_installed(store: Path) -> None:
    """Without orjson the sink encodes with json and stores the same events."""
    events = trace_events(2)
    script = ("import sys, json; sys.modules['orjson'] = None\n"
              "from llmobs_core.export.local import LocalStoreSink\n"
              "from llmobs_core.store import codec as _store_codec\n"
              "assert _store_codec.orjson is None\n"
              "LocalStoreSink(sys.argv[1]).send_spans(json.loads(sys.stdin.read()))\n")
    subprocess.run([sys.executable, "-c", script, str(store)], input=json.dumps(events),
                   text=True, check=True)
    assert q.get_trace(store, events[0]["trace_id"])["spans"] == events
