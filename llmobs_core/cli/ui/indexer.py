"""The viewer's side indexes, kept up to date by a thread of `llmobs ui` while it serves: the
summary index of sessions and dropdown values (store/summary_index.py), then the free-text
index (store/text_index.py), half a second of work at a time."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

from ..._log import warn_limited
from ...store import summary_index, text_index
from ...store.reading import StorePath

_WORK_S = 0.5  # indexing at a stretch, so request threads get the GIL often enough
_IDLE_S = 1.0  # the pause once every row is indexed


_DONE, _MORE, _FIRST = 0, 1, 2  # after a stretch: all done, more to do, do it before the others


def _text(path: StorePath) -> int:
    return _MORE if text_index.refresh(path, _WORK_S).missing_traces else _DONE


def _summary(path: StorePath) -> int:
    done = summary_index.refresh(path, _WORK_S)
    return _FIRST if not done.built else _MORE if done.more else _DONE


# name: (one stretch of work, what a reader does meanwhile). Until the summary index is first
# built the text index waits: the Sessions page summed from the store takes seconds on a large
# one, where a text search reads it for at most 0.1 s.
_INDEXES: dict[str, tuple[Callable[[StorePath], int], str]] = {
    "summary": (_summary, "sessions and dropdown values are summed from the store"),
    "text": (_text, "text search reads the store instead"),
}


class Indexer:
    def __init__(self, path: StorePath) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._paused: dict[str, float] = {}  # index: when to try it again after a failure

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="llmobs-viewer-index",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = _IDLE_S
            for name, (work, meanwhile) in _INDEXES.items():
                if self._paused.get(name, 0) > time.monotonic():
                    continue
                left = self._work(name, work, meanwhile)
                if left != _DONE:
                    pause = 0.05
                if left == _FIRST:
                    break
            self._stop.wait(pause)

    def _work(self, name: str, work: Callable[[StorePath], int], meanwhile: str) -> int:
        try:
            return work(self._path)
        except FileNotFoundError:  # no store yet
            return _DONE
        except (sqlite3.Error, OSError, ValueError) as exc:
            warn_limited(f"viewer.{name}_index.{self._path}",
                         "llmobs ui: cannot update the %s index (%s); %s", name, exc, meanwhile)
            self._paused[name] = time.monotonic() + 30.0
            return _DONE
