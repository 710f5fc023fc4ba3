"""Records waiting in the writer's queue: built with the accelerator, the garbage collector
skips them (export/_writer_native.c says why that is safe), and in either build what a record
holds is let go once it is delivered."""

from __future__ import annotations

import gc
import sys
import threading

import pytest

from llmobs_core import LLMObs
from llmobs_core.span import RECORD_FIELDS
from llmobs_core.tracer import state
from tests.support.gated_sink import GatedSink


class Discard:
    """Reads nothing and keeps nothing of what it is sent; holds each batch until the gate
    opens."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.sent = 0

    def send_spans(self, events) -> None:
        self.gate.wait(30)
        self.sent += len(events)

    def send_evaluations(self, metrics) -> None: ...

    def shutdown(self) -> None: ...


def test_a_queued_record_is_skipped_by_the_garbage_collector_and_still_delivered() -> None:
    pytest.importorskip("llmobs_core.export._writer_native",
                        reason="the pure-Python build leaves records tracked")
    sink = GatedSink()
    LLMObs.enable(ml_app="shop", exporter=sink)
    try:
        with LLMObs.llm(model_name="m", name="chat") as span:
            LLMObs.annotate(span, metadata={"temperature": 0.2})
            record = span.record()  # the record its finish hands to the writer, as it is then
        assert len(record) == len(RECORD_FIELDS) and type(record[15]) is dict
        assert gc.is_tracked(record)  # a tuple holding a dict: CPython keeps tracking it
        state.tracer.writer.enqueue(record)
        assert not gc.is_tracked(record)
        gc.collect()
        sink.gate.set()
        assert LLMObs.flush(10)
    finally:
        sink.gate.set()
        LLMObs.disable()
    assert [span["name"] for span in sink.spans] == ["chat", "chat"]
    assert all(span["meta"]["metadata"] == {"temperature": 0.2} for span in sink.spans)


def test_what_a_queued_record_holds_is_let_go_once_delivered() -> None:
    """annotate() keeps plain messages as they are (no copy): once the record is delivered, the
    message is referred to by the application alone again, untracked record or not."""
    message = {"role": "user", "content": "hi"}
    held = sys.getrefcount(message)
    sink = Discard()
    LLMObs.enable(ml_app="shop", exporter=sink)
    try:
        for _ in range(1_000):
            with LLMObs.workflow(name="w"):
                with LLMObs.llm(model_name="m") as span:
                    LLMObs.annotate(span, input_data=[message], metadata={"t": 0.1})
        del span  # the last span holds its messages too
        assert sys.getrefcount(message) > held  # queued, or in the batch the sink holds
        sink.gate.set()
        assert LLMObs.flush(10)
    finally:
        sink.gate.set()
        LLMObs.disable()
    assert sink.sent == 2_000
    assert sys.getrefcount(message) == held
