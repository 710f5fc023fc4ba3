"""The local store's file: where it is, its WAL mode and checkpoints, a file deleted under the
sink, and a file from before the first release (schema 1)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import checkpoint as _store_checkpoint
from llmobs_core.store import queries as q
from tests.store.helpers import (
    big_traces,
    fails_twice_with_one_warning,
    stored_span_count,
    trace_events,
)


def test_path_defaults_to_the_user_data_folder_then_env_then_argument(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store is llmobs/traces.db in the user's data folder whatever the cwd,
    LLMOBS_LOCAL_PATH beats it, an argument beats both, and the directory is created on first
    write."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMOBS_LOCAL_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert LocalStoreSink().path == tmp_path / "data" / "llmobs" / "traces.db"
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


def test_store_deleted_while_open_is_made_again(store: Path) -> None:
    """When the file is deleted under a running sink, the next batch starts a new store."""
    sink = LocalStoreSink(store)
    sink.send_spans(trace_events(2))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    sink.send_spans(trace_events(3))
    assert stored_span_count(store) == 3


# -- checkpoints --------------------------------------------------------------------------------

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


# -- schema versions ----------------------------------------------------------------------------

def test_store_from_before_the_first_release_is_refused(store: Path, warnings_logged) -> None:
    """A store in the layout of llmobs before 0.1.0 (schema 1) is left alone: writing fails
    with one warning saying to move it away, and reading says why it cannot."""
    store.parent.mkdir()
    with sqlite3.connect(store) as conn:
        conn.execute("CREATE TABLE spans (id INTEGER PRIMARY KEY, event TEXT)")
        conn.execute("PRAGMA user_version = 1")
    fails_twice_with_one_warning(LocalStoreSink(store), warnings_logged, "before 0.1.0")
    with pytest.raises(sqlite3.DatabaseError, match="before 0.1.0"):
        q.list_traces(store)
