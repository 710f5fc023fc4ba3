"""The Datadog sink against a fake intake on 127.0.0.1 that checks every request against
docs/wire-formats.md: agentless and Agent modes, paths and headers, how settings pick sinks,
the API key's secrecy, size limits and metric keys."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.export import default_exporters
from llmobs_core.export.base import PartialDelivery
from llmobs_core.export.datadog import DatadogSink, DeliveryError, tracer_version
from llmobs_core.store.queries import list_spans
from tests.support.datadog_support import FAST, KEY, SETTINGS, events, names, record, sink_factory
from tests.support.fake_intake import FakeIntake, Fault


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def intake():
    with FakeIntake(mode="agentless", api_key=KEY) as server:
        yield server


@pytest.fixture
def make_sink(intake):
    with sink_factory(intake) as make:
        yield make


def test_agentless_sends_spans_and_evaluations_in_wire_shape(intake) -> None:
    """DD_LLMOBS_AGENTLESS_ENABLED with a key posts wire-formats.md envelopes and eval bodies, with
    DD-API-KEY, to the llmobs-intake and api paths; the intake finds nothing wrong."""
    LLMObs.enable(ml_app="shop", agentless_enabled=True, api_key=KEY,
                  override_origin=intake.url)
    with LLMObs.workflow("flow", session_id="s-1"):
        with LLMObs.llm(model_name="gpt-4o", model_provider="OpenAI") as llm:
            LLMObs.annotate(input_data=[{"role": "user", "content": "hi"}],
                            output_data=[{"role": "assistant", "content": "hello"}],
                            metrics={"input_tokens": 3, "output_tokens": 1})
        with LLMObs.retrieval("search"):
            LLMObs.annotate(input_data="q", output_data=[{"text": "doc", "score": 0.5}])
    LLMObs.submit_evaluation(LLMObs.export_span(llm), label="tone", metric_type="categorical",
                             value="warm", assessment="pass", reasoning="kind words")
    assert LLMObs.flush()
    assert intake.problems == []
    assert sorted(names(intake)) == ["flow", "llm", "search"]
    assert {r.path for r in intake.requests} == {"/api/v2/llmobs",
                                                 "/api/intake/llm-obs/v2/eval-metric"}
    assert all(r.headers["dd-api-key"] == KEY for r in intake.requests)
    llm_event = next(s for s in intake.spans if s["meta"]["span"]["kind"] == "llm")
    assert llm_event["meta"]["model_provider"] == "openai" and llm_event["session_id"] == "s-1"
    assert intake.evaluations[0]["categorical_value"] == "warm"
    assert tracer_version() != "0.0.0"


def test_agent_url_from_environment_selects_the_evp_proxy(intake, monkeypatch) -> None:
    """With DD_TRACE_AGENT_URL and no exporter named, spans and evaluations go through the
    Agent's EVP proxy with the llmobs-intake and api subdomain headers and no API key."""
    intake.mode = "agent"
    monkeypatch.setenv("DD_TRACE_AGENT_URL", intake.url)
    monkeypatch.setenv("DD_API_KEY", KEY)
    LLMObs.enable(ml_app="shop")
    with LLMObs.agent("helper") as span:
        pass
    LLMObs.submit_evaluation(LLMObs.export_span(span), label="ok", metric_type="boolean",
                             value=True)
    assert LLMObs.flush()
    assert intake.problems == []
    assert [r.path for r in intake.requests] == [
        "/evp_proxy/v2/api/v2/llmobs", "/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric"]
    assert [r.headers["x-datadog-evp-subdomain"] for r in intake.requests] == [
        "llmobs-intake", "api"]


def test_agent_host_and_port_select_the_agent(intake, monkeypatch) -> None:
    """DD_AGENT_HOST with DD_TRACE_AGENT_PORT names the Agent too."""
    intake.mode = "agent"
    monkeypatch.setenv("DD_AGENT_HOST", "127.0.0.1")
    monkeypatch.setenv("DD_TRACE_AGENT_PORT", str(intake.port))
    LLMObs.enable(ml_app="shop")
    record(3)
    assert LLMObs.flush()
    assert intake.problems == [] and len(intake.spans) == 3


def test_an_agent_on_a_unix_socket(tmp_path, monkeypatch) -> None:
    """DD_TRACE_AGENT_URL=unix:///path reaches an Agent listening on a Unix domain socket."""
    with FakeIntake(mode="agent", unix_path=str(tmp_path / "apm.socket")) as agent:
        monkeypatch.setenv("DD_TRACE_AGENT_URL", agent.url)
        LLMObs.enable(ml_app="shop")
        record(2)
        assert LLMObs.flush()
        LLMObs.disable()
    assert agent.problems == [] and len(agent.spans) == 2


@pytest.mark.parametrize(("sink", "spans_url", "evaluations_url"), [
    (lambda: DatadogSink.agentless(KEY, "datadoghq.eu"),
     "https://llmobs-intake.datadoghq.eu/api/v2/llmobs",
     "https://api.datadoghq.eu/api/intake/llm-obs/v2/eval-metric"),
    (lambda: DatadogSink.through_agent(),
     "http://localhost:8126/evp_proxy/v2/api/v2/llmobs",
     "http://localhost:8126/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric"),
    (lambda: DatadogSink.through_agent(override_origin="http://intake.test:81/base/"),
     "http://intake.test:81/base/evp_proxy/v2/api/v2/llmobs",
     "http://intake.test:81/base/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric"),
])
def test_where_each_mode_sends(sink, spans_url, evaluations_url) -> None:
    """Agentless hosts follow DD_SITE; the Agent's EVP paths; an override keeps its base path."""
    built = sink()
    assert repr(built) == f"<DatadogSink spans={spans_url} evaluations={evaluations_url}>"
    built.shutdown()


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, ["local"]),
    ({"DD_LLMOBS_AGENTLESS_ENABLED": "1", "DD_API_KEY": KEY}, ["datadog"]),
    ({"DD_AGENT_HOST": "agent"}, ["datadog"]),
    ({"DD_LLMOBS_OVERRIDE_ORIGIN": "http://127.0.0.1:9"}, ["datadog"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
    ({"DD_TRACE_AGENT_URL": "http://a:8126", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
     ["datadog", "otlp"]),
])
def test_settings_pick_the_sinks(environment, expected) -> None:
    """Without a named exporter, the Datadog and OTLP settings choose the sinks."""
    assert default_exporters(resolve({}, environment)) == expected


def test_local_store_and_datadog_together(intake, tmp_path, monkeypatch) -> None:
    """LLMOBS_EXPORTER=local,datadog keeps every span in the local store and sends it too."""
    monkeypatch.setenv("LLMOBS_LOCAL_PATH", str(tmp_path / "traces.db"))
    monkeypatch.setenv("LLMOBS_EXPORTER", "local,datadog")
    LLMObs.enable(ml_app="shop", agentless_enabled=True, api_key=KEY,
                  override_origin=intake.url)
    record(4)
    assert LLMObs.flush()
    stored = list_spans(str(tmp_path / "traces.db"), limit=100)
    assert sorted(span["span_id"] for span in stored) == sorted(
        span["span_id"] for span in intake.spans)
    assert len(stored) == 4


def test_agentless_without_api_key_fails_at_enable(monkeypatch) -> None:
    """Agentless mode with no key refuses to start and says what to set."""
    monkeypatch.setenv("DD_LLMOBS_AGENTLESS_ENABLED", "true")
    with pytest.raises(ValueError, match="set DD_API_KEY"):
        LLMObs.enable(ml_app="shop")
    assert not LLMObs.enabled()


@pytest.mark.llmobs_errors_expected
def test_api_key_never_appears_in_logs_errors_or_reprs(intake, caplog) -> None:
    """Not in a rejection log (even when the intake echoes it), a delivery error, the sink's
    or the configuration's repr."""
    secret = "sekrit-0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    sink = DatadogSink.agentless(secret, override_origin=intake.url, retry=FAST)
    intake.inject(Fault.answer(403, message=f"invalid key {secret}"))
    with pytest.raises(DeliveryError) as refused:
        sink.send_spans(events(1))
    intake.stop()
    with pytest.raises(DeliveryError) as unreachable:
        sink.send_spans(events(1))
    texts = [caplog.text, str(refused.value), str(unreachable.value), repr(sink),
             repr(resolve({"api_key": secret}))]
    assert "HTTP 403" in caplog.text and "invalid key ***" in caplog.text
    assert not [text for text in texts if secret in text]
    sink.shutdown()


def test_requests_stay_under_5_mib_and_an_oversize_event_is_cut_down(intake, make_sink) -> None:
    """A batch bigger than 5 MiB is split across requests; an event of 5,000,000 bytes or more
    is sent with input and output replaced and collection_errors ["dropped_io"]; the
    caller's events are left as they were."""
    batch = events(12, input_data="x" * 1_000_000)
    huge = events(1, input_data="y" * 6_000_000, output_data="done")[0]
    huge["name"] = "huge"
    sink = make_sink()
    sink.send_spans(batch + [huge])
    assert intake.problems == []
    assert len(intake.requests) >= 3 and max(r.size for r in intake.requests) <= 5 << 20
    assert len(intake.spans) == 13
    received = next(span for span in intake.spans if span["name"] == "huge")
    assert received["collection_errors"] == ["dropped_io"]
    assert received["meta"]["input"] == received["meta"]["output"] == {
        "value": "dropped: over the size limit"}
    assert sink.stats()["truncated"] == 1
    assert huge["meta"]["input"]["value"].startswith("yyy") and "collection_errors" not in huge


def test_an_event_still_too_big_without_its_io_keeps_what_identifies_it(intake,
                                                                        make_sink) -> None:
    """Huge metadata is no reason to lose the span: it is sent with its ids, kind and tags."""
    event = events(1, metadata={"blob": "m" * 6_000_000}, input_data="question")[0]
    make_sink().send_spans([event])
    assert intake.problems == []
    received = intake.spans[0]
    assert (received["span_id"], received["collection_errors"]) == (event["span_id"],
                                                                     ["dropped_io"])
    assert "metadata" not in received["meta"] and "ml_app:shop" in received["tags"]


def test_metric_keys_with_dots_are_rewritten(intake, make_sink) -> None:
    """A "." in a metric key (say, from a span processor) becomes "_" on the wire."""
    event = events(1)[0]
    event["metrics"] = {"cost.usd": 0.5, "input_tokens": 3}
    make_sink().send_spans([event])
    assert intake.problems == []
    assert intake.spans[0]["metrics"] == {"cost_usd": 0.5, "input_tokens": 3}
    assert event["metrics"] == {"cost.usd": 0.5, "input_tokens": 3}


def test_an_event_json_cannot_encode_is_dropped_alone(intake, make_sink) -> None:
    """A circular reference left by a span processor drops that event only, counted, and the
    sink names it to the writer (PartialDelivery) after delivering the rest."""
    batch = events(3)
    looped: dict = {}
    looped["self"] = looped
    batch[1]["meta"]["metadata"] = looped
    sink = make_sink()
    with pytest.raises(PartialDelivery) as raised:
        sink.send_spans(batch)
    assert raised.value.undelivered == {1: "unencodable"} and raised.value.already_logged
    assert intake.problems == []
    assert sorted(names(intake)) == ["task-0", "task-2"]
    assert sink.stats()["unencodable"] == 1




def test_text_that_orjson_refuses_is_still_sent(intake, make_sink) -> None:
    """A lone surrogate in an input (text cut from a UTF-16 source, left by a span processor:
    annotate() replaces it where it enters) sends that event through the standard library's
    encoder, the rest of the batch unchanged."""
    batch = events(2) + events(1, input_data="placeholder")
    batch[2]["meta"]["input"]["value"] = "half a pair: \ud83d"
    make_sink().send_spans(batch)
    assert intake.problems == [] and len(intake.spans) == 3
    assert intake.spans[2]["meta"]["input"]["value"] == "half a pair: \ud83d"


_WITHOUT_ORJSON = """
import sys
sys.modules["orjson"] = None
from llmobs_core import LLMObs
LLMObs.enable(ml_app="shop", agentless_enabled=True, api_key=sys.argv[2],
              override_origin=sys.argv[1])
with LLMObs.workflow("caf\u00e9"):
    LLMObs.annotate(input_data="na\u00efve", metrics={"a.b": 1})
LLMObs.submit_evaluation(span_with_tag_value={"tag_key": "k", "tag_value": "v"},
                         label="ok", metric_type="boolean", value=True)
"""


def test_without_orjson_the_standard_library_encodes(intake) -> None:
    """orjson is optional at run time: without it the same wire-formats.md bodies are sent."""
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    subprocess.run([sys.executable, "-c", _WITHOUT_ORJSON, intake.url, KEY], env=environment,
                   check=True, timeout=30)
    assert intake.problems == []
    assert [span["name"] for span in intake.spans] == ["caf\u00e9"]
    assert intake.spans[0]["meta"]["input"] == {"value": "na\u00efve"}
    assert intake.spans[0]["metrics"] == {"a_b": 1} and len(intake.evaluations) == 1
