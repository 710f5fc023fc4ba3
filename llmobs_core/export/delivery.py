"""One batch from the writer to every sink, each event isolated: an event that cannot be built,
that the span processor rejects, or that a sink cannot take costs that event only, and every
event is counted once, as sent or as dropped for a named reason.

An event is *sent* when at least one sink took it. It is dropped when none did: "unencodable"
if some sink (or the event builder) failed on it alone, else "sink_error". Each sink's own
counts are kept beside, so a sink that lost what another delivered still shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from .._faults import safe_str
from .._log import warn_limited
from ..processors import ProcessorSpan
from .base import Event, PartialDelivery, Sink, SpanEvents

Undelivered = dict[int, str]  # index in the batch -> why it was not delivered
# Failing calls a batch may cost while its bad events are searched for: a sink that fails on
# everything must not be called thousands of times a batch. What is left counts as sink_error.
_SEARCH_BUDGET: Final = 64


class Tally:
    """What became of one batch's records."""

    __slots__ = ("sent", "dropped")

    def __init__(self) -> None:
        self.sent = 0
        self.dropped: dict[str, int] = {}

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


def sink_names(sinks: Sequence[Sink]) -> list[str]:
    """A name per sink for stats(): its class name, numbered when a class appears twice."""
    names: list[str] = []
    for sink in sinks:
        name = type(sink).__name__
        names.append(name if name not in names else f"{name}#{names.count(name) + 1}")
    return names


def _is_delivery_failure(exc: BaseException) -> bool:
    """Whether the sink failed as a whole (down, locked, refused) rather than on an event."""
    return getattr(exc, "already_logged", False) or isinstance(exc, OSError) or (
        type(exc).__name__ == "DeliveryError")


class Delivery:
    def __init__(self, sinks: Sequence[Sink], build: Callable[[Any], Event],
                 processor: Callable[[Event], Event | None] | None) -> None:
        self.sinks = list(sinks)
        self.names = sink_names(self.sinks)
        self.sink_counts = {name: {"sent": 0, "dropped": 0} for name in self.names}
        self._build = build
        self.set_processor(processor)

    def set_processor(self, processor: Callable[[Event], Event | None] | None) -> None:
        self._processor = processor
        # Unless a span processor must see the events first, each sink gets the records in a
        # SpanEvents, which builds events as the sink reads them: a sink that stores records
        # (the local store) builds none, and a sink that fails on an event costs only itself.
        self._lazy = processor is None

    def spans(self, records: list[Any], tally: Tally) -> None:
        if not self._lazy:
            self._to_every_sink(self._built(records, tally), "send_spans", tally)
            return
        rebuilt: list[Any] = []  # the events and their records' indexes, once a sink needs them
        results = [self._send_lazily(sink, records, rebuilt) for sink in self.sinks]
        self._count(tally, results, len(records))

    def _send_lazily(self, sink: Sink, records: list[Any],
                     rebuilt: list[Any]) -> Undelivered | None:
        try:
            sink.send_spans(SpanEvents(records, self._build))
        except Exception as exc:
            if isinstance(exc, PartialDelivery) or _is_delivery_failure(exc):
                return self._failed(sink, exc, len(records))
            # Maybe one event's fault: again without what cannot be built, then narrowed down.
            if not rebuilt:
                rebuilt.append(self._built_with_indexes(records))
            events, indexes, unbuilt = rebuilt[0]
            found = self._search(sink, "send_spans", events, whole_failed=False) or {}
            undelivered = {indexes[index]: why for index, why in found.items()}
            undelivered.update(dict.fromkeys(unbuilt, "unencodable"))
            return undelivered
        return None

    def evaluations(self, metrics: list[Event], tally: Tally) -> None:
        self._to_every_sink(metrics, "send_evaluations", tally)

    # -- building ------------------------------------------------------------------------------

    def _built_with_indexes(self, records: list[Any]) -> tuple[list[Event], list[int], list[int]]:
        """The events that can be built, the index of each one's record, and the indexes of
        the records that cannot be built (each logged)."""
        events, indexes, unbuilt = [], [], []
        for index, record in enumerate(records):
            try:
                events.append(self._build(record))
            except Exception as exc:
                unbuilt.append(index)
                _warn_unbuildable(exc)
                continue
            indexes.append(index)
        return events, indexes, unbuilt

    def _built(self, records: list[Any], tally: Tally) -> list[Event]:
        build, processor = self._build, self._processor
        events = []
        for record in records:
            try:
                event = build(record)
            except Exception as exc:
                tally.drop("unencodable")
                _warn_unbuildable(exc)
                continue
            if processor is not None:
                processed = _processed(processor, event, tally)
                if processed is None:
                    continue
                event = processed
            events.append(event)
        return events

    # -- sending -------------------------------------------------------------------------------

    def _to_every_sink(self, batch: list[Event], method: str, tally: Tally) -> None:
        if not batch:
            return
        results = [self._send(sink, method, batch) for sink in self.sinks]
        self._count(tally, results, len(batch))

    def _send(self, sink: Sink, method: str, batch: list[Event]) -> Undelivered | None:
        try:
            getattr(sink, method)(batch)
        except Exception as exc:
            if isinstance(exc, PartialDelivery) or _is_delivery_failure(exc):
                return self._failed(sink, exc, len(batch))
            return self._search(sink, method, batch, whole_failed=True)
        return None

    def _failed(self, sink: Sink, exc: Exception, n: int) -> Undelivered:
        if isinstance(exc, PartialDelivery):
            undelivered = exc.undelivered
        else:
            undelivered = dict.fromkeys(range(n), "sink_error")
        if not getattr(exc, "already_logged", False):
            shown = exc.__cause__ if isinstance(exc, PartialDelivery) and exc.__cause__ else exc
            warn_limited(f"sink.{type(sink).__name__}", "llmobs: %s failed (%s: %s); %d events "
                         "dropped", type(sink).__name__, type(shown).__name__, safe_str(exc),
                         len(undelivered))
        return undelivered

    def _search(self, sink: Sink, method: str, batch: list[Event],
                whole_failed: bool) -> Undelivered | None:
        """Find the events a sink fails on, by halving the parts that fail: k bad events in a
        batch of n cost about 2·k·log2(n) calls. Each one found is dropped alone."""
        undelivered: Undelivered = {}
        if whole_failed:
            failing = [(0, len(batch))]
        else:
            failing, undelivered = self._try_part(sink, method, batch, 0, len(batch))
            if not failing and not undelivered:
                return None
        budget = _SEARCH_BUDGET
        while failing:
            start, end = failing.pop()
            if end - start == 1:
                undelivered[start] = "unencodable"
                continue
            middle = (start + end) // 2
            for low, high in ((start, middle), (middle, end)):
                if budget <= 0:
                    undelivered.update(dict.fromkeys(range(low, high), "sink_error"))
                    continue
                more_failing, left_out = self._try_part(sink, method, batch, low, high)
                budget -= len(more_failing)
                failing += more_failing
                undelivered.update(left_out)
        return undelivered

    def _try_part(self, sink: Sink, method: str, batch: list[Event], low: int,
                  high: int) -> tuple[list[tuple[int, int]], Undelivered]:
        """Send batch[low:high]: the range back if it failed on an event, else what was left
        out of it."""
        try:
            getattr(sink, method)(batch[low:high])
        except Exception as exc:
            if isinstance(exc, PartialDelivery) or _is_delivery_failure(exc):
                left_out = self._failed(sink, exc, high - low)
                return [], {low + index: why for index, why in left_out.items()}
            if high - low == 1:
                warn_limited(f"sink.{type(sink).__name__}.event", "llmobs: %s could not take "
                             "an event (%s: %s); it was dropped, the rest of its batch was not",
                             type(sink).__name__, type(exc).__name__, safe_str(exc))
            return [(low, high)], {}
        return [], {}

    def _count(self, tally: Tally, results: list[Undelivered | None], n: int) -> None:
        for name, undelivered in zip(self.names, results):
            lost = len(undelivered) if undelivered else 0
            counts = self.sink_counts[name]
            counts["sent"] += n - lost
            counts["dropped"] += lost
        if any(not undelivered for undelivered in results):
            tally.sent += n
            return
        for index in range(n):
            reasons = [undelivered.get(index) for undelivered in results]  # type: ignore[union-attr]
            if None in reasons:
                tally.sent += 1
            else:
                tally.drop("unencodable" if "unencodable" in reasons else "sink_error")


def _warn_unbuildable(exc: Exception) -> None:
    warn_limited("writer.build", "llmobs: a span could not be turned into an event (%s: %s); "
                 "it was dropped", type(exc).__name__, safe_str(exc))


def _processed(processor: Callable[[Event], Event | None], event: Event,
               tally: Tally) -> Event | None:
    try:
        processed = processor(ProcessorSpan(event))
        if type(processed) is ProcessorSpan:
            processed = processed.to_event()
    except Exception as exc:
        warn_limited("writer.processor", "llmobs: span_processor raised (%s: %s); the span was "
                     "dropped", type(exc).__name__, safe_str(exc))
        processed = None
    else:
        if processed is not None and type(processed) is not dict:
            warn_limited("writer.processor.type", "llmobs: span_processor returned %s, not an "
                         "event dict or None; the span was dropped", type(processed).__name__)
            processed = None
    if processed is None:
        tally.drop("span_processor")
    return processed
