"""One bad event costs only itself, in every built-in sink, with several sinks and with a
span processor; flush() returns once its events are handled; stats() always adds up."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.export.console import ConsoleSink
from llmobs_core.export.datadog import DatadogSink
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.export.memory import MemorySink
from llmobs_core.export.otlp import OTLPSink
from llmobs_core.export.writer import Writer
from llmobs_core.store.queries import list_spans
from llmobs_core.tracer import Tracer, install, state
from tests.support.datadog_support import FAST, KEY, SETTINGS
from tests.support.fake_intake import FakeIntake
from tests.support.fake_otlp import FakeOTLPReceiver


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in (*SETTINGS, "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.delenv(name, raising=False)


def record(*names: str) -> None:
    for name in names:
        with LLMObs.llm(name=name, model_name="m", model_provider="p") as span:
            LLMObs.annotate(span, input_data="hi", output_data="yo", metadata={"n": 1})


def record_unbuildable() -> None:
    """A finished span whose record the event builder cannot turn into an event (an int
    session id, as from code that bypassed the entry checks): whatever slips through."""
    span = LLMObs.task("unbuildable")
    span.duration_ns = 1_000  # finished, but not handed to the writer: that is done below
    fields = list(span.record())
    fields[7] = 42  # session_id
    state.tracer.writer.enqueue(tuple(fields))


def poison(event: dict) -> dict:
    """A span processor that leaves one event some sinks cannot take: a cycle in its
    metadata (no JSON encoder takes it) and no span kind (the console and OTLP need it)."""
    if event["name"] == "poison":
        looped: dict = {}
        looped["self"] = looped
        event["meta"]["metadata"] = looped
        event["meta"]["span"] = None
    return event


def assert_adds_up(stats: dict) -> None:
    assert stats["enqueued"] == stats["sent"] + sum(stats["dropped"].values()) + stats["pending"]


@contextmanager
def delivered_by(kind: str, tmp_path: Path) -> Iterator[tuple[Any, Callable[[], list[str]]]]:
    """A real sink of `kind` and a function giving the names of the spans it delivered."""
    if kind == "local":
        sink = LocalStoreSink(tmp_path / "traces.db")
        yield sink, lambda: [s["event"]["name"] for s in list_spans(sink.path, limit=100)]
    elif kind == "datadog":
        with FakeIntake(mode="agentless", api_key=KEY) as intake:
            sink = DatadogSink.agentless(KEY, override_origin=intake.url, retry=FAST)
            yield sink, lambda: [span["name"] for span in intake.spans]
    elif kind == "otlp":
        with FakeOTLPReceiver() as receiver:
            yield OTLPSink(receiver.url + "/v1/traces"), lambda: [
                span["name"] for span in receiver.spans]
    elif kind == "console":
        stream = io.StringIO()
        yield ConsoleSink(stream), lambda: [line.split()[2]
                                            for line in stream.getvalue().splitlines()]
    else:
        sink = MemorySink()
        yield sink, lambda: [event["name"] for event in sink.spans]


SINKS = ("local", "datadog", "otlp", "console", "memory")


@pytest.mark.parametrize("kind", SINKS)
def test_an_unbuildable_span_costs_only_itself(kind: str, tmp_path: Path) -> None:
    """A record the event builder fails on is dropped alone as "unencodable"; the spans
    before and after it in the same batch are delivered, and flush() returns at once."""
    with delivered_by(kind, tmp_path) as (sink, names):
        LLMObs.enable(ml_app="shop", exporter=sink)
        record("before")
        record_unbuildable()
        record("after")
        started = time.monotonic()
        assert LLMObs.flush(5)
        assert time.monotonic() - started < 2
        stats = LLMObs.stats()
        assert sorted(names()) == ["after", "before"]
        LLMObs.disable()
    assert stats["sent"] == 2 and stats["dropped"]["unencodable"] == 1
    assert_adds_up(stats)


@pytest.mark.parametrize("kind", SINKS)
def test_an_event_a_sink_refuses_costs_only_itself(kind: str, tmp_path: Path) -> None:
    """An event (left by a span processor) that a sink fails on is found and dropped alone;
    every other event of its batch is delivered once. The memory sink takes it."""
    with delivered_by(kind, tmp_path) as (sink, names):
        LLMObs.enable(ml_app="shop", exporter=sink, span_processor=poison)
        record(*[f"ok-{i}" for i in range(40)], "poison", *[f"ok-{i}" for i in range(40, 80)])
        assert LLMObs.flush(10)
        stats = LLMObs.stats()
        delivered = names()
        LLMObs.disable()
    expected = sorted(f"ok-{i}" for i in range(80))
    if kind == "memory":
        assert sorted(delivered) == sorted([*expected, "poison"]) and stats["sent"] == 81
    else:
        assert sorted(delivered) == expected
        assert stats["sent"] == 80 and stats["dropped"]["unencodable"] == 1
    assert_adds_up(stats)


def test_several_sinks_count_an_event_sent_when_one_took_it(tmp_path: Path) -> None:
    """With several sinks an event is sent if at least one sink took it; each sink's own
    counts show what it lost. An event no sink can have is dropped once, not once a sink."""
    stream, memory = io.StringIO(), MemorySink()
    local = LocalStoreSink(tmp_path / "traces.db")
    LLMObs.enable(ml_app="shop", exporter=[local, ConsoleSink(stream), memory],
                  span_processor=poison)
    record("a", "poison", "b")
    record_unbuildable()
    assert LLMObs.flush(5)
    stats = LLMObs.stats()
    assert sorted(e["name"] for e in memory.spans) == ["a", "b", "poison"]
    assert sorted(s["event"]["name"] for s in list_spans(local.path)) == ["a", "b"]
    assert stream.getvalue().count("\n") == 2
    assert stats["sent"] == 3 and stats["dropped"]["unencodable"] == 1
    assert stats["sinks"] == {"LocalStoreSink": {"sent": 2, "dropped": 1},
                              "ConsoleSink": {"sent": 2, "dropped": 1},
                              "MemorySink": {"sent": 3, "dropped": 0}}
    assert_adds_up(stats)


def test_a_processor_returning_garbage_costs_that_span() -> None:
    """A span processor that returns something other than a dict or None for one span drops
    that span (counted as span_processor); the others are delivered."""
    memory = MemorySink()
    LLMObs.enable(exporter=memory,
                  span_processor=lambda e: "garbage" if e["name"] == "bad" else e)
    record("a", "bad", "b")
    assert LLMObs.flush(5)
    stats = LLMObs.stats()
    assert [e["name"] for e in memory.spans] == ["a", "b"]
    assert stats["dropped"]["span_processor"] == 1 and stats["sent"] == 2


class PickySink(MemorySink):
    """A user's sink that takes a batch whole or not at all, and fails on any batch holding a
    span called "poison", or on every batch when `always` is set."""

    def __init__(self, always: bool = False) -> None:
        super().__init__()
        self.calls = 0
        self.always = always

    def send_spans(self, events) -> None:
        self.calls += 1
        batch = list(events)
        if self.always or any(event["name"] == "poison" for event in batch):
            raise ValueError("cannot take this")
        super().send_spans(batch)


def test_a_users_sink_failing_on_some_events_loses_only_those() -> None:
    """Bad events in a batch of 1,000 are found by halving: the sink gets every good event
    exactly once, in few calls."""
    sink = PickySink()
    LLMObs.enable(exporter=sink)
    poisoned = {17, 500, 901}
    record(*["poison" if i in poisoned else f"ok-{i}" for i in range(1000)])
    assert LLMObs.flush(10)
    names = [e["name"] for e in sink.spans]
    assert sorted(names) == sorted(f"ok-{i}" for i in range(1000) if i not in poisoned)
    stats = LLMObs.stats()
    assert stats["dropped"]["unencodable"] == 3 and stats["sent"] == 997
    assert sink.calls <= 3 * 2 * 10 + 2


def test_a_sink_that_fails_on_everything_is_not_called_without_end() -> None:
    """A sink that raises on every batch costs a bounded number of calls a batch; its
    events are counted as sink_error."""
    sink = PickySink(always=True)
    LLMObs.enable(exporter=sink)
    record(*[f"ok-{i}" for i in range(1000)])
    assert LLMObs.flush(10)
    stats = LLMObs.stats()
    assert sink.spans == [] and sink.calls <= 70 * 2
    assert stats["sent"] == 0
    assert stats["dropped"]["sink_error"] + stats["dropped"]["unencodable"] == 1000
    assert_adds_up(stats)


class SometimesDown(MemorySink):
    """Refuses every third batch as an intake that is down would, and holds each batch
    until `gate` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.gate = threading.Event()

    def send_spans(self, events) -> None:
        self.gate.wait(10)
        self.batches += 1
        if self.batches % 3 == 0:
            raise ConnectionError("intake down")
        super().send_spans(events)


def test_stats_add_up_under_every_fault_at_once() -> None:
    """A sink that fails sometimes, records that cannot be built, a processor that raises,
    and a full queue: enqueued = sent + dropped + pending at every moment checked, and what
    the sink holds is exactly what was counted as sent."""
    sink = SometimesDown()

    def processor(event):
        if event["name"].endswith("7"):
            raise RuntimeError("processor bug")
        return event

    writer = Writer([sink], [], processor, max_queue=300, batch_size=50, interval=0.01)
    install(Tracer(resolve({"ml_app": "shop"}), writer))
    for round_ in range(10):
        record(*[f"s-{round_}-{i}" for i in range(60)])
        record_unbuildable()
        assert_adds_up(LLMObs.stats())
    sink.gate.set()
    assert LLMObs.flush(10)
    stats = LLMObs.stats()
    assert_adds_up(stats)
    assert stats["pending"] == 0 and stats["enqueued"] == 610
    assert all(stats["dropped"][reason] > 0 for reason in
               ("queue_full", "span_processor", "unencodable", "sink_error"))
    assert len(sink.spans) == stats["sent"] > 0
