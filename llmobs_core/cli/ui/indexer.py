"""The viewer's free-text index, kept up to date by a thread of `llmobs ui` while it serves:
a few hundred milliseconds of indexing at a time, newest rows first (store/text_index.py)."""

from __future__ import annotations

import sqlite3
import threading

from ..._log import warn_limited
from ...store import text_index
from ...store.reading import StorePath

_WORK_S = 0.5  # indexing at a stretch, so request threads get the GIL often enough
_IDLE_S = 1.0  # the pause once every row is indexed


class TextIndexer:
    def __init__(self, path: StorePath) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="llmobs-text-index",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = _IDLE_S
            try:
                found = text_index.refresh(self._path, _WORK_S)
                if found.missing_traces:
                    pause = 0.05
            except FileNotFoundError:  # no store yet
                pass
            except (sqlite3.Error, OSError) as exc:
                warn_limited(f"viewer.text_index.{self._path}",
                             "llmobs ui: cannot update the free-text index (%s); text search"
                             " reads the store instead", exc)
                pause = 30.0
            self._stop.wait(pause)
