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
        with self._lock:
            self.spans.extend(events)

    def send_evaluations(self, metrics: list[Event]) -> None:
        with self._lock:
            self.evaluations.extend(metrics)

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()
            self.evaluations.clear()

    def shutdown(self) -> None:
        return None
