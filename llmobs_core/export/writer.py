"""The writer: one per process, shared by every sink. Callers append finished spans and
evaluations to a bounded deque (no I/O, no encoding, no lock on that path); a daemon thread
batches them, builds events, runs the user's span processor and hands batches to the sinks
(delivery.py). The queue is bounded by count and by an estimate of the bytes it holds, the
batch in flight included."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from .._faults import capture_faults
from .._log import log
from .._native import native
from ..sampling import SampledOut
from ..span import SpanRecord
from ..span_events import EventBuilder
from .base import Event, Sink
from .delivery import Delivery, Tally
from .sizes import evaluation_size, record_size

# Where the accelerator is built, queued records skip the garbage collector's passes
# (_writer_native.c says why that is safe).
UNTRACK: Final = native("llmobs_core.export._writer_native", "untrack")

DROP_REASONS: Final = ("queue_full", "queue_bytes", "span_processor", "unencodable",
                       "sink_error", "shutdown", "sampled_out")
MAX_QUEUE: Final = 64_000
MAX_QUEUE_BYTES: Final = 32 << 20
BATCH_BYTES: Final = 4 << 20
# After the drain's deadline, what sinks get to stop their batch in flight.
_SINK_STOP_S: Final = 0.5
# The writers not shut down yet, reset in a forked child. Strong references, each dropped by
# shutdown(): the compiled Writer (setup.py) cannot be weakly referenced, and every writer that
# enable() starts is shut down by disable() or at exit.
_running_writers: Final[set[Writer]] = set()
_WARN_EVERY_S: Final = 60.0


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
        max_queue: int = MAX_QUEUE,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
        batch_size: int = 1_000,
        max_batch: int = 10_000,
        batch_bytes: int = BATCH_BYTES,
        interval: float = 1.0,
    ) -> None:
        self.sinks = list(sinks)
        self._delivery = Delivery(self.sinks, EventBuilder(static_tags).build, span_processor)
        self._max_queue = max_queue
        self._max_bytes = max_queue_bytes
        self._batch_size = batch_size
        self._max_batch = max_batch
        self._batch_bytes = batch_bytes
        self._interval = interval
        self.sampled_out = SampledOut()  # counted on the caller's side, without the lock
        self._reset_state()
        self._stopped = False
        _running_writers.add(self)

    def _reset_state(self) -> None:
        # Entries: (record or evaluation, its estimated size), or a _FlushMarker.
        self._queue: deque[Any] = deque()
        self._bytes_in = 0  # added by callers
        self._bytes_out = 0  # taken off by the writer thread once a batch is handled
        self._wake = threading.Event()
        self._counts_lock = threading.Lock()
        self._taken = self._sent = self._in_flight = 0
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._abandoned = False
        self._delivery.sink_counts = {name: {"sent": 0, "dropped": 0}
                                      for name in self._delivery.names}
        self._last_warned_drops = 0
        self._last_warning = 0.0
        self._writer_thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.sampled_out.reset()

    def after_fork_in_child(self) -> None:
        # The parent keeps and sends what it had buffered; the child starts empty.
        self._reset_state()

    # -- the caller's side ---------------------------------------------------------------------

    def enqueue(self, item: SpanRecord | Event) -> None:
        queue = self._queue
        size = record_size(item) if type(item) is tuple else evaluation_size(item)  # type: ignore[arg-type]
        if len(queue) + self._in_flight >= self._max_queue:
            self._count_drop("queue_full")
            return
        if self._bytes_in - self._bytes_out + size > self._max_bytes:
            self._count_drop("queue_bytes")
            return
        if type(item) is tuple and UNTRACK is not None:
            UNTRACK(item)
        queue.append((item, size))
        self._bytes_in += size
        if self._writer_thread is None:
            self._start()
        elif len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def set_processor(self, processor: Callable[[Event], Event | None] | None) -> None:
        """Replace the span processor; batches taken after this use the new one."""
        self._delivery.set_processor(processor)

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until everything enqueued before this call is handled (delivered or dropped
        and counted); False if `timeout` passed first."""
        marker = self._request_flush()
        return marker.done.wait(timeout) if marker else True

    def flush_marker(self) -> _FlushMarker | None:
        return self._request_flush()

    def _request_flush(self) -> _FlushMarker | None:
        if self._stopped or threading.current_thread() is self._writer_thread:
            return None
        marker = _FlushMarker()
        self._queue.append(marker)
        if self._writer_thread is None:
            self._start()
        self._wake.set()
        return marker

    def stats(self) -> dict[str, Any]:
        """enqueued = sent + sum(dropped) + pending: every record handed to the writer is
        pending (queued, or in a batch being delivered), sent, or dropped for one reason."""
        with self._counts_lock:
            dropped = dict(self._dropped)
            sent, taken, in_flight = self._sent, self._taken, self._in_flight
            sinks = {name: dict(counts) for name, counts in self._delivery.sink_counts.items()}
            queued = sum(1 for entry in list(self._queue) if type(entry) is tuple)
            sampled_out_spans = self.sampled_out.span_count()
        dropped["sampled_out"] += sampled_out_spans
        refused = dropped["queue_full"] + dropped["queue_bytes"] + sampled_out_spans
        return {"enqueued": taken + queued + refused, "sent": sent,
                "pending": queued + in_flight, "dropped": dropped, "sinks": sinks}

    def shutdown(self, timeout: float) -> None:
        """Drain within `timeout` seconds, then close the sinks. What is not handled by then is
        counted as dropped ("shutdown") and logged in one line. Safe to call more than once."""
        if self._stopped:
            return
        _running_writers.discard(self)
        if self._pid == os.getpid():
            if self._writer_thread is not None:
                self.flush(timeout)
            elif self._queue:  # no thread could be started: deliver from this one
                with capture_faults("writer"):
                    self._drain()
        with self._counts_lock:
            self._stopped = True
            left = self._in_flight + sum(1 for entry in self._queue if type(entry) is tuple)
            self._abandoned = True  # the thread's batch in flight is counted here, not by it
            self._dropped["shutdown"] += left
            self._in_flight = 0
            markers = [entry for entry in self._queue if type(entry) is _FlushMarker]
            self._queue.clear()
        for marker in markers:  # nothing before them will be handled now
            marker.release()
        self._wake.set()
        if left:
            log.warning("llmobs: %d spans and evaluations were not delivered within the "
                        "shutdown timeout (%g s) and are dropped", left, timeout)
        for sink in self.sinks:
            try:
                sink.shutdown()
            except Exception:
                log.warning("llmobs: sink %r failed to shut down", sink, exc_info=True)
        thread = self._writer_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_SINK_STOP_S)  # a sink told to stop ends its batch in flight

    # -- the thread's side ---------------------------------------------------------------------

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="llmobs-writer", daemon=True)
        self._writer_thread = thread
        try:
            thread.start()
        except RuntimeError:
            # No thread now: the interpreter is shutting down (Python 3.12+ refuses threads
            # in atexit handlers) or the process is at its thread limit. What is queued waits
            # for a later start, or for shutdown(), which then drains on its own thread.
            self._writer_thread = None

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._interval)
            self._wake.clear()
            with capture_faults("writer"):  # the thread must outlive any fault of ours
                self._drain()
            if not self._stopped:  # after shutdown, its own line said what was dropped
                self._warn_about_drops()

    def _drain(self) -> None:
        queue = self._queue
        # Everything queued before the wake (flush markers included) goes now; what arrives
        # meanwhile waits for the next wake unless it makes a full batch. Draining on while
        # anything at all is queued made a busy server's writer send a small batch after
        # every other, each paying a transaction and many GIL hand-offs with the event loop.
        owed = len(queue)
        while queue and not self._stopped and (
                owed > 0 or len(queue) >= self._batch_size
                or self._bytes_in - self._bytes_out >= self._batch_bytes):
            records, evaluations, marker, size = self._take_batch()
            owed -= len(records) + len(evaluations) + (marker is not None)
            try:
                self._deliver(records, evaluations)
            finally:
                self._bytes_out += size
                if marker is not None:
                    marker.release()

    def _take_batch(self) -> tuple[list[SpanRecord], list[Event], _FlushMarker | None, int]:
        """Records and evaluations up to a batch's length and bytes, or up to a flush marker."""
        queue = self._queue
        records: list[SpanRecord] = []
        evaluations: list[Event] = []
        marker = None
        size = 0
        budget = self._batch_bytes
        for _ in range(self._batch_length(len(queue))):  # only this thread pops
            entry = queue.popleft()
            if type(entry) is _FlushMarker:
                marker = entry
                break
            pair: tuple[Any, int] = entry  # typed: unpacked in C when compiled
            item, item_size = pair
            size += item_size
            if type(item) is tuple:  # a finished span's record
                records.append(item)
            else:
                evaluations.append(item)
            if size >= budget:
                break
        with self._counts_lock:
            taken = len(records) + len(evaluations)
            self._taken += taken
            self._in_flight += taken
        return records, evaluations, marker, size

    def _deliver(self, records: list[SpanRecord], evaluations: list[Event]) -> None:
        tally = Tally()
        taken = len(records) + len(evaluations)
        try:
            if records:
                self._delivery.spans(records, tally)
            if evaluations:
                if self.sampled_out.traces:
                    kept = [e for e in evaluations if not self.sampled_out.joins_dropped_trace(e)]
                    tally.drop("sampled_out", len(evaluations) - len(kept))
                    evaluations = kept
                if evaluations:
                    self._delivery.evaluations(evaluations, tally)
        finally:
            with self._counts_lock:
                if not self._abandoned:
                    self._sent += tally.sent
                    for reason, n in tally.dropped.items():
                        self._dropped[reason] += n
                    # What a fault of ours left unaccounted was not delivered either.
                    self._dropped["sink_error"] += taken - tally.sent - sum(
                        tally.dropped.values())
                    self._in_flight -= taken

    def _batch_length(self, backlog: int) -> int:
        """batch_size events normally; with a backlog, up to max_batch. Every call a sink makes
        into I/O releases the GIL, and a thread that releases it to a busy caller waits a whole
        switch interval (5 ms) to get it back: bigger batches pay that wait far less often, so
        the writer keeps up with a tight loop instead of falling behind it."""
        if backlog <= self._batch_size:
            return backlog
        return min(backlog, max(self._batch_size, backlog // 2), self._max_batch)

    def _count_drop(self, reason: str, n: int = 1) -> None:
        with self._counts_lock:
            self._dropped[reason] += n

    def _warn_about_drops(self) -> None:
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            return
        with self._counts_lock:  # sampling drops on purpose: no warning for it
            dropped = {k: v for k, v in self._dropped.items() if k != "sampled_out"}
            total = sum(dropped.values())
        if total > self._last_warned_drops:
            self._last_warning = now
            self._last_warned_drops = total
            log.warning("llmobs: %d spans or evaluations dropped so far %s; see LLMObs.stats()",
                        total, {k: v for k, v in dropped.items() if v})


def _reset_writers_in_child() -> None:
    for writer in list(_running_writers):
        writer.after_fork_in_child()


os.register_at_fork(after_in_child=_reset_writers_in_child)
