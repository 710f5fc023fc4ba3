"""The local SQLite store: the sink that writes it and the queries that read it."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.export.base import SinkError as BaseSinkError
from llmobs_core.export.local import LocalStoreSink, SinkError
from llmobs_core.store import checkpoint as _store_checkpoint
from llmobs_core.store import queries as q

DAY_NS = 86_400 * 10**9


# -- a small factory for span events and evaluation metrics in WIRE.md's shape ----------------

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


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store" / "traces.db"


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="llmobs")
    return lambda: [r for r in caplog.records
                    if r.name == "llmobs" and r.levelno >= logging.WARNING]


# -- storing and reading back -----------------------------------------------------------------

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


def test_trace_summary_lists_root_counts_duration_status_and_session(store: Path) -> None:
    """A trace's summary names its root, counts its spans and errors, and keeps the session."""
    events = trace_events(3, session_id="s-9")
    events[2] = span_event(events[0]["trace_id"], parent_id=events[0]["span_id"], kind="tool",
                           start_ns=events[0]["start_ns"] + 5, session_id="s-9",
                           error={"type": "ValueError", "message": "boom", "stack": ""})
    sink = LocalStoreSink(store)
    sink.send_spans(events[1:])  # children first, as a writer may see them
    sink.send_spans(events[:1])
    [summary] = q.list_traces(store)
    assert summary == {"trace_id": events[0]["trace_id"], "start_ns": events[0]["start_ns"],
                       "ml_app": "shop", "root_name": "answer", "root_kind": "workflow",
                       "span_count": 3, "duration": 10_000_000, "status": "error",
                       "session_id": "s-9"}


def test_trace_without_local_root_uses_its_earliest_span(store: Path) -> None:
    """A trace continued from another service has no local root: its earliest span stands in."""
    trace_id = new_trace_id()
    start = time.time_ns()
    events = [span_event(trace_id, parent_id="123", name=f"step{i}", start_ns=start + i * 100,
                         duration=1000) for i in range(3)]
    LocalStoreSink(store).send_spans(events)
    [summary] = q.list_traces(store)
    assert (summary["root_name"], summary["duration"]) == ("step0", 1200)


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


def test_newest_spans_first_across_batches_and_filters(store: Path) -> None:
    """list_spans returns exactly the newest matching spans, newest first, when traces come
    in several batches out of order (long traces whose spans arrive in later batches)."""
    start = time.time_ns() - 10**9
    sink = LocalStoreSink(store)
    everything: list[dict] = []
    long_traces = [trace_events(4, start_ns=start + i * 7_000, tags=("kind:long",))
                   for i in range(20)]
    for i in range(30):
        batch = trace_events(3, start_ns=start + i * 5_000, tags=(f"batch:{i % 3}",))
        batch += [trace[i % 4] for trace in long_traces[i % 5::5]]
        sink.send_spans(batch)
        everything += batch
    for trace in long_traces:
        sink.send_spans(trace)  # all again: nothing is stored twice
    stored = {(s["trace_id"], s["span_id"]): s for s in everything}.values()

    def newest(spans, n):
        return [s["span_id"] for s in sorted(spans, key=lambda s: -s["start_ns"])[:n]]

    assert [row["span_id"] for row in q.list_spans(store, limit=7)] == newest(stored, 7)
    long_ones = [s for s in stored if "kind:long" in s["tags"]]
    assert [row["span_id"] for row in q.list_spans(store, tags=["kind:long"], limit=9)] == (
        newest(long_ones, 9))
    assert len(q.list_spans(store, limit=10**6)) == len(stored) == 30 * 3 + 80
    assert sum(t["span_count"] for t in q.list_traces(store, limit=1000)) == len(stored)


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


def test_spans_view_lists_each_stored_span(store: Path) -> None:
    """The spans view gives plain SQL one row per stored span, with its trace id, span id,
    start and whole event, whether the span came with its trace's first batch or later."""
    events = trace_events(3)
    sink = LocalStoreSink(store)
    sink.send_spans(events[:2])
    sink.send_spans(events[2:])
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT trace_id, span_id, start_ns, event FROM spans"
                            " ORDER BY start_ns").fetchall()
    assert [json.loads(event) for *_, event in rows] == events
    assert [row[:3] for row in rows] == [(e["trace_id"], e["span_id"], e["start_ns"])
                                         for e in events]


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


def test_path_defaults_to_cwd_then_env_then_argument(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is .llmobs/traces.db in the cwd, LLMOBS_LOCAL_PATH beats it, an argument beats
    both, and the directory is created on first write."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMOBS_LOCAL_PATH", raising=False)
    assert LocalStoreSink().path == tmp_path / ".llmobs" / "traces.db"
    monkeypatch.setenv("LLMOBS_LOCAL_PATH", str(tmp_path / "env" / "t.db"))
    assert LocalStoreSink().path == tmp_path / "env" / "t.db"
    sink = LocalStoreSink(tmp_path / "arg" / "deep" / "t.db")
    sink.send_spans(trace_events(1))
    assert stored_span_count(tmp_path / "arg" / "deep" / "t.db") == 1


def test_store_uses_wal_mode(store: Path) -> None:
    """The file is in WAL mode, so the CLI can read while applications write."""
    LocalStoreSink(store).send_spans(trace_events(1))
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reading_never_creates_the_store(tmp_path: Path) -> None:
    """Queries on a missing store raise FileNotFoundError and leave no file behind."""
    missing = tmp_path / "nothing" / "traces.db"
    with pytest.raises(FileNotFoundError):
        q.list_traces(missing)
    assert not missing.parent.exists()


def test_store_deleted_while_open_is_made_again(store: Path) -> None:
    """When the file is deleted under a running sink, the next batch starts a new store."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(2))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    sink.send_spans(trace_events(3))
    assert stored_span_count(store) == 3


# -- several processes ------------------------------------------------------------------------

SPANS_PER_PROCESS = 5_000


def _write_from_process(path: str, worker: int) -> None:
    random.seed(os.getpid() * 1000 + worker)
    sink = LocalStoreSink(path)
    events = []
    while len(events) < SPANS_PER_PROCESS:
        events += trace_events(5, tags=(f"worker:{worker}",))
    for i in range(0, SPANS_PER_PROCESS, 250):
        sink.send_spans(events[i:i + 250])
    sink.shutdown()


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_processes_writing_at_once_lose_nothing(store: Path, start_method: str) -> None:
    """Four processes writing 5,000 spans each to one file at once store every span once."""
    context = multiprocessing.get_context(start_method)
    LocalStoreSink(store).send_spans([])  # nothing to send: the sink opens nothing
    workers = [context.Process(target=_write_from_process, args=(str(store), n))
               for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with sqlite3.connect(store) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT trace_id || span_id) FROM spans").fetchone()
        traced = conn.execute("SELECT sum(span_count) FROM traces").fetchone()[0]
    assert total == distinct == traced == 4 * SPANS_PER_PROCESS
    for n in range(4):
        assert len(q.list_spans(store, tags=[f"worker:{n}"], limit=10**6)) == SPANS_PER_PROCESS


def _first_write(path: str, ready) -> None:
    events = trace_events(2)
    ready.wait(10)
    LocalStoreSink(path).send_spans(events)  # SinkError: a non-zero exit code


def test_processes_making_a_new_store_at_once(tmp_path: Path) -> None:
    """Processes whose first writes to a store not made yet come at the same moment all
    store their spans (SQLite refuses the switch to WAL at once while another process opens
    the new file, without waiting: the sink tries again)."""
    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = tmp_path / f"new-{attempt}.db"
        ready = context.Barrier(6)
        workers = [context.Process(target=_first_write, args=(str(path), ready))
                   for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        assert [worker.exitcode for worker in workers] == [0] * 6
        assert stored_span_count(path) == 12


def test_reading_while_another_process_writes(store: Path) -> None:
    """The read side works, and sees a growing store, while another process writes."""
    LocalStoreSink(store).send_spans(trace_events(1))
    writer = multiprocessing.get_context("fork").Process(target=_write_from_process,
                                                         args=(str(store), 9))
    writer.start()
    seen = []
    while writer.is_alive():
        traces = q.list_traces(store, tags=["worker:9"], limit=5)
        if traces:
            assert q.get_trace(store, traces[0]["trace_id"])["spans"]
        seen.append(len(q.list_spans(store, limit=10**6)))
    writer.join()
    assert writer.exitcode == 0
    assert seen == sorted(seen) and seen[-1] <= 1 + SPANS_PER_PROCESS
    assert stored_span_count(store) == 1 + SPANS_PER_PROCESS


def test_sink_used_in_a_forked_child_opens_its_own_connection(store: Path) -> None:
    """A child forked from a process with an open store writes through a new connection, and
    the parent's connection keeps working after the child has exited."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(2))
    inherited = sink._connection
    pid = os.fork()
    if pid == 0:  # the child: any failure shows as a non-zero exit code
        code = 1
        try:
            sink.send_spans(trace_events(3))
            assert sink._connection is not None and sink._connection is not inherited
            sink.shutdown()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.send_spans(trace_events(4))
    sink.shutdown()
    assert stored_span_count(store) == 9
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _in_child(work) -> tuple[int, int]:
    """Fork; run work() in the child, whose exit code is 0 only if work() returned. Returns
    (child pid, a pipe end that reads one byte when the child calls the signal it is given)."""
    signal_read, signal_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work(lambda: os.write(signal_write, b"."))
            code = 0
        finally:
            os._exit(code)
    return pid, signal_read


def _exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_parent_closing_does_not_lose_what_a_forked_child_writes_next(store: Path) -> None:
    """The parent shutting its sink down while a forked child still writes keeps the child's
    later spans (SQLite's per-process lock bookkeeping must not be carried across the fork)."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(2))

    def child(signal) -> None:
        sink.send_spans(trace_events(3))
        signal()
        time.sleep(0.5)  # the parent closes its connection meanwhile
        sink.send_spans(trace_events(4))
        sink.shutdown()

    pid, signalled = _in_child(child)
    os.read(signalled, 1)
    sink.shutdown()
    assert _exit_code(pid) == 0
    assert stored_span_count(store) == 9


def test_fork_during_a_batch_leaves_the_child_able_to_write(store: Path) -> None:
    """A fork while the sink is held (a batch in progress) does not leave the
    child's sink locked: the child writes through a connection of its own."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(2))
    sink._in_use.acquire()  # as the writer thread does for the length of a batch
    try:
        pid, _ = _in_child(lambda signal: sink.send_spans(trace_events(3)))
        assert _exit_code(pid) == 0
    finally:
        sink._in_use.release()
    sink.send_spans(trace_events(1))
    assert stored_span_count(store) == 6


# -- checkpoints --------------------------------------------------------------------------------

def big_traces(megabytes: int) -> list[dict]:
    """Traces of 5 spans whose outputs are 4 KB each, about `megabytes` MB in all."""
    events: list[dict] = []
    while len(events) * 4500 < megabytes << 20:
        for event in trace_events(5):
            event["meta"]["output"] = {"value": random.randbytes(2000).hex()}
            events.append(event)
    return events


def test_log_is_copied_into_the_file_beside_the_writer(store: Path) -> None:
    """Once enough is written, a checkpoint copies the write-ahead log into the database file
    on a thread of the sink's own (the writer's connection runs none), and nothing is lost."""
    events = big_traces(24)
    sink = LocalStoreSink(store, max_spans=0, max_age_days=0)
    for i in range(0, len(events), 1000):
        sink.send_spans(events[i:i + 1000])
    deadline = time.monotonic() + 20
    while store.stat().st_size < 8 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.stat().st_size >= 8 << 20
    sink.shutdown()
    assert stored_span_count(store) == len(events)


def test_writer_checkpoints_itself_when_the_log_grows_too_long(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the checkpoint thread (here, stopped), the writer checkpoints itself once the
    log passes its limit, so the log file stops growing."""
    monkeypatch.setattr(_store_checkpoint, "LOG_LIMIT", 4 << 20)
    sink = LocalStoreSink(store, max_spans=0, max_age_days=0)
    sink._checkpoints.stop(1)
    events = big_traces(24)
    for i in range(0, len(events), 1000):
        sink.send_spans(events[i:i + 1000])
    assert Path(f"{store}-wal").stat().st_size < 12 << 20
    sink.shutdown()
    assert stored_span_count(store) == len(events)


# -- retention --------------------------------------------------------------------------------

def test_retention_by_count_deletes_whole_oldest_traces(store: Path) -> None:
    """Past max_spans, whole traces go, oldest first, until the store is back under it."""
    start = time.time_ns() - 1000 * 10**9
    traces = [trace_events(5, start_ns=start + i * 10**9) for i in range(30)]
    sink = LocalStoreSink(store, max_spans=100)
    for events in traces:
        sink.send_spans(events)
    kept = q.list_traces(store, limit=100)
    assert 0 < sum(t["span_count"] for t in kept) <= 100
    assert all(t["span_count"] == 5 for t in kept)
    assert [t["trace_id"] for t in kept] == [e[0]["trace_id"] for e in traces[::-1][:len(kept)]]


def test_retention_by_age_deletes_old_traces_and_evaluations(store: Path) -> None:
    """Traces that started more than max_age_days ago go, with their evaluations."""
    old = trace_events(2, start_ns=time.time_ns() - 3 * DAY_NS)
    new = trace_events(2)
    old_metric = span_metric(old[0]) | {"timestamp_ms": (time.time_ns() - 3 * DAY_NS) // 10**6}
    sink = LocalStoreSink(store, max_age_days=1)
    sink.send_evaluations([old_metric, span_metric(new[0])])
    sink.send_spans(old + new)
    assert [t["trace_id"] for t in q.list_traces(store)] == [new[0]["trace_id"]]
    assert q.get_trace(store, old[0]["trace_id"]) is None
    assert [m["join_on"]["span"]["trace_id"] for m in q.list_evals(store)] == [new[0]["trace_id"]]


def test_retention_forgets_tag_sets_no_trace_uses(store: Path) -> None:
    """Pruning deletes the tag sets only pruned traces used, and a sink that cached such a set
    (another process, here another sink) does not point a new trace at it."""
    old_start = time.time_ns() - 1000 * 10**9
    keeper, pruner = LocalStoreSink(store), LocalStoreSink(store, max_spans=20)
    keeper.send_spans(trace_events(5, start_ns=old_start, tags=("request:kept-tags",)))
    for i in range(10):
        pruner.send_spans(trace_events(5, start_ns=old_start + (i + 1) * 10**9,
                                       tags=(f"request:{i}",)))
    assert q.list_traces(store, tags=["request:kept-tags"]) == []
    with sqlite3.connect(store) as conn:
        (sets,) = conn.execute("SELECT count(*) FROM tag_sets").fetchone()
    assert sets <= len(q.list_traces(store, limit=100))
    again = trace_events(5, tags=("request:kept-tags",))
    keeper.send_spans(again)
    assert [t["trace_id"] for t in q.list_traces(store, tags=["request:kept-tags"])] == [
        again[0]["trace_id"]]
    assert len(q.list_spans(store, tags=["request:kept-tags"])) == 5


def test_store_from_before_the_first_release_is_refused(store: Path, warnings_logged) -> None:
    """A store in the layout of llmobs before 0.1.0 (schema 1) is left alone: writing fails
    with one warning saying to move it away, and reading says why it cannot."""
    store.parent.mkdir()
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE spans (id INTEGER PRIMARY KEY, event TEXT)")
        conn.execute("PRAGMA user_version = 1")
    _fails_twice_with_one_warning(LocalStoreSink(store), warnings_logged, "before 0.1.0")
    with pytest.raises(sqlite3.DatabaseError, match="before 0.1.0"):
        q.list_traces(store)


def test_retention_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLMOBS_LOCAL_MAX_SPANS and LLMOBS_LOCAL_MAX_DAYS set the limits; arguments beat them."""
    monkeypatch.setenv("LLMOBS_LOCAL_MAX_SPANS", "500")
    monkeypatch.setenv("LLMOBS_LOCAL_MAX_DAYS", "2.5")
    sink = LocalStoreSink()
    assert (sink.max_spans, sink.max_age_days) == (500, 2.5)
    sink = LocalStoreSink(max_spans=7, max_age_days=0)
    assert (sink.max_spans, sink.max_age_days) == (7, 0)


# -- bad conditions: one warning, SinkError for the writer to count, recovery -------------------

def _fails_twice_with_one_warning(sink: LocalStoreSink, warnings_logged, expected: str) -> None:
    for _ in range(2):
        with pytest.raises(SinkError, match=expected):
            sink.send_spans(trace_events(2))
    [record] = warnings_logged()
    assert expected in record.getMessage()


def test_directory_that_cannot_be_made(tmp_path: Path, warnings_logged) -> None:
    """A store path under a regular file fails with one warning, then works once it can."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    sink = LocalStoreSink(blocker / "traces.db")
    _fails_twice_with_one_warning(sink, warnings_logged, "cannot create the directory")
    blocker.unlink()
    sink.send_spans(trace_events(2))
    assert stored_span_count(blocker / "traces.db") == 2


def test_writer_counts_a_failed_batch_without_logging_it_again(tmp_path: Path,
                                                               warnings_logged) -> None:
    """Through the writer, a store that cannot be written logs one warning (the sink's own,
    not a second one from the writer) and counts the spans as dropped by the sink."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    LLMObs.enable(ml_app="shop", exporter=LocalStoreSink(blocker / "traces.db"))
    with LLMObs.workflow(name="answer"):
        pass
    LLMObs.flush()
    assert LLMObs.stats()["dropped"]["sink_error"] == 1
    messages = [record.getMessage() for record in warnings_logged()]
    assert len([m for m in messages if "cannot create the directory" in m]) == 1
    assert not [m for m in messages if "LocalStoreSink failed" in m]
    assert SinkError is BaseSinkError and SinkError.already_logged


def test_directory_in_proc_fails_cleanly(warnings_logged) -> None:
    """A path where nothing can be created (/proc) gives SinkError and one warning."""
    sink = LocalStoreSink(f"/proc/llmobs-{os.getpid()}/traces.db")
    _fails_twice_with_one_warning(sink, warnings_logged, "cannot create the directory")


def test_read_only_directory_for_an_unprivileged_user(tmp_path: Path) -> None:
    """As a user without write access (tests run as root, so a child drops to nobody), a
    read-only directory gives SinkError, for a directory to make and for the file itself."""
    shared = Path(tempfile.mkdtemp(prefix="llmobs-ro-", dir="/tmp"))
    try:
        shared.chmod(0o555)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                failures = 0
                for path in (shared / "sub" / "traces.db", shared / "traces.db"):
                    try:
                        LocalStoreSink(path).send_spans(trace_events(1))
                    except SinkError:
                        failures += 1
                code = 0 if failures == 2 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert list(shared.iterdir()) == []
    finally:
        shared.chmod(0o755)
        shutil.rmtree(shared)


def test_corrupt_file(store: Path, warnings_logged) -> None:
    """A file that is not a database fails with one warning; moved away, a new store is made."""
    store.parent.mkdir()
    store.write_bytes(random.randbytes(16_384))
    sink = LocalStoreSink(store)
    _fails_twice_with_one_warning(sink, warnings_logged, "is not an llmobs trace store")
    store.rename(store.with_suffix(".corrupt"))
    sink.send_spans(trace_events(2))
    assert stored_span_count(store) == 2


def test_store_locked_past_the_timeout(store: Path, warnings_logged) -> None:
    """A write lock held longer than the timeout fails the batch; once released, writes go on."""
    sink = LocalStoreSink(store, timeout=0.2)
    sink.send_spans(trace_events(1))
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        _fails_twice_with_one_warning(sink, warnings_logged, "stayed locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    sink.send_spans(trace_events(2))
    assert stored_span_count(store) == 3


def test_database_full_from_page_limit(store: Path, warnings_logged) -> None:
    """SQLITE_FULL ("database or disk is full", here from max_page_count) fails the batch with
    one warning; the next connection has room again."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(1))
    # The page limit belongs to one connection: set it on the sink's own.
    pages = sink._connection.execute("PRAGMA page_count").fetchone()[0]
    sink._connection.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(SinkError, match="is full"):
        sink.send_spans(trace_events(200))
    [record] = warnings_logged()
    assert "is full" in record.getMessage()
    sink.send_spans(trace_events(200))
    assert stored_span_count(store) == 201


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MiB tmpfs, where a real disk-full condition can be made."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_disk_full(tiny_disk: Path, warnings_logged) -> None:
    """A full disk fails batches with one warning and no crash; freeing space lets them in."""
    store = tiny_disk / "traces.db"
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(1))
    filler = tiny_disk / "filler"
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError, match="No space"):
        while True:
            f.write(b"\0" * 4096)
    _fails_twice_with_one_warning(sink, warnings_logged, "is full")
    filler.unlink()
    sink.send_spans(trace_events(2))
    assert stored_span_count(store) == 3
