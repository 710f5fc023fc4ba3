"""The inbox across processes and store versions: writers and settling readers at once lose
and duplicate nothing, a store of the previous version gains the inbox in place, retention
counts what waits in it, and a store that cannot be written is read with its waiting count."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from llmobs_core import LLMObs
from llmobs_core.export.base import SpanEvents
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.export.memory import MemorySink
from llmobs_core.span_events import EventBuilder
from llmobs_core.store import queries
from llmobs_core.store.settle import settle, spans_waiting
from tests.store.helpers import stored_span_count, trace_events
from tests.store.test_read_only import LLMOBS, mount, read_only  # noqa: F401 (a fixture)
from tests.support.records import record_from_flat

UNITS_PER_WRITER = 600  # a workflow span and its llm child each


def _record(path: str, worker: int) -> None:
    LLMObs.enable(ml_app=f"worker-{worker}", exporter=LocalStoreSink(path))
    for unit in range(UNITS_PER_WRITER):
        with LLMObs.workflow(name=f"unit-{unit}"):
            with LLMObs.llm(model_name="gpt-4o", name="chat") as span:
                LLMObs.annotate(span, input_data="hi", output_data="hello", tags={"unit": unit})
        if unit % 50 == 0:
            assert LLMObs.flush(30)
    assert LLMObs.flush(30)
    stats = LLMObs.stats()
    LLMObs.disable()
    assert stats["sent"] == 2 * UNITS_PER_WRITER and not sum(stats["dropped"].values()), stats


def _settle_until(path: str, stop: Any) -> None:
    while not stop.is_set():
        if Path(path).exists():
            settle(Path(path))
        time.sleep(0.01)


def test_writers_and_settling_readers_at_once_lose_and_repeat_nothing(store: Path) -> None:
    """Three processes recording spans, one process settling in a loop and this one reading
    (which settles) at the same time: every span is stored once, and the inbox empties."""
    context = multiprocessing.get_context("spawn")
    store.parent.mkdir(parents=True)
    stop = context.Event()
    settler = context.Process(target=_settle_until, args=(str(store), stop))
    writers = [context.Process(target=_record, args=(str(store), n)) for n in range(3)]
    for process in (settler, *writers):
        process.start()
    while any(writer.is_alive() for writer in writers):
        if store.exists():
            queries.list_traces(store, limit=5)
        time.sleep(0.02)
    stop.set()
    settler.join(60)
    assert [process.exitcode for process in (settler, *writers)] == [0, 0, 0, 0]
    queries.list_traces(store, limit=1)
    with sqlite3.connect(store) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT trace_id || span_id) FROM spans").fetchone()
        (counted,) = conn.execute("SELECT value FROM counters WHERE name = 'spans'").fetchone()
        assert conn.execute("SELECT count(*) FROM inbox").fetchone() == (0,)
    assert total == distinct == counted == 3 * 2 * UNITS_PER_WRITER
    for n in range(3):
        spans = queries.list_spans(store, ml_app=f"worker-{n}", limit=10**6)
        assert len(spans) == 2 * UNITS_PER_WRITER


def _inbox_batch(spans: int, start_ns: int) -> SpanEvents:
    """A batch of one-span traces as the writer hands it to the sink."""
    records = []
    for i in range(spans):
        trace_id = (start_ns // 10**9) << 96 | (start_ns + i) % (1 << 63) + 1
        records.append(record_from_flat((
            "task", f"t{i}", trace_id, start_ns % (1 << 62) + i + 1, None, trace_id, "app",
            None, None, None, start_ns + i, 1_000, None, "in", "out", None, None, None, None,
            1.0, None, None)))
    return SpanEvents(records, EventBuilder(["env:test"]).build)


def _make_version_2_store(path: Path) -> list[dict]:
    """A store as llmobs wrote it before the inbox (schema 2), holding one trace."""
    events = trace_events(3)
    sink = LocalStoreSink(path)
    sink.send_spans(events)
    sink.shutdown()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE inbox")
        conn.execute("PRAGMA user_version = 2")
    return events


def test_a_store_of_the_previous_version_gains_the_inbox(store: Path) -> None:
    """A schema-2 store is read as it is, and the first write of this version adds the inbox
    in place, keeping what it held."""
    old = _make_version_2_store(store)
    [summary] = queries.list_traces(store)
    assert summary["trace_id"] == old[0]["trace_id"]
    sink = LocalStoreSink(store)
    sink.send_spans(_inbox_batch(4, time.time_ns()))
    sink.shutdown()
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
    assert len(queries.list_traces(store)) == 5
    assert stored_span_count(store) == 7


def test_an_older_llmobs_is_told_the_store_is_newer(store: Path) -> None:
    """What an llmobs of schema 2 checks: a store of a higher version than its own is refused
    by its reader and its sink as made by a newer llmobs (the same check, one version on)."""
    LocalStoreSink(store).send_spans(trace_events(1))
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA user_version = 4")
    listed = subprocess.run([LLMOBS, "--path", str(store), "traces"], capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 1 and "made by a newer llmobs" in listed.stderr


def test_retention_counts_the_inbox_and_takes_settled_traces_first(store: Path) -> None:
    """Past max_spans, settled traces go first, then whole inbox batches, oldest first; the
    writer never settles to prune."""
    sink = LocalStoreSink(store, max_spans=100)
    start = time.time_ns() - 10**9
    sink.send_spans(_inbox_batch(40, start))
    assert settle(store) == 40
    for batch in range(4):  # 160 more spans, in the inbox; retention checks every 10 spans
        sink.send_spans(_inbox_batch(40, start + (batch + 1) * 10**6))
    sink.shutdown()
    with sqlite3.connect(store) as conn:
        (settled,) = conn.execute("SELECT count(*) FROM traces").fetchone()
        waiting = conn.execute("SELECT min_start_ns FROM inbox ORDER BY id").fetchall()
    assert settled == 0  # the oldest, settled, went first
    assert len(waiting) * 40 <= 100 and waiting[-1][0] == start + 4 * 10**6  # newest kept


def test_a_store_that_cannot_be_written_is_read_with_its_waiting_count(
        mount: Path, warnings_logged) -> None:  # noqa: F811
    """On a read-only mount the settled traces are read, the spans still in the inbox are
    counted, and the reader says how many wait."""
    path = mount / "traces.db"
    sink = LocalStoreSink(path)
    sink.send_spans(trace_events(2))
    sink.send_spans(_inbox_batch(7, time.time_ns()))
    sink.shutdown()
    read_only(mount)
    assert [row["span_count"] for row in queries.list_traces(path)] == [2]
    assert spans_waiting(path) == 7
    assert "7 spans wait in the inbox" in warnings_logged()[0].getMessage()
    listed = subprocess.run([LLMOBS, "--path", str(path), "traces", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["span_count"] for line in listed.stdout.splitlines()] == [2]
    assert "7 spans wait in the inbox" in listed.stderr


def test_llmobs_settle_makes_the_spans_view_whole(store: Path) -> None:
    """`llmobs settle` stores what waits in the inbox, so SQL on the `spans` view sees it."""
    sink = LocalStoreSink(store)
    sink.send_spans(_inbox_batch(6, time.time_ns()))
    sink.shutdown()
    assert stored_span_count(store) == 0
    done = subprocess.run([LLMOBS, "--path", str(store), "settle"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "6 spans settled" in done.stdout
    assert stored_span_count(store) == 6
    assert "dropped" not in done.stdout


def test_llmobs_settle_says_how_many_records_settling_dropped(store: Path,
                                                              warnings_logged) -> None:
    """A record the builder cannot read (an embedding input set by hand to something that is
    not a list of documents) is dropped by the reader that settles it: logged there, and
    counted in the store, where `llmobs settle` shows the count."""
    batch = _inbox_batch(3, time.time_ns())
    bad = batch.records[1]
    batch.records[1] = ("embedding",) + bad[1:13] + (["not a document"],) + bad[14:]
    sink = LocalStoreSink(store)
    sink.send_spans(batch)
    sink.shutdown()
    assert len(queries.list_spans(store)) == 2  # this read settled the inbox
    done = subprocess.run([LLMOBS, "--path", str(store), "settle"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "0 spans settled" in done.stdout
    assert "dropped when settled, since the store was made: 1 (span records" in done.stdout


def test_beside_another_sink_the_store_keeps_records_and_a_failing_sink_costs_itself(
        store: Path) -> None:
    """With several sinks and no span processor, each sink gets the records: the local store
    keeps them in its inbox beside a sink that builds events, and a sink that fails on every
    event drops them alone, counted, while the others deliver."""
    memory = MemorySink()

    class Refusing(MemorySink):
        def send_spans(self, events: Any) -> None:
            raise ValueError("refused")

    LLMObs.enable(ml_app="two", exporter=[LocalStoreSink(store), memory, Refusing()])
    with LLMObs.workflow(name="outer"), LLMObs.task(name="inner"):
        pass
    assert LLMObs.flush(10)
    stats = LLMObs.stats()
    LLMObs.disable()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT sum(span_count) FROM inbox").fetchone() == (2,)
    assert sorted(event["name"] for event in memory.spans) == ["inner", "outer"]
    assert sorted(event["name"] for event in queries.list_spans(store)) == ["inner", "outer"]
    assert stats["sent"] == 2 and stats["sinks"]["Refusing"] == {"sent": 0, "dropped": 2}
