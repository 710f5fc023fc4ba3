"""For testing instrumented code: capture() records every span event and evaluation in memory,
in exactly the shape the Datadog intake receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .api import LLMObs
from .export.memory import MemorySink
from .tracer import state


class Captured:
    """What capture() yields. Reading .spans or .evaluations first flushes the writer, so what
    was finished before the read is there."""

    def __init__(self, sink: MemorySink) -> None:
        self._sink = sink

    @property
    def spans(self) -> list[dict[str, Any]]:
        LLMObs.flush()
        return list(self._sink.spans)

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        LLMObs.flush()
        return list(self._sink.evaluations)

    def clear(self) -> None:
        LLMObs.flush()
        self._sink.clear()

    def by_name(self, name: str) -> dict[str, Any]:
        """The one span event called `name`; fails if there is not exactly one."""
        matches = [span for span in self.spans if span["name"] == name]
        if len(matches) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(matches)}")
        return matches[0]


@contextmanager
def capture(**enable_options: Any) -> Iterator[Captured]:
    """Enable llmobs with an in-memory sink (plus any enable() options) for the block; the
    configuration that was active before is restored after it."""
    sink = MemorySink()
    previous = state.tracer
    state.tracer = None
    LLMObs.enable(exporter=sink, **enable_options)
    captured = Captured(sink)
    try:
        yield captured
    finally:
        LLMObs.flush()
        tracer, state.tracer = state.tracer, previous
        if tracer is not None:
            tracer.shutdown()
