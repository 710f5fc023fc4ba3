"""Bad conditions for the local store: one warning, SinkError for the writer to count, recovery."""

from __future__ import annotations

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
from tests.store.helpers import fails_twice_with_one_warning, stored_span_count, trace_events


def test_directory_that_cannot_be_made(tmp_path: Path, warnings_logged) -> None:
    """A store path under a regular file fails with one warning, then works once it can."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    sink = LocalStoreSink(blocker / "traces.db")
    fails_twice_with_one_warning(sink, warnings_logged, "cannot create the directory")
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
    fails_twice_with_one_warning(sink, warnings_logged, "cannot create the directory")


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
    fails_twice_with_one_warning(sink, warnings_logged, "is not an llmobs trace store")
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
        fails_twice_with_one_warning(sink, warnings_logged, "stayed locked")
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
    fails_twice_with_one_warning(sink, warnings_logged, "is full")
    filler.unlink()
    sink.send_spans(trace_events(2))
    assert stored_span_count(store) == 3


def _hold_write_lock(store: Path) -> subprocess.Popen:
    """Another process holding the store's write lock (BEGIN EXCLUSIVE) until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"conn = sqlite3.connect({str(store)!r}, isolation_level=None)\n"
         "conn.execute('BEGIN EXCLUSIVE')\nprint('held', flush=True)\ntime.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_exit_keeps_its_deadline_while_another_process_holds_the_lock(store: Path) -> None:
    """At exit, a store locked by another process costs the drain its deadline (2 s), not
    the store's 10 s lock wait, and the spans not stored are counted in one log line."""
    LocalStoreSink(store).send_spans(trace_events(1))
    holder = _hold_write_lock(store)
    try:
        app = subprocess.Popen(
            [sys.executable, "-c", "from llmobs_core import LLMObs\n"
             "LLMObs.enable(ml_app='shop', exporter='local')\n"
             "for i in range(5):\n    with LLMObs.task(f't{i}'):\n        pass\n"
             "print('recorded', flush=True)\n"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "LLMOBS_LOCAL_PATH": str(store)})
        assert app.stdout is not None and app.stdout.readline() == "recorded\n"
        started = time.monotonic()
        _, stderr = app.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.communicate()
    assert app.returncode == 0
    assert took < 3.5, f"exit took {took:.1f} s"
    assert stderr.splitlines() == ["llmobs: 5 spans and evaluations were not delivered within "
                                   "the shutdown timeout (2 s) and are dropped"]
    assert stored_span_count(store) == 1
