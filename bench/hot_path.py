"""The span hot path: µs per unit for llmobs and, in the same run, for the OpenTelemetry SDK.

A unit is a root workflow span with one child llm span, annotated with 2 input messages,
1 output message, 3 metadata keys and 3 token metrics. Both run with an exporter that
discards, so what is measured is the cost the instrumented application pays.
Targets: llmobs at most 8 µs per unit and at most 0.2 of the OpenTelemetry figure.

A discarding sink never reads its events, so llmobs never builds them (span events are built
as a sink reads them, as an OpenTelemetry exporter converts spans). For what a real sink adds,
the script also prints llmobs with a sink that reads every event and drops it.
"""

from __future__ import annotations

import argparse
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from llmobs_core import LLMObs

INPUT = [{"role": "system", "content": "You are terse."},
         {"role": "user", "content": "What is the capital of France?"}]
OUTPUT = [{"role": "assistant", "content": "Paris."}]
METADATA = {"temperature": 0.2, "max_tokens": 64, "top_p": 1.0}
METRICS = {"input_tokens": 21, "output_tokens": 2, "total_tokens": 23}


class Discard:
    def send_spans(self, events): ...
    def send_evaluations(self, metrics): ...
    def shutdown(self): ...


class ReadAndDiscard(Discard):
    def send_spans(self, events):
        for _event in events:
            pass


class DiscardOTel(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

    def shutdown(self):
        return None


def llmobs_unit() -> None:
    with LLMObs.workflow(name="answer"):
        with LLMObs.llm(model_name="gpt-4o", model_provider="openai", name="chat") as span:
            LLMObs.annotate(span, input_data=INPUT, output_data=OUTPUT, metadata=METADATA,
                            metrics=METRICS)


def make_otel_unit():
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardOTel()))
    tracer = provider.get_tracer("bench")

    def otel_unit() -> None:
        with tracer.start_as_current_span("answer") as root:
            root.set_attribute("llmobs.span.kind", "workflow")
            with tracer.start_as_current_span("chat") as span:
                span.set_attributes({
                    "llmobs.span.kind": "llm", "gen_ai.request.model": "gpt-4o",
                    "gen_ai.system": "openai",
                    "gen_ai.prompt.0.role": "system",
                    "gen_ai.prompt.0.content": INPUT[0]["content"],
                    "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": INPUT[1]["content"],
                    "gen_ai.completion.0.role": "assistant",
                    "gen_ai.completion.0.content": OUTPUT[0]["content"],
                    "gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 64,
                    "gen_ai.request.top_p": 1.0, "gen_ai.usage.input_tokens": 21,
                    "gen_ai.usage.output_tokens": 2, "gen_ai.usage.total_tokens": 23,
                })
    return otel_unit, provider


def per_unit_us(unit, n: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            unit()
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def measure_llmobs(sink, units: int):
    LLMObs.enable(ml_app="bench", exporter=sink)
    us = per_unit_us(llmobs_unit, units)
    LLMObs.flush(60)
    stats = LLMObs.stats()
    LLMObs.disable()
    return us, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000)
    args = parser.parse_args()
    llmobs_us, stats = measure_llmobs(Discard(), args.units)
    reading_us, _ = measure_llmobs(ReadAndDiscard(), args.units)
    otel_unit, provider = make_otel_unit()
    otel_us = per_unit_us(otel_unit, args.units)
    provider.shutdown()
    ratio = llmobs_us / otel_us
    print(f"llmobs            {llmobs_us:7.2f} µs/unit   (target <= 8)")
    print(f"OpenTelemetry SDK {otel_us:7.2f} µs/unit")
    print(f"ratio             {ratio:7.3f}           (target <= 0.2)")
    print(f"with a sink that reads every event: {reading_us:.2f} µs/unit, "
          f"ratio {reading_us / otel_us:.3f}")
    produced = stats["enqueued"] + stats["dropped"]["queue_full"]
    print(f"delivered         {stats['sent'] / produced:7.2%} of {produced:,} spans "
          f"(target >= 99%); dropped and counted: {stats['dropped']}")


if __name__ == "__main__":
    main()
