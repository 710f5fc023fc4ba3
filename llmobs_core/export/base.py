"""The contract between the writer thread and a sink.

A sink receives plain dicts in WIRE.md's Datadog shapes: span events (the inner span object,
not the intake envelope) and evaluation metrics. Sinks are called from the writer thread
only, one batch at a time, so they need no locking of their own. A sink may raise: the
writer counts the batch as dropped for reason "sink_error", logs the failure unless the sink
raised a SinkError (which it has logged itself), and goes on.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

Event = dict[str, Any]


class SinkError(Exception):
    """A batch could not be delivered. The sink has logged the condition (rate-limited), so
    the writer counts the batch as dropped ("sink_error") without logging it again; the next
    batch tries again."""

    already_logged = True


@runtime_checkable
class Sink(Protocol):
    def send_spans(self, events: list[Event]) -> None: ...

    def send_evaluations(self, metrics: list[Event]) -> None: ...

    def shutdown(self) -> None: ...
