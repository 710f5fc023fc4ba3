"""A sink that keeps every event in lists: for tests, the user's and ours."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .base import Event


class MemorySink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[Event] = []
        self.evaluations: list[Event] = []

    def send_spans(self, events: Sequence[Event]) -> None:
        batch = list(events)  # whole or not at all: the writer may give a failed batch again
        with self._lock:
            self.spans.extend(batch)

    def send_evaluations(self, metrics: list[Event]) -> None:
        batch = list(metrics)
        with self._lock:
            self.evaluations.extend(batch)

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.evaluations.clear()

    def shutdown(self) -> None:
        return None
