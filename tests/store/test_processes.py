"""Several processes on one local store: writing and reading at once, making a new store at
once, and sinks carried across fork()."""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries as q
from tests.store.helpers import stored_span_count, trace_events

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
