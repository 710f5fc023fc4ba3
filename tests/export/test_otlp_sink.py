"""The OTLP sink: spans as OTLP/HTTP through OpenTelemetry's exporter, with GenAI and
OpenInference attributes and the Datadog form's ids; checked against a local receiver that
decodes the protobuf, and against Arize Phoenix when it is installed."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from opentelemetry import trace

from llmobs_core import LLMObs
from llmobs_core.export.memory import MemorySink
from llmobs_core.export.otlp import OTLPSink
from llmobs_core.tracer import state
from tests.support.fake_otlp import FakeOTLPReceiver
from tests.support.phoenix import phoenix_spans

_ENV = ("DD_LLMOBS_AGENTLESS_ENABLED", "DD_TRACE_AGENT_URL", "DD_AGENT_HOST",
        "DD_TRACE_AGENT_PORT", "DD_LLMOBS_OVERRIDE_ORIGIN", "LLMOBS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receiver():
    with FakeOTLPReceiver() as server:
        yield server


def record_conversation() -> None:
    """A small agent run touching every span kind, with a session, tags and one error."""
    with LLMObs.workflow("answer", session_id="sess-7"):
        LLMObs.annotate(input_data="where is my parcel?", tags={"team": "support"})
        with LLMObs.agent("helper"):
            with LLMObs.retrieval("lookup"):
                LLMObs.annotate(input_data="parcel", output_data=[
                    {"text": "parcel 12 left", "id": "d1", "score": 0.9}])
            with LLMObs.llm(model_name="gpt-4o", model_provider="OpenAI", name="chat") as llm:
                LLMObs.annotate(
                    input_data=[{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "where is it?"}],
                    output_data=[{"role": "assistant", "content": "on its way"}],
                    metrics={"input_tokens": 12, "output_tokens": 4, "total_tokens": 16})
            with LLMObs.embedding(model_name="embed-3", model_provider="openai"):
                LLMObs.annotate(input_data=[{"text": "parcel"}], output_data="[1 vector]")
            try:
                with LLMObs.tool("track"):
                    raise TimeoutError("carrier API timed out")
            except TimeoutError:
                pass
            with LLMObs.task("format"):
                LLMObs.annotate(input_data={"eta": 2}, output_data="2 days")
    LLMObs.submit_evaluation(LLMObs.export_span(llm), label="brevity", metric_type="score",
                             value=0.8, reasoning="short")


def test_spans_keep_their_ids_tree_and_semantic_attributes(receiver) -> None:
    """Each span reaches the receiver with the Datadog form's trace, span and parent ids, the
    OpenInference kind, GenAI model/usage/message attributes, session, ml_app and tags."""
    memory = MemorySink()
    LLMObs.enable(ml_app="support-bot", service="support", env="test",
                  exporter=[memory, "otlp"], otlp_endpoint=receiver.url)
    record_conversation()
    assert LLMObs.flush()
    assert receiver.wait_for_spans(len(memory.spans) + 1)
    received = {span["span_id"]: span for span in receiver.spans}
    for event in memory.spans:
        span = received[int(event["span_id"])]
        assert span["trace_id"] == int(event["trace_id"], 16)
        parent = event["parent_id"]
        assert span["parent_id"] == (None if parent == "undefined" else int(parent))
        assert span["name"] == event["name"]
        assert span["attributes"]["session.id"] == "sess-7"
        assert span["attributes"]["llmobs.ml_app"] == "support-bot"
        assert span["resource"]["service.name"] == "support"
        assert span["resource"]["openinference.project.name"] == "support-bot"
    by_name = {span["name"]: span for span in receiver.spans}
    assert {name: by_name[name]["attributes"]["openinference.span.kind"] for name in (
        "answer", "helper", "lookup", "chat", "embedding", "track", "format")} == {
        "answer": "CHAIN", "helper": "AGENT", "lookup": "RETRIEVER", "chat": "LLM",
        "embedding": "EMBEDDING", "track": "TOOL", "format": "CHAIN"}
    chat = by_name["chat"]["attributes"]
    assert (chat["gen_ai.request.model"], chat["gen_ai.provider.name"]) == ("gpt-4o", "openai")
    assert (chat["gen_ai.usage.input_tokens"], chat["gen_ai.usage.output_tokens"]) == (12, 4)
    assert chat["gen_ai.operation.name"] == "chat" and chat["llm.token_count.total"] == 16
    assert json.loads(chat["gen_ai.input.messages"])[1] == {
        "role": "user", "parts": [{"type": "text", "content": "where is it?"}]}
    assert chat["llm.output_messages.0.message.content"] == "on its way"
    assert "team:support" in by_name["answer"]["attributes"]["tag.tags"]
    assert by_name["lookup"]["attributes"]["retrieval.documents.0.document.id"] == "d1"
    assert by_name["embedding"]["attributes"]["embedding.embeddings.0.embedding.text"] == "parcel"
    status_code, message = by_name["track"]["status"]
    assert status_code == 2 and "carrier API timed out" in message
    assert by_name["track"]["events"][0][0] == "exception"
    evaluation = by_name["evaluation:brevity"]
    assert evaluation["parent_id"] == by_name["chat"]["span_id"]
    assert evaluation["attributes"]["gen_ai.evaluation.score.value"] == 0.8


def test_otel_environment_variables_choose_and_configure_the_sink(receiver, monkeypatch) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone selects OTLP; OTEL_EXPORTER_OTLP_HEADERS are sent."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k,x-team=ml")
    LLMObs.enable(ml_app="support-bot")
    with LLMObs.task("one"):
        pass
    assert LLMObs.flush() and receiver.wait_for_spans(1)
    assert receiver.headers[0]["authorization"] == "Bearer t0k"
    assert receiver.headers[0]["x-team"] == "ml"
    assert "t0k" not in repr(state.tracer.writer.sinks)


def test_gzip_compression_and_resource_attributes_from_the_environment(receiver,
                                                                       monkeypatch) -> None:
    """OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses each request; OTEL_RESOURCE_ATTRIBUTES
    joins the resource, under the sink's own service and project names."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "k8s.pod.name=web-1,service.name=ignored")
    LLMObs.enable(ml_app="support-bot", exporter="otlp", otlp_endpoint=receiver.url,
                  service="support")
    with LLMObs.task("one"):
        pass
    assert LLMObs.flush() and receiver.wait_for_spans(1)
    assert receiver.headers[0]["content-encoding"] == "gzip"
    resource = receiver.spans[0]["resource"]
    assert resource["k8s.pod.name"] == "web-1" and resource["service.name"] == "support"
    assert resource["telemetry.sdk.name"] == "llmobs"


def test_a_span_exporter_of_your_own_gets_sdk_span_records() -> None:
    """OTLPSink(exporter=...) hands OpenTelemetry ReadableSpans, with the same ids, attributes
    and error status, to any SpanExporter."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    LLMObs.enable(ml_app="support-bot", exporter=OTLPSink(exporter=exporter))
    with pytest.raises(ValueError), LLMObs.workflow("answer") as root:
        raise ValueError("no parcel")
    assert LLMObs.flush()
    (span,) = exporter.get_finished_spans()
    assert span.name == "answer" and span.context.span_id == root.span_id
    assert span.status.status_code is StatusCode.ERROR
    assert span.events[0].attributes["exception.message"] == "no parcel"
    assert span.attributes["openinference.span.kind"] == "CHAIN"
    assert span.resource.attributes["openinference.project.name"] == "support-bot"


def test_the_global_tracer_provider_is_never_touched(receiver) -> None:
    """Exporting over OTLP leaves OpenTelemetry's global tracer provider as it was."""
    before = trace.get_tracer_provider()
    LLMObs.enable(ml_app="support-bot", exporter="otlp", otlp_endpoint=receiver.url)
    record_conversation()
    assert LLMObs.flush()
    LLMObs.disable()
    assert trace.get_tracer_provider() is before


def test_an_unreachable_endpoint_counts_dropped_spans(caplog) -> None:
    """When the receiver cannot be reached the batch is counted as dropped, not lost silently."""
    with FakeOTLPReceiver() as gone:
        url = gone.url
    caplog.set_level(logging.CRITICAL, logger="opentelemetry")
    sink = OTLPSink(url + "/v1/traces", timeout=0.5)
    LLMObs.enable(ml_app="support-bot", exporter=sink)
    with LLMObs.task("lost"):
        pass
    LLMObs.flush(10)
    assert LLMObs.stats()["dropped"]["sink_error"] == 1


def test_otlp_needs_no_opentelemetry_package(monkeypatch, receiver) -> None:
    """Spans are encoded as OTLP by llmobs itself: with OpenTelemetry's SDK and exporter
    packages unimportable, an endpoint in the environment still selects OTLP and delivers."""
    for module in ("opentelemetry.exporter.otlp.proto.http",
                   "opentelemetry.exporter.otlp.proto.http.trace_exporter",
                   "opentelemetry.sdk", "opentelemetry.sdk.trace"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, "llmobs_core.export.otlp", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    LLMObs.enable(ml_app="support-bot")
    assert [type(sink).__name__ for sink in state.tracer.writer.sinks] == ["OTLPSink"]
    with LLMObs.workflow("answer"):
        pass
    assert LLMObs.flush(10) and receiver.wait_for_spans(1)
    assert [span["name"] for span in receiver.spans] == ["answer"]


# -- a real OTLP backend: Arize Phoenix -----------------------------------------------------------


def test_phoenix_shows_the_spans_with_their_tree_intact(phoenix) -> None:
    """Spans sent by llmobs are queryable in Phoenix under the ml_app's project, with the same
    trace and span ids, the same parents, and Phoenix's span kinds."""
    memory = MemorySink()
    LLMObs.enable(ml_app="phoenix-check", exporter=[memory, "otlp"], otlp_endpoint=phoenix)
    record_conversation()
    assert LLMObs.flush(30)
    spans = phoenix_spans(phoenix, "phoenix-check", len(memory.spans) + 1)
    by_id = {span["context"]["span_id"]: span for span in spans}
    assert len(by_id) == len(memory.spans) + 1
    for event in memory.spans:
        span = by_id[f"{int(event['span_id']):016x}"]
        assert span["context"]["trace_id"] == event["trace_id"]
        parent = event["parent_id"]
        assert span["parent_id"] == (None if parent == "undefined" else f"{int(parent):016x}")
        assert span["name"] == event["name"]
    kinds = {span["name"]: span["span_kind"] for span in spans}
    assert kinds == {"answer": "CHAIN", "helper": "AGENT", "lookup": "RETRIEVER", "chat": "LLM",
                     "embedding": "EMBEDDING", "track": "TOOL", "format": "CHAIN",
                     "evaluation:brevity": "EVALUATOR"}
    chat = next(span for span in spans if span["name"] == "chat")
    assert chat["attributes"]["llm.model_name"] == "gpt-4o"
    assert chat["attributes"]["session.id"] == "sess-7"
    track = next(span for span in spans if span["name"] == "track")
    assert track["status_code"] == "ERROR"
