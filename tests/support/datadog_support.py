"""Shared by the Datadog sink tests: settings to clear, a sink factory, and helpers that
record spans or build real span events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from llmobs_core import LLMObs
from llmobs_core.export.datadog import DatadogSink, RetryPolicy
from llmobs_core.testing import capture
from tests.support.fake_intake import FakeIntake

KEY = "test-api-key"
FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)
SETTINGS = ("DD_LLMOBS_AGENTLESS_ENABLED", "DD_API_KEY", "DD_SITE", "DD_TRACE_AGENT_URL",
            "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT", "DD_LLMOBS_OVERRIDE_ORIGIN",
            "LLMOBS_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "LLMOBS_LOCAL_PATH")


@contextmanager
def sink_factory(intake: FakeIntake) -> Iterator[Callable[..., DatadogSink]]:
    """Makes agentless sinks aimed at `intake`, with fast retries; closes them at the end."""
    sinks: list[DatadogSink] = []

    def make(**options: Any) -> DatadogSink:
        options.setdefault("retry", FAST)
        sinks.append(DatadogSink.agentless(KEY, override_origin=intake.url, **options))
        return sinks[-1]

    try:
        yield make
    finally:
        for sink in sinks:
            sink.shutdown()


def record(count: int, prefix: str = "span") -> None:
    for index in range(count):
        with LLMObs.task(f"{prefix}-{index}"):
            pass


def names(intake: FakeIntake) -> list[str]:
    return [span["name"] for span in intake.spans]


def events(count: int, **annotations) -> list[dict]:
    """Real span events, built by llmobs itself before any sink is involved."""
    with capture(ml_app="shop") as captured:
        for index in range(count):
            with LLMObs.task(f"task-{index}"):
                if annotations:
                    LLMObs.annotate(**annotations)
        return captured.spans
