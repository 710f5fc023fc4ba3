"""The viewer's side indexes, kept up to date by a process of `llmobs ui` while it serves: the
summary index of sessions and dropdown values (store/summary_index.py), then the free-text
index (store/text_index.py), half a second of work at a time."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from ..._log import warn_limited
from ...store import summary_index, text_index
from ...store.reading import StorePath

_WORK_S = 0.5  # indexing at a stretch (its transactions stay short: a step at a time)
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
    """The indexing loop in a process of its own (spawned: nothing of the server's threads is
    copied), so that its Python work never holds the GIL a request thread waits for: in a
    thread of the server, every page waited for it, again after each SQLite call. It stops
    with the server, or by itself once the server's process is gone."""

    def __init__(self, path: StorePath) -> None:
        self._path = path
        self._process: Any = None
        self._stop: Any = None

    def start(self) -> None:
        if self._process is None:
            context = multiprocessing.get_context("spawn")
            self._stop = context.Event()
            self._process = context.Process(target=run, args=(self._path, self._stop,
                                                              os.getpid()),
                                            name="llmobs-viewer-index", daemon=True)
            self._process.start()

    def stop(self) -> None:
        if self._process is not None:
            self._stop.set()
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)


def run(path: StorePath, stop: Any, parent: int) -> None:
    """The loop of the indexing process: until `stop` is set or `parent` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the server stops it
    with contextlib.suppress(OSError, AttributeError):  # background work: pages come first
        os.nice(10)
    paused: dict[str, float] = {}  # index: when to try it again after a failure
    while not stop.is_set() and os.getppid() == parent:
        pause = _IDLE_S
        for name, (work, meanwhile) in _INDEXES.items():
            if paused.get(name, 0) > time.monotonic():
                continue
            left = _work(path, name, work, meanwhile, paused)
            if left != _DONE:
                pause = 0.05
            if left == _FIRST:
                break
        stop.wait(pause)


def _work(path: StorePath, name: str, work: Callable[[StorePath], int], meanwhile: str,
          paused: dict[str, float]) -> int:
    try:
        return work(path)
    except FileNotFoundError:  # no store yet
        return _DONE
    except (sqlite3.Error, OSError, ValueError) as exc:
        warn_limited(f"viewer.{name}_index.{path}",
                     "llmobs ui: cannot update the %s index (%s); %s", name, exc, meanwhile)
        paused[name] = time.monotonic() + 30.0
        return _DONE
