"""A sink that holds every batch until the test opens its gate: what a stuck sink looks like
to the writer, on demand."""

from __future__ import annotations

import threading

from llmobs_core.export.memory import MemorySink


class GatedSink(MemorySink):
    """Keeps what it is sent, once `gate` is set (each batch waits for it, 30 s at most)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def send_spans(self, events):
        self.gate.wait(30)
        super().send_spans(events)
