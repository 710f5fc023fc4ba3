"""Export throughput (spans/s) to remote backends, in one run:

- llmobs's Datadog sink to the fake Datadog intake (tests/support/fake_intake.py, another process):
  the sink alone on ready-made span events (encoding + HTTP), and end to end (spans opened,
  annotated and finished in the application, then through the writer and the sink);
- llmobs's OTLP sink to a local OTLP/HTTP receiver (tests/support/fake_otlp.py, another process);
- the OpenTelemetry SDK's own OTLP/HTTP exporter to the same receiver, exporting spans that
  carry the same attributes, alone and end to end (TracerProvider + BatchSpanProcessor).

The unit is a mix of a workflow span, an llm span (2 input messages, 1 output message, 3
metadata keys, 3 token metrics) and a tool span. Best and median of --repeat runs. Target: at least
100,000 spans/s to the Datadog form.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from llmobs_core import LLMObs
from llmobs_core.export import _datadog_payload
from llmobs_core.export._otlp_mapping import span_attributes
from llmobs_core.export.datadog import DatadogSink
from llmobs_core.export.otlp import OTLPSink
from llmobs_core.testing import capture

TESTS = Path(__file__).resolve().parent.parent / "tests" / "support"
INPUT = [{"role": "system", "content": "You are terse."},
         {"role": "user", "content": "What is the capital of France?"}]
OUTPUT = [{"role": "assistant", "content": "Paris."}]
METADATA = {"temperature": 0.2, "max_tokens": 64, "top_p": 1.0}
METRICS = {"input_tokens": 21, "output_tokens": 2, "total_tokens": 23}
BATCH = 1_000
KEY = "test-api-key"  # what tests/support/fake_intake.py expects
CHUNK_UNITS = 5_000


class Receiver:
    """One of the fake servers in tests/, run in its own process."""

    def __init__(self, script: str, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, str(TESTS / script), *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()

    def received(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def record_units(units: int) -> None:
    for _ in range(units):
        with LLMObs.workflow(name="answer", session_id="bench-session"):
            with LLMObs.llm(model_name="gpt-4o", model_provider="openai", name="chat") as span:
                LLMObs.annotate(span, input_data=INPUT, output_data=OUTPUT, metadata=METADATA,
                                metrics=METRICS)
            with LLMObs.tool(name="lookup") as tool:
                LLMObs.annotate(tool, input_data="france", output_data="paris")


def ready_events(spans: int) -> list[dict]:
    with capture(ml_app="bench", service="bench") as captured:
        record_units(spans // 3)
        return captured.spans


def rate(run: Callable[[], int], repeat: int) -> tuple[float, float]:
    """(best, median) spans/s of `run`, which returns how many spans it exported."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        rates.append(count / (time.perf_counter() - started))
    return max(rates), statistics.median(rates)


def sink_alone(sink, events: list[dict]) -> Callable[[], int]:
    def run() -> int:
        for start in range(0, len(events), BATCH):
            sink.send_spans(events[start:start + BATCH])
        return len(events)

    return run


def llmobs_end_to_end(make_sink: Callable[[], object], units: int) -> Callable[[], int]:
    def run() -> int:
        LLMObs.enable(ml_app="bench", service="bench", exporter=make_sink(), shutdown_timeout=30)
        for start in range(0, units, CHUNK_UNITS):  # stay below the writer's queue bound
            record_units(min(CHUNK_UNITS, units - start))
            assert LLMObs.flush(120), "flush timed out"
        assert sum(LLMObs.stats()["dropped"].values()) == 0, LLMObs.stats()
        LLMObs.disable()
        return units * 3

    return run


def otel_spans(events: list[dict]):
    """The SDK's own finished spans, with the attributes llmobs's OTLP sink would send."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for event in events:
        with tracer.start_as_current_span(event["name"], attributes=span_attributes(event)):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def otel_end_to_end(endpoint: str, events: list[dict]) -> Callable[[], int]:
    attributes = [span_attributes(event) for event in events[:3]]

    def run() -> int:
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint), max_queue_size=len(events) + 1,
            max_export_batch_size=BATCH))
        tracer = provider.get_tracer("bench")
        for _ in range(len(events) // 3):
            with tracer.start_as_current_span("answer", attributes=attributes[0]):
                with tracer.start_as_current_span("chat", attributes=attributes[1]):
                    pass
                with tracer.start_as_current_span("lookup", attributes=attributes[2]):
                    pass
        provider.force_flush(120_000)
        provider.shutdown()
        return len(events) // 3 * 3

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=60_000)
    parser.add_argument("--otlp-spans", type=int, default=15_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    intake = Receiver("fake_intake.py", "--no-validate")
    otlp = Receiver("fake_otlp.py")
    try:
        events = ready_events(args.spans)
        otlp_events = events[:args.otlp_spans]
        datadog = DatadogSink.agentless(KEY, override_origin=intake.url)
        otlp_sink = OTLPSink(otlp.url + "/v1/traces")
        sdk_exporter = OTLPSpanExporter(endpoint=otlp.url + "/v1/traces")
        sdk_spans = otel_spans(otlp_events)
        for warm_up in (datadog, otlp_sink):  # first connections, first encodings
            warm_up.send_spans(events[:BATCH])
        sdk_exporter.export(sdk_spans[:BATCH])
        rows = [
            ("llmobs Datadog sink alone -> fake intake", rate(sink_alone(datadog, events),
                                                              args.repeat)),
            ("llmobs end to end -> Datadog sink -> fake intake",
             rate(llmobs_end_to_end(lambda: DatadogSink.agentless(KEY, override_origin=intake.url),
                                   len(events) // 3), args.repeat)),
            ("llmobs OTLP sink alone -> OTLP receiver", rate(sink_alone(otlp_sink, otlp_events),
                                                             args.repeat)),
            ("OTel SDK OTLPSpanExporter alone -> OTLP receiver",
             rate(lambda: _export_all(sdk_exporter, sdk_spans), args.repeat)),
            ("llmobs end to end -> OTLP sink -> OTLP receiver",
             rate(llmobs_end_to_end(lambda: OTLPSink(otlp.url + "/v1/traces"),
                                   len(otlp_events) // 3), args.repeat)),
            ("OTel SDK end to end -> BatchSpanProcessor -> OTLP receiver",
             rate(otel_end_to_end(otlp.url + "/v1/traces", otlp_events), args.repeat)),
        ]
        datadog.shutdown()
        otlp_sink.shutdown()
        sdk_exporter.shutdown()
        print(f"fake intake received {intake.received():,} spans, OTLP receiver "
              f"{otlp.received():,}")
    finally:
        intake.close()
        otlp.close()
    width = max(len(name) for name, _ in rows)
    print(f"{'export path':<{width}}  {'best spans/s':>13}  {'median':>10}")
    for name, (best, median) in rows:
        print(f"{name:<{width}}  {best:>13,.0f}  {median:>10,.0f}")
    encoder = "orjson" if _datadog_payload.orjson is not None else "the standard library's json"
    print(f"(span events encoded with {encoder})")
    verdict = "met" if rows[0][1][0] >= 100_000 else "NOT met"
    print(f"target >= 100,000 spans/s to the Datadog form (sink alone): {verdict}")


def _export_all(exporter: OTLPSpanExporter, spans: list) -> int:
    for start in range(0, len(spans), BATCH):
        exporter.export(spans[start:start + BATCH])
    return len(spans)


if __name__ == "__main__":
    main()
