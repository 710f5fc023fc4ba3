"""The configurations the fault suite runs each entry point through: every built-in sink on its
own (memory, local store, console, Datadog to the fake intake, OTLP to the fake receiver), and
all five at once behind a span_processor. `probed()` brackets hostile calls with valid spans in
the same batch and checks what arrived."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from llmobs_core import LLMObs
from llmobs_core.export.console import ConsoleSink
from llmobs_core.export.datadog import DatadogSink
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.export.memory import MemorySink
from llmobs_core.export.otlp import OTLPSink
from llmobs_core.store.queries import list_evals, list_spans
from tests.support.datadog_support import FAST, KEY
from tests.support.fake_intake import FakeIntake
from tests.support.fake_otlp import FakeOTLPReceiver

CONFIGURATIONS = ("memory", "local", "console", "datadog", "otlp", "all+processor")
# Few examples a configuration, no time-outs from a slow shared machine: the suite stays well
# under a minute, and a hostile value still meets every entry point through every sink.
FAULT_SETTINGS = settings(
    max_examples=12, deadline=5_000, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture, HealthCheck.large_base_example],
)


@dataclass
class View:
    """One sink's side: the span names and evaluation labels it has received."""

    name: str
    span_names: Callable[[str], set[str]]  # called with the probe token
    labels: Callable[[str], set[str]]


@dataclass
class Target:
    configuration: str
    views: list[View] = field(default_factory=list)
    strict: bool = False  # every span and evaluation must arrive, none dropped


def _redacting_processor(event: dict[str, Any]) -> dict[str, Any]:
    """A processor in the shape of ddtrace's documented examples: it reads and rewrites."""
    meta = event.get("meta") or {}
    if "output" in meta:
        meta["output"] = {"value": "redacted"} if "value" in meta["output"] else meta["output"]
    return event


@contextmanager
def enabled(configuration: str, tmp_path: Path) -> Iterator[Target]:
    """llmobs enabled with `configuration`'s sinks; everything stopped at the end."""
    target = Target(configuration)
    sinks: list[Any] = []
    names = ("memory", "local", "console", "datadog", "otlp") if (
        configuration == "all+processor") else (configuration,)
    with ExitStack() as stack:
        for name in names:
            sink, view = _sink(name, tmp_path, stack)
            sinks.append(sink)
            target.views.append(view)
        target.strict = configuration == "memory"
        processor = _redacting_processor if configuration == "all+processor" else None
        LLMObs.enable(ml_app="faults", exporter=sinks, span_processor=processor,
                      shutdown_timeout=5)
        try:
            yield target
        finally:
            LLMObs.disable()


def _sink(name: str, tmp_path: Path, stack: ExitStack) -> tuple[Any, View]:
    if name == "memory":
        memory = MemorySink()
        return memory, View(name, lambda token: {s["name"] for s in memory.spans
                                                 if token in s["name"]},
                            lambda token: {m["label"] for m in memory.evaluations
                                           if token in m["label"]})
    if name == "local":
        path = tmp_path / "faults.db"
        local = LocalStoreSink(path)
        return local, View(name, lambda token: {s["name"] for s in list_spans(
            path, tags=[f"probe:{token}"], limit=50)}, lambda token: {
            m["label"] for m in list_evals(path, limit=10_000) if token in m["label"]})
    if name == "console":
        stream = io.StringIO()

        def printed(token: str, evaluations: bool) -> set[str]:
            lines = [line for line in stream.getvalue().splitlines()
                     if token in line and (" evaluation " in line) == evaluations]
            return {word.split("=")[0] for line in lines for word in line.split()
                    if word.startswith(f"probe{token}")}

        return ConsoleSink(stream), View(name, lambda token: printed(token, False),
                                         lambda token: printed(token, True))
    if name == "datadog":
        intake = stack.enter_context(FakeIntake(mode="agentless", api_key=KEY))
        sink = DatadogSink.agentless(KEY, override_origin=intake.url, retry=FAST)
        return sink, View(name, lambda token: {s["name"] for s in intake.spans
                                               if token in s["name"]},
                          lambda token: {m["label"] for m in intake.evaluations
                                         if token in m["label"]})
    receiver = stack.enter_context(FakeOTLPReceiver())
    otlp = OTLPSink(receiver.url + "/v1/traces", timeout=5)
    return otlp, View(name, lambda token: {s["name"] for s in receiver.spans
                                           if token in s["name"]},
                      lambda token: {s["name"].removeprefix("evaluation:") for s in receiver.spans
                                     if s["name"].startswith("evaluation:") and token in s["name"]})


@contextmanager
def probed(target: Target, evaluations: bool = False) -> Iterator[str]:
    """Valid spans (and, with `evaluations`, a valid evaluation) before and after the block, in
    the same batch as whatever the block records; then: no span is left active, each sink got
    the valid ones, and LLMObs.stats() adds up."""
    token = uuid.uuid4().hex[:12]
    names = {f"probe{token}before", f"probe{token}after"}
    _valid_span(f"probe{token}before", token, evaluations)
    yield token
    assert LLMObs.current_span() is None
    _valid_span(f"probe{token}after", token, evaluations)
    assert LLMObs.flush(15)
    for view in target.views:
        assert names <= view.span_names(token), f"valid spans lost by the {view.name} sink"
        if evaluations:
            assert names <= view.labels(token), f"valid evaluations lost by the {view.name} sink"
    assert_stats_add_up(strict=target.strict)


def _valid_span(name: str, token: str, evaluation: bool) -> None:
    with LLMObs.workflow(name, session_id="s") as span:
        LLMObs.annotate(input_data="in", output_data="out", tags={"probe": token})
    if evaluation:
        LLMObs.submit_evaluation(span_context=LLMObs.export_span(span), label=name,
                                 metric_type="score", value=1)


def assert_stats_add_up(strict: bool = False) -> None:
    """enqueued = sent + dropped + pending; with `strict`, nothing was dropped."""
    stats = LLMObs.stats()
    dropped = sum(stats["dropped"].values())
    assert stats["enqueued"] == stats["sent"] + dropped + stats["pending"], stats
    if strict:
        assert dropped == 0, stats
