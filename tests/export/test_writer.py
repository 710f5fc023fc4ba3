"""The writer: span processor, counters, flush and aflush, faulty sinks, the queue bound, fork."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.export.memory import MemorySink
from llmobs_core.export.writer import Writer
from llmobs_core.testing import capture
from llmobs_core.tracer import Tracer, install, state
from tests.support.gated_sink import GatedSink


class FlakySink(MemorySink):
    """Raises on its first batch, then works."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    def send_spans(self, events):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("intake unreachable")
        super().send_spans(events)


def test_span_processor_redacts_drops_and_fails_closed(caplog) -> None:
    """The processor can rewrite or drop an event; one that raises drops it and is counted."""

    def processor(event):
        if event["name"] == "drop-me":
            return None
        if event["name"] == "explode":
            raise RuntimeError("processor bug")
        event["meta"]["input"] = {"value": "[redacted]"}
        return event

    with capture(span_processor=processor) as captured:
        for name in ("keep", "drop-me", "explode"):
            with LLMObs.task(name) as span:
                LLMObs.annotate(span, input_data="card 4242")
        assert [e["name"] for e in captured.spans] == ["keep"]
        assert captured.spans[0]["meta"]["input"] == {"value": "[redacted]"}
        stats = LLMObs.stats()
    assert stats["dropped"]["span_processor"] == 2
    assert stats["enqueued"] == 3 and stats["sent"] == 1
    assert "span_processor raised" in caplog.text


def test_failing_sink_is_counted_and_the_writer_carries_on(caplog) -> None:
    """A sink that raises loses that batch (counted as sink_error); later batches arrive."""
    sink = FlakySink()
    LLMObs.enable(exporter=sink)
    with LLMObs.task("lost"):
        pass
    LLMObs.flush()
    with LLMObs.task("delivered"):
        pass
    LLMObs.flush()
    assert [e["name"] for e in sink.spans] == ["delivered"]
    assert LLMObs.stats()["dropped"]["sink_error"] == 1
    assert "ConnectionError: intake unreachable" in caplog.text


class RecordingSink:
    """A user's sink, written to the Sink protocol alone: it keeps what it was handed."""

    def __init__(self) -> None:
        self.batches = []

    def send_spans(self, events):
        self.batches.append(events)

    def send_evaluations(self, metrics):
        pass

    def shutdown(self):
        pass


def test_a_sink_reads_span_events_as_a_sequence_built_on_reading() -> None:
    """A sink gets a sequence: len, iteration, indexes and slices all give WIRE-shaped dicts,
    each read building a fresh event; a sink that never reads them costs no building."""
    sink = RecordingSink()
    LLMObs.enable(ml_app="seq", exporter=sink)
    for name in ("a", "b", "c"):
        with LLMObs.llm(name=name, model_name="m") as span:
            LLMObs.annotate(span, input_data="hi", output_data=[{"role": "assistant",
                                                                 "content": "yo"}])
    assert LLMObs.flush()
    assert LLMObs.stats()["sent"] == 3
    LLMObs.disable()
    (batch,) = sink.batches
    assert len(batch) == 3 and bool(batch)
    names = [event["name"] for event in batch]
    assert names == ["a", "b", "c"]
    assert batch[0]["meta"]["input"] == {"messages": [{"content": "hi"}]}
    assert batch[-1]["meta"]["output"] == {"messages": [{"role": "assistant", "content": "yo"}]}
    assert [event["name"] for event in batch[1:]] == ["b", "c"]
    assert batch[0] == batch[0] and batch[0] is not batch[0]  # built anew: a sink may mutate
    assert list(batch) == [batch[0], batch[1], batch[2]]
    assert all(event["tags"][0] == "ml_app:seq" for event in batch)


def test_several_sinks_and_a_span_processor_get_the_same_built_events() -> None:
    first, second = RecordingSink(), MemorySink()

    def processor(event):
        event["tags"].append("seen:1")
        return event

    LLMObs.enable(exporter=[first, second], span_processor=processor)
    with LLMObs.task("t"):
        pass
    assert LLMObs.flush()
    LLMObs.disable()
    (batch,) = first.batches
    assert type(batch) is list and batch == second.spans
    assert "seen:1" in batch[0]["tags"]


def test_queue_bound_drops_and_counts_when_the_sink_is_stuck() -> None:
    """Past the queue bound new spans are dropped and counted, never blocking the caller."""
    sink = GatedSink()
    LLMObs.enable(exporter=sink)
    writer = state.tracer.writer
    writer._max_queue = 50
    started = time.perf_counter()
    for _ in range(500):
        with LLMObs.task("t"):
            pass
    assert time.perf_counter() - started < 2
    dropped = LLMObs.stats()["dropped"]["queue_full"]
    sink.gate.set()
    assert LLMObs.flush(10)
    stats = LLMObs.stats()
    assert dropped >= 400
    assert stats["sent"] + stats["dropped"]["queue_full"] == 500
    assert len(sink.spans) == stats["sent"]


def test_queue_is_bounded_by_the_bytes_it_holds() -> None:
    """With the sink stuck, big prompts fill the queue's byte bound long before its count
    bound: what is past it is dropped and counted as queue_bytes, the batch in flight
    included in the bound, and everything held is delivered once the sink is back."""
    sink = GatedSink()
    writer = Writer([sink], [], max_queue=10_000, max_queue_bytes=1 << 20, interval=0.01)
    install(Tracer(resolve({"ml_app": "shop"}), writer))
    prompt = "x" * 4096
    for i in range(1000):
        with LLMObs.llm(model_name="m", name=f"chat-{i}") as span:
            LLMObs.annotate(span, input_data=[{"role": "user", "content": f"{i}{prompt}"}])
    stats = LLMObs.stats()
    assert stats["pending"] <= (1 << 20) // 4096
    assert stats["dropped"]["queue_bytes"] >= 1000 - (1 << 20) // 4096
    sink.gate.set()
    assert LLMObs.flush(10)
    stats = LLMObs.stats()
    assert stats["sent"] == len(sink.spans) == 1000 - stats["dropped"]["queue_bytes"]
    with LLMObs.llm(model_name="m", name="after") as span:  # the bound was given back
        LLMObs.annotate(span, input_data=prompt)
    assert LLMObs.flush(10) and sink.spans[-1]["name"] == "after"


def test_flush_returns_false_on_timeout_and_delivers_later() -> None:
    """flush() waits at most its timeout; what was pending is still delivered afterwards."""
    sink = GatedSink()
    LLMObs.enable(exporter=sink)
    with LLMObs.task("slow"):
        pass
    assert LLMObs.flush(0.05) is False
    sink.gate.set()
    assert LLMObs.flush(5) is True
    assert [e["name"] for e in sink.spans] == ["slow"]


def test_aflush_waits_without_blocking_the_event_loop() -> None:
    """aflush() lets other coroutines run while the sink is busy, then returns True."""
    sink = GatedSink()
    LLMObs.enable(exporter=sink)

    async def main():
        with LLMObs.task("async"):
            pass
        ticks = 0

        async def ticker():
            nonlocal ticks
            while not sink.gate.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        asyncio.get_running_loop().call_later(0.2, sink.gate.set)
        delivered, _ = await asyncio.gather(LLMObs.aflush(5), ticker())
        return delivered, ticks

    delivered, ticks = asyncio.run(main())
    assert delivered is True and ticks >= 10
    assert [e["name"] for e in sink.spans] == ["async"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_starts_fresh_and_the_parent_loses_nothing() -> None:
    """After fork the child never re-sends the parent's buffered spans; the parent sends all."""
    sink = GatedSink()
    LLMObs.enable(exporter=sink)
    for i in range(20):
        with LLMObs.task(f"parent-{i}"):
            pass
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            sink.gate.set()
            with LLMObs.task("child"):
                pass
            LLMObs.flush(5)
            names = [e["name"] for e in sink.spans]
            os.write(write_end, ",".join(names).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_names = os.read(read_end, 65536).decode()
    os.close(read_end)
    assert status == 0
    assert child_names == "child"
    sink.gate.set()
    LLMObs.flush(5)
    assert sorted(e["name"] for e in sink.spans) == sorted(f"parent-{i}" for i in range(20))


def test_pytest_fixture_from_the_plugin_entry_point(llmobs_spans) -> None:
    """The llmobs_spans fixture (registered by the pytest11 entry point) captures spans."""
    with LLMObs.workflow("fixture"):
        pass
    assert [e["name"] for e in llmobs_spans.spans] == ["fixture"]
    assert "ml_app:test-app" in llmobs_spans.spans[0]["tags"]


def _console_spans(code: str) -> tuple[int, list[str]]:
    """Run `code` in a fresh interpreter after 300 task spans went to the console sink; return
    its exit code and the names of the spans it printed."""
    prelude = (
        "import os, signal, sys\n"
        "from llmobs_core import LLMObs\n"
        "LLMObs.enable(ml_app='exit-app', exporter='console')\n"
        "for i in range(300):\n"
        "    with LLMObs.task(f'task-{i}'):\n"
        "        pass\n"
    )
    result = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                            text=True, timeout=60)
    names = [line.split()[2] for line in result.stdout.splitlines() if line.startswith("[llmobs]")]
    return result.returncode, names


ALL_TASKS = sorted(f"task-{i}" for i in range(300))


def test_exit_drains_what_was_recorded_without_an_explicit_flush() -> None:
    """A process that ends right after its spans finish still delivers them (atexit drain)."""
    returncode, names = _console_spans("")
    assert returncode == 0
    assert sorted(names) == ALL_TASKS


def test_sigterm_with_its_default_action_drains_before_the_process_dies() -> None:
    """SIGTERM skips atexit; llmobs drains first, then the process still dies of SIGTERM."""
    returncode, names = _console_spans(
        "sys.stdout.flush()\nos.kill(os.getpid(), signal.SIGTERM)\nimport time; time.sleep(30)\n")
    assert returncode == -signal.SIGTERM
    assert sorted(names) == ALL_TASKS


def test_a_hosts_own_sigterm_handler_is_left_alone() -> None:
    """llmobs never replaces a SIGTERM handler the application installed."""
    code = (
        "import signal\n"
        "def mine(signum, frame): pass\n"
        "signal.signal(signal.SIGTERM, mine)\n"
        "from llmobs_core import LLMObs\n"
        "LLMObs.enable(exporter='memory')\n"
        "print(signal.getsignal(signal.SIGTERM) is mine)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "True", result.stderr
