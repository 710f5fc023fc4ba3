"""The embedded default sink: spans and evaluations in a local SQLite file that the `llmobs`
command reads. Several processes (a web server and its forked workers) may write to the same
file at once: WAL mode lets readers go on while one writer commits, and a busy timeout makes
the other writers wait for their turn instead of failing. How spans are laid out, and why:
docs/local-store.md; why checkpoints run on a thread of their own: store/checkpoint.py."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .._log import log, warn_limited
from ..store.checkpoint import Checkpoints
from ..store.inbox import pack
from ..store.location import resolve_store_path
from ..store.retention import prune
from ..store.tags import TagSets
from ..store.traces import group_by_trace
from ..store.write import (
    StoreTooNew,
    StoreTooOld,
    insert_evaluations,
    insert_inbox,
    insert_spans,
    open_store,
    write_transaction,
)
from .base import Event, SinkError, SpanEvents, builder_of

__all__ = ["LocalStoreSink", "SinkError"]

MAX_SPANS_ENV = "LLMOBS_LOCAL_MAX_SPANS"
MAX_DAYS_ENV = "LLMOBS_LOCAL_MAX_DAYS"
DEFAULT_MAX_SPANS = 1_000_000
DEFAULT_MAX_DAYS = 30.0
_PRUNE_CHECK_EVERY = 10_000  # spans stored by this process between two retention checks

_FORK_WAIT_S = 2.0  # how long a fork waits for a batch in progress before going ahead
_SHUTDOWN_WAIT_S = 1.0  # how long shutdown waits for a batch in progress to end
_INDEX_BYTES_PER_TRACE = 1_000  # roughly what a trace adds to the log beside its spans

T = TypeVar("T")

# SQLite keeps its lock bookkeeping per process and file, and a forked child inherits the
# parent's copy while not holding the parent's locks: a child then writing through a new
# connection holds no real lock, so the parent closing its connection takes itself for the last
# user and deletes the WAL under the child (whose later spans are lost). So sinks close their
# connection before a fork, and both sides reopen on their next batch.
_live_sinks: weakref.WeakSet[LocalStoreSink] = weakref.WeakSet()
# When a batch was still running at fork time, the child cannot close the connection it
# inherited (that could delete the parent's WAL) and must not use it: it is kept here, so the
# garbage collector does not close it either.
_inherited_connections: list[sqlite3.Connection] = []


def _before_fork() -> None:
    for sink in list(_live_sinks):
        sink._close_for_fork()


def _after_fork_in_parent() -> None:
    for sink in list(_live_sinks):
        sink._release_after_fork()


def _after_fork_in_child() -> None:
    for sink in list(_live_sinks):
        sink._reset_in_child()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


class LocalStoreSink:
    """Stores span events and evaluation metrics in SQLite at `path` (default: LLMOBS_LOCAL_PATH,
    else llmobs/traces.db in the user data folder). Retention keeps at most `max_spans`
    spans (LLMOBS_LOCAL_MAX_SPANS, default 1,000,000) and nothing older than `max_age_days`
    (LLMOBS_LOCAL_MAX_DAYS, default 30), deleting whole traces, oldest first; 0 means no limit.
    `timeout` is how long, in seconds, a write waits for another process's write to finish."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        max_spans: int | None = None,
        max_age_days: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.path: Path = resolve_store_path(path)
        self.max_spans: int = _limit(max_spans, MAX_SPANS_ENV, DEFAULT_MAX_SPANS, int)
        self.max_age_days: float = _limit(max_age_days, MAX_DAYS_ENV, DEFAULT_MAX_DAYS, float)
        self.timeout = timeout
        self._prune_every = (min(_PRUNE_CHECK_EVERY, max(1, self.max_spans // 10))
                             if self.max_spans else _PRUNE_CHECK_EVERY)
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._file_identity: tuple[int, int] | None = None
        self._tag_sets = TagSets()
        self._static_tags: list[str] | None = None
        self._static_tags_json = "[]"
        self._stored_since_prune = self._prune_every  # check retention on the first batch
        self._failing = False
        self._in_use = threading.Lock()  # held by a batch, by shutdown, and across a fork
        self._held_for_fork = False
        self._stopping = threading.Event()  # set by shutdown: a batch stops waiting for a lock
        self._checkpoints = Checkpoints(self.path, timeout)
        _live_sinks.add(self)

    def __repr__(self) -> str:
        return f"LocalStoreSink({str(self.path)!r})"

    def send_spans(self, events: Sequence[Event]) -> None:
        """Span records (a SpanEvents batch the writer's event builder would build) go to the
        inbox, as they are, for a reader to settle; built events are stored as traces."""
        if not events:
            return
        now_ns = time.time_ns()
        builder = _writers_builder(events)
        if builder is not None:
            static_tags, build, records = builder
            packed = pack(records, build, now_ns)
            self._store(f"{len(events)} spans", lambda conn: insert_inbox(
                conn, packed, self._tags_json(static_tags), now_ns), len(packed.data))
            return
        groups = group_by_trace(events, now_ns)  # encoded before the write lock is taken
        written = sum(len(group.events) + _INDEX_BYTES_PER_TRACE for group in groups.values())
        self._store(f"{len(events)} spans", lambda conn: insert_spans(
            conn, groups, self._tag_sets), written)

    def _store(self, what: str, work: Callable[[sqlite3.Connection], int],
               written: int) -> None:
        with self._in_use:
            self._stopping.clear()  # a sink given to a new enable() after its shutdown
            stored = self._write(what, work)
            if self._connection is not None:
                self._checkpoints.committed(self._connection, written)
            self._stored_since_prune += stored
            if self._stored_since_prune >= self._prune_every:
                self._stored_since_prune = 0
                self._apply_retention()

    def _tags_json(self, static_tags: list[str]) -> str:
        if static_tags is not self._static_tags:  # one writer's list, the same at every batch
            self._static_tags, self._static_tags_json = static_tags, json.dumps(static_tags)
        return self._static_tags_json

    def send_evaluations(self, metrics: list[Event]) -> None:
        if metrics:
            with self._in_use:
                self._stopping.clear()
                self._write(f"{len(metrics)} evaluations",
                            lambda conn: insert_evaluations(conn, metrics))

    def shutdown(self) -> None:
        """Close the file, after the batch in progress if there is one. A batch waiting for
        another process's lock gives up (SinkError) instead of waiting out `timeout`."""
        self._stopping.set()
        self._checkpoints.stop(_SHUTDOWN_WAIT_S)
        if self._in_use.acquire(timeout=_SHUTDOWN_WAIT_S):
            try:
                self._forget_connection()
            finally:
                self._in_use.release()

    # -- fork --------------------------------------------------------------------------------

    def _close_for_fork(self) -> None:
        self._checkpoints.hold_for_fork()
        if self._connection is not None and self._in_use.acquire(timeout=_FORK_WAIT_S):
            self._held_for_fork = True
            self._forget_connection()

    def _release_after_fork(self) -> None:
        self._checkpoints.release_after_fork()
        if self._held_for_fork:
            self._held_for_fork = False
            self._in_use.release()

    def _reset_in_child(self) -> None:
        self._checkpoints.reset_in_child()
        self._in_use = threading.Lock()  # another thread may have held it at fork time
        self._held_for_fork = False

    # -- the connection ------------------------------------------------------------------------

    def _write(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._current_connection()
            with write_transaction(conn, self.timeout, self._stopping):
                result = work(conn)
        except (sqlite3.Error, OSError) as exc:
            self._forget_connection()
            condition, message = self._describe(exc)
            if condition == "locked" and self._stopping.is_set():
                # Shut down while waiting: the writer reports what it could not deliver.
                raise SinkError(f"shut down while {self.path} was locked; {what} dropped") \
                    from exc
            warn_limited(f"local_store.{condition}.{self.path}", "llmobs: %s; %s dropped",
                         message, what)
            self._failing = True
            raise SinkError(f"{message}; {what} dropped") from exc
        if self._failing:
            self._failing = False
            log.info("llmobs: the local trace store %s is writable again", self.path)
        return result

    def _current_connection(self) -> sqlite3.Connection:
        conn = self._connection
        if conn is not None and self._pid != os.getpid():
            _inherited_connections.append(conn)
            self._connection = conn = None
        if conn is not None and self._file_identity != _file_identity(self.path):
            self._forget_connection()  # the file was deleted or replaced under us
            conn = None
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = open_store(self.path, self.timeout, self._stopping)
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # see store/checkpoint.py
            self._connection, self._pid = conn, os.getpid()
            self._file_identity = _file_identity(self.path)
            self._tag_sets = TagSets()
        return conn

    def _forget_connection(self) -> None:
        conn, self._connection = self._connection, None
        self._tag_sets = TagSets()  # ids cached from a rolled-back transaction may not exist
        if conn is not None and self._pid == os.getpid():
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _apply_retention(self) -> None:
        conn = self._connection
        if conn is None:
            return
        try:
            prune(conn, self.max_spans, self.max_age_days, time.time_ns(), self.timeout)
        except sqlite3.Error as exc:
            warn_limited(f"local_store.prune.{self.path}",
                         "llmobs: could not prune the local trace store %s: %s", self.path, exc)

    def _describe(self, exc: BaseException) -> tuple[str, str]:
        """A short name for the condition (to log it once) and a message saying what to do."""
        path, text = self.path, str(exc).lower()
        if isinstance(exc, OSError):
            return "directory", (f"cannot create the directory {path.parent} for the local "
                                 f"trace store: {exc.strerror or exc}")
        if isinstance(exc, StoreTooNew):
            return "too_new", f"{path} was made by a newer llmobs ({exc}); upgrade llmobs"
        if isinstance(exc, StoreTooOld):
            return "too_old", (f"{path} was made by an llmobs from before 0.1.0 ({exc}); move "
                               "it away and a fresh store is made")
        if "disk is full" in text:
            return "full", f"the disk holding the local trace store {path} is full"
        if "not a database" in text or "malformed" in text:
            return "corrupt", (f"{path} is not an llmobs trace store (corrupt or not an SQLite "
                               "file); move it away and a fresh store is made")
        if "locked" in text or "busy" in text:
            return "locked", (f"the local trace store {path} stayed locked by another process "
                              f"for more than {self.timeout:g}s")
        if "readonly" in text or "unable to open" in text or "i/o error" in text:
            return "unwritable", f"cannot write the local trace store {path}: {exc}"
        return "error", f"the local trace store {path} failed: {exc}"


def _writers_builder(events: Sequence[Event]) -> tuple[list[str], Callable[[Any], Event],
                                                      list[Any]] | None:
    """The static tags and build method of the writer's EventBuilder behind a SpanEvents batch
    (a reader settling the records builds them with a builder given the same tags), and the
    records. None for events built already, or some other way: those are stored as events."""
    builder = builder_of(events)
    if builder is None or not isinstance(events, SpanEvents):
        return None
    return builder.static_tags, builder.build, events.records


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _limit(explicit: float | None, env_name: str, default: T, convert: Callable[[str], T]) -> T:
    """An explicit argument beats the environment, which beats the default."""
    if explicit is not None:
        return convert(explicit)  # type: ignore[arg-type]
    raw = os.environ.get(env_name, "").strip()
    if not raw:
        return default
    try:
        return convert(raw)
    except ValueError:
        warn_limited(env_name, "llmobs: %s=%r is not a number; using %s", env_name, raw, default)
        return default
