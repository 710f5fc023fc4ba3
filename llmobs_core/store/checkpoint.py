"""Checkpoints of the local store's write-ahead log, off the writer's thread.

At a checkpoint SQLite copies the log into the database file and syncs both to disk. Done by
the writer after a commit (SQLite's default), that copy and the waits for the disk took more
of the writer's time than storing the spans. So the sink's connection does no checkpoints:
once about CHECKPOINT_EVERY bytes have been committed, a thread of the sink's own runs one on
a short-lived connection, while the writer goes on (SQLite lets one checkpoint run beside
writers, and releases the GIL meanwhile). The log only starts over once a checkpoint has
copied all of it, which a writer that never pauses may not allow: past LOG_LIMIT bytes since
the last complete checkpoint, the writer runs one itself.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .._log import warn_limited

CHECKPOINT_EVERY = 16 << 20
LOG_LIMIT = 64 << 20
_FORK_WAIT_S = 2.0


class Checkpoints:
    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._reset()

    def _reset(self) -> None:
        self._wake = threading.Event()
        self._running = threading.Lock()  # held by a checkpoint, and across a fork
        self._held_for_fork = False
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._since_request = 0
        self._since_complete = 0

    def committed(self, conn: sqlite3.Connection, size: int) -> None:
        """After the writer's commit of about `size` bytes, on its connection."""
        self._since_request += size
        self._since_complete += size
        if self._since_complete >= LOG_LIMIT:
            self._checkpoint(conn)
        elif self._since_request >= CHECKPOINT_EVERY and not self._stopped:
            self._since_request = 0
            if self._thread is None and not self._start_thread():
                self._checkpoint(conn)
                return
            self._wake.set()

    def _start_thread(self) -> bool:
        """False when no thread can be started: Python 3.12 refuses new threads once the
        interpreter is shutting down, and the first checkpoint may come in the exit drain."""
        thread = threading.Thread(target=self._run, daemon=True, name="llmobs-store-checkpoint")
        try:
            thread.start()
        except RuntimeError:
            return False
        self._thread = thread
        return True

    def stop(self, timeout: float) -> None:
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def hold_for_fork(self) -> None:
        self._held_for_fork = self._running.acquire(timeout=_FORK_WAIT_S)

    def release_after_fork(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._running.release()

    def reset_in_child(self) -> None:
        self._reset()  # the thread did not come across the fork

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopped:
                return
            try:
                # mode=rw: a store deleted meanwhile is not made again, empty, by this thread.
                conn = sqlite3.connect(f"{self._path.as_uri()}?mode=rw", uri=True,
                                       timeout=self._timeout, isolation_level=None,
                                       check_same_thread=False)
            except sqlite3.Error as exc:
                self._warn(exc)
                continue
            try:
                self._checkpoint(conn)
            finally:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        with self._running:
            try:
                busy, log_frames, copied = conn.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                self._warn(exc)
                return
        if not busy and log_frames == copied:
            self._since_complete = 0

    def _warn(self, exc: sqlite3.Error) -> None:
        warn_limited(f"local_store.checkpoint.{self._path}",
                     "llmobs: a checkpoint of the local trace store %s failed: %s",
                     self._path, exc)
