"""The contract between the writer thread and a sink.

A sink receives plain dicts in the Datadog shapes of docs/wire-formats.md: span events (the
inner span object, not the intake envelope) and evaluation metrics. Span events come in a
SpanEvents sequence that builds each event as it is read: a sink that encodes them one by one
never holds a batch of dicts (which the cyclic GC would scan again and again), and one that
does not look at them builds nothing. Sinks are called from the writer thread only, one batch
at a time, so they need no locking of their own.

A sink may raise. SinkError or OSError (the intake is down, the store is locked) means the
batch could not be delivered: the writer counts it as dropped ("sink_error") and goes on. Any
other exception may be one event's fault: the writer gives the sink the batch again without the
events it cannot build, then halves what still fails, so one bad event costs only itself
("unencodable"). So a sink should deliver a batch whole or not at all; one that delivers part
of a batch before it fails raises PartialDelivery, saying which events it left out.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, Protocol, overload, runtime_checkable

from ..span_events import EventBuilder

Event = dict[str, Any]


@lru_cache(maxsize=1)
def tracer_version() -> str:
    """This library's version, as the remote sinks announce it (Datadog's _dd.tracer_version,
    the OTLP instrumentation scope)."""
    try:
        return importlib.metadata.version("llmobs")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class SpanEvents(Sequence[Event]):
    """A batch of span events, each built from its finished span's record when it is read,
    and built again at each read: iterate once, or take list(events)."""

    __slots__ = ("_records", "_build")

    def __init__(self, records: list[Any], build: Callable[[Any], Event]) -> None:
        self._records = records
        self._build = build

    @property
    def records(self) -> list[Any]:
        return self._records

    @property
    def build(self) -> Callable[[Any], Event]:
        """What builds an event from a record: the writer's EventBuilder.build, through which
        the Datadog sink finds the builder whose events it can encode from the records."""
        return self._build

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Event]:
        return map(self._build, self._records)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return list(map(self._build, self._records[index]))
        return self._build(self._records[index])

    def __repr__(self) -> str:
        return f"<SpanEvents of {len(self._records)}>"


def builder_of(events: Sequence[Event]) -> EventBuilder | None:
    """The EventBuilder that builds `events` as they are read, when they are the writer's
    SpanEvents: a sink may then encode their records without building the events."""
    if type(events) is SpanEvents:
        builder = getattr(events.build, "__self__", None)
        if type(builder) is EventBuilder:
            return builder
    return None


class SinkError(Exception):
    """A batch could not be delivered. The sink has logged the condition (rate-limited), so
    the writer counts the batch as dropped ("sink_error") without logging it again; the next
    batch tries again."""

    already_logged = True


class PartialDelivery(Exception):
    """A sink delivered part of a batch: `undelivered` maps the index of each event it left
    out to why, "unencodable" (the event itself could not be sent) or "sink_error" (the intake
    failed before it was sent). The writer counts those and never gives the batch again; it
    logs the problem unless `already_logged` is true."""

    def __init__(self, undelivered: dict[int, str], problem: str = "",
                 already_logged: bool = False) -> None:
        super().__init__(problem or f"{len(undelivered)} events left out")
        self.undelivered = undelivered
        self.already_logged = already_logged


@runtime_checkable
class Sink(Protocol):
    def send_spans(self, events: Sequence[Event]) -> None: ...

    def send_evaluations(self, metrics: list[Event]) -> None: ...

    def shutdown(self) -> None: ...
