"""The writer: one per process, shared by every sink. Callers append finished spans and
evaluations to a bounded deque (no I/O, no encoding, no lock on that path); a daemon thread
batches them, builds events, runs the user's span processor and hands batches to the sinks."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .._faults import capture_faults
from .._log import log, warn_limited
from ..span import SpanRecord
from .base import Event, Sink, SpanEvents
from .events import EventBuilder

DROP_REASONS = ("queue_full", "oversize", "span_processor", "sink_error")
_live_writers: weakref.WeakSet[Writer] = weakref.WeakSet()
_WARN_EVERY_S = 60.0


class _FlushMarker:
    """Put in the queue by flush(): when the thread reaches it, all before it has been handled."""

    __slots__ = ("done", "callbacks")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.callbacks: list[Callable[[], None]] = []

    def release(self) -> None:
        self.done.set()
        for callback in self.callbacks:
            callback()


class Writer:
    def __init__(
        self,
        sinks: Sequence[Sink],
        static_tags: list[str],
        span_processor: Callable[[Event], Event | None] | None = None,
        max_queue: int = 64_000,
        batch_size: int = 1_000,
        max_batch: int = 10_000,
        interval: float = 1.0,
    ) -> None:
        self.sinks = list(sinks)
        self._events = EventBuilder(static_tags)
        self._span_processor = span_processor
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._max_batch = max_batch
        self._interval = interval
        self._reset_state()
        self._stopped = False
        _live_writers.add(self)

    def _reset_state(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._counts_lock = threading.Lock()
        self._taken = 0
        self._sent = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._last_warned_drops = 0
        self._last_warning = 0.0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def after_fork_in_child(self) -> None:
        # The parent keeps and sends what it had buffered; the child starts empty.
        self._reset_state()

    # -- the caller's side ---------------------------------------------------------------------

    def enqueue(self, item: SpanRecord | Event) -> None:
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._count_drop("queue_full")
            return
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Deliver everything enqueued before this call; False if `timeout` passed first."""
        marker = self._request_flush()
        return marker.done.wait(timeout) if marker else True

    def flush_marker(self) -> _FlushMarker | None:
        return self._request_flush()

    def _request_flush(self) -> _FlushMarker | None:
        if self._stopped or threading.current_thread() is self._thread:
            return None
        marker = _FlushMarker()
        self._queue.append(marker)
        if self._thread is None:
            self._start()
        self._wake.set()
        return marker

    def stats(self) -> dict[str, Any]:
        with self._counts_lock:
            dropped = dict(self._dropped)
            sent, taken = self._sent, self._taken
        pending = sum(1 for item in list(self._queue) if not isinstance(item, _FlushMarker))
        return {"enqueued": taken + pending, "sent": sent, "pending": pending,
                "dropped": dropped}

    def shutdown(self, timeout: float) -> None:
        """Drain with a deadline, then close the sinks. Safe to call more than once."""
        if self._stopped:
            return
        if self._thread is not None and self._pid == os.getpid():
            self.flush(timeout)
        self._stopped = True
        self._wake.set()
        for sink in self.sinks:
            try:
                sink.shutdown()
            except Exception:
                log.warning("llmobs: sink %r failed to shut down", sink, exc_info=True)

    # -- the thread's side ---------------------------------------------------------------------

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="llmobs-writer", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            with capture_faults("writer"):  # the thread must outlive any fault of ours
                self._drain()
            self._warn_about_drops()

    def _drain(self) -> None:
        queue = self._queue
        # Events are built as sinks read them (SpanEvents), unless a span processor must see
        # them first or several sinks would each build them again.
        build_now = self._span_processor is not None or len(self.sinks) > 1
        # Everything queued before the wake (flush markers included) goes now; what arrives
        # meanwhile waits for the next wake unless it makes a full batch. Draining on while
        # anything at all is queued made a busy server's writer send a small batch after
        # every other, each paying a transaction and many GIL hand-offs with the event loop.
        owed = len(queue)
        while queue and (owed > 0 or len(queue) >= self._batch_size):
            records: list[SpanRecord] = []
            evaluations: list[Event] = []
            marker = None
            for _ in range(self._batch_length(len(queue))):  # only this thread pops
                item = queue.popleft()
                item_type = type(item)
                if item_type is tuple:  # a finished span's record
                    records.append(item)
                elif item_type is _FlushMarker:
                    marker = item
                    break
                else:
                    evaluations.append(item)
            taken = len(records) + len(evaluations)
            owed -= taken + (marker is not None)
            with self._counts_lock:
                self._taken += taken
            if records:
                self._send(self._built(records) if build_now else
                           SpanEvents(records, self._events.build), "send_spans")
            if evaluations:
                self._send(evaluations, "send_evaluations")
            if marker is not None:
                marker.release()

    def _built(self, records: list[SpanRecord]) -> list[Event]:
        build = self._events.build
        processor = self._span_processor
        if processor is None:
            return [build(record) for record in records]
        events = []
        for record in records:
            event = self._processed(processor, build(record))
            if event is not None:
                events.append(event)
        return events

    def _batch_length(self, backlog: int) -> int:
        """batch_size events normally; with a backlog, up to max_batch. Every call a sink makes
        into I/O releases the GIL, and a thread that releases it to a busy caller waits a whole
        switch interval (5 ms) to get it back: bigger batches pay that wait far less often, so
        the writer keeps up with a tight loop instead of falling behind it."""
        if backlog <= self._batch_size:
            return backlog
        return min(backlog, max(self._batch_size, backlog // 2), self._max_batch)

    def _processed(self, processor: Callable[[Event], Event | None], event: Event) -> Event | None:
        try:
            processed = processor(event)
        except Exception:
            warn_limited("writer.processor", "llmobs: span_processor raised; the span was dropped",
                         level=30)
            processed = None
        if processed is None:
            self._count_drop("span_processor")
        return processed

    def _send(self, batch: Sequence[Event], method: str) -> None:
        if not batch:
            return
        delivered = False
        for sink in self.sinks:
            try:
                getattr(sink, method)(batch)
                delivered = True
            except Exception as exc:
                if getattr(exc, "already_logged", False):
                    continue
                warn_limited(f"sink.{type(sink).__name__}",
                             "llmobs: %s failed (%s: %s); %d events dropped",
                             type(sink).__name__, type(exc).__name__, exc, len(batch))
        if delivered:
            with self._counts_lock:
                self._sent += len(batch)
        else:
            self._count_drop("sink_error", len(batch))

    def _count_drop(self, reason: str, n: int = 1) -> None:
        with self._counts_lock:
            self._dropped[reason] += n

    def _warn_about_drops(self) -> None:
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            return
        with self._counts_lock:
            total = sum(self._dropped.values())
            dropped = dict(self._dropped)
        if total > self._last_warned_drops:
            self._last_warning = now
            self._last_warned_drops = total
            log.warning("llmobs: %d spans or evaluations dropped so far %s; see LLMObs.stats()",
                        total, {k: v for k, v in dropped.items() if v})


def _reset_writers_in_child() -> None:
    for writer in list(_live_writers):
        writer.after_fork_in_child()


os.register_at_fork(after_in_child=_reset_writers_in_child)
