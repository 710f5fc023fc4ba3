"""The Datadog sink against a fake intake on 127.0.0.1 that checks every request against
WIRE.md: modes, headers, retries and their bounds, rejections, size limits, secrecy, exit."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_intake import FakeIntake, Fault

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.export import default_exporters
from llmobs_core.export.datadog import DatadogSink, DeliveryError, RetryPolicy, tracer_version
from llmobs_core.export.writer import Writer
from llmobs_core.store_queries import list_spans
from llmobs_core.testing import capture
from llmobs_core.tracer import Tracer, install, state

KEY = "test-api-key"
FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=5.0)
_ENV = ("DD_LLMOBS_AGENTLESS_ENABLED", "DD_API_KEY", "DD_SITE", "DD_TRACE_AGENT_URL",
        "DD_AGENT_HOST", "DD_TRACE_AGENT_PORT", "DD_LLMOBS_OVERRIDE_ORIGIN", "LLMOBS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "LLMOBS_LOCAL_PATH")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def intake():
    with FakeIntake(mode="agentless", api_key=KEY) as server:
        yield server


@pytest.fixture
def make_sink(intake):
    """Agentless sinks aimed at the fake intake, with fast retries; closed after the test."""
    sinks = []

    def make(**options) -> DatadogSink:
        options.setdefault("retry", FAST)
        sinks.append(DatadogSink.agentless(KEY, override_origin=intake.url, **options))
        return sinks[-1]

    yield make
    for sink in sinks:
        sink.shutdown()


def _record(count: int, prefix: str = "span") -> None:
    for index in range(count):
        with LLMObs.task(f"{prefix}-{index}"):
            pass


def _names(intake: FakeIntake) -> list[str]:
    return [span["name"] for span in intake.spans]


def test_agentless_sends_spans_and_evaluations_in_wire_shape(intake) -> None:
    """DD_LLMOBS_AGENTLESS_ENABLED with a key posts WIRE.md envelopes and eval bodies, with
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
    assert sorted(_names(intake)) == ["flow", "llm", "search"]
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
    _record(3)
    assert LLMObs.flush()
    assert intake.problems == [] and len(intake.spans) == 3


def test_an_agent_on_a_unix_socket(tmp_path, monkeypatch) -> None:
    """DD_TRACE_AGENT_URL=unix:///path reaches an Agent listening on a Unix domain socket."""
    with FakeIntake(mode="agent", unix_path=str(tmp_path / "apm.socket")) as agent:
        monkeypatch.setenv("DD_TRACE_AGENT_URL", agent.url)
        LLMObs.enable(ml_app="shop")
        _record(2)
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
    _record(4)
    assert LLMObs.flush()
    stored = list_spans(str(tmp_path / "traces.db"), ml_app="shop")
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
        sink.send_spans(_events(1))
    intake.stop()
    with pytest.raises(DeliveryError) as unreachable:
        sink.send_spans(_events(1))
    texts = [caplog.text, str(refused.value), str(unreachable.value), repr(sink),
             repr(resolve({"api_key": secret}))]
    assert "HTTP 403" in caplog.text and "invalid key ***" in caplog.text
    assert not [text for text in texts if secret in text]
    sink.shutdown()


def _events(count: int, **annotations) -> list[dict]:
    """Real span events, built by llmobs itself before any sink is involved."""
    with capture(ml_app="shop") as captured:
        for index in range(count):
            with LLMObs.task(f"task-{index}"):
                if annotations:
                    LLMObs.annotate(**annotations)
        return captured.spans


def test_transient_faults_lose_nothing_and_send_nothing_twice(intake, make_sink) -> None:
    """503, 500, 408, a reset connection, a stalled answer and a 429 are retried: every span
    arrives, and none twice."""
    sink = make_sink(timeout=0.5)
    LLMObs.enable(ml_app="shop", exporter=sink)
    faults = [Fault.answer(503), Fault.answer(500), Fault.answer(408), Fault.connection_reset(),
              Fault.stalled(2.0), Fault.answer(429, retry_after="0")]
    for index, fault in enumerate(faults):
        intake.inject(fault)
        _record(5, prefix=f"round{index}")
        assert LLMObs.flush(10)
    span_ids = [span["span_id"] for span in intake.spans]
    assert len(span_ids) == len(set(span_ids)) == 30
    assert sorted(_names(intake)) == sorted(f"round{r}-{i}" for r in range(6) for i in range(5))
    assert intake.problems == []
    assert sink.stats()["retries"] == 6 and sink.stats()["failed"] == 0
    assert sum(LLMObs.stats()["dropped"].values()) == 0


def test_retry_after_is_honoured(intake, make_sink) -> None:
    """After a 429 with Retry-After: 1 the next attempt waits at least that second."""
    sink = make_sink()
    intake.inject(Fault.answer(429, retry_after="1"))
    sink.send_spans(_events(2))
    first, second = intake.requests
    assert second.at - first.at >= 0.95
    assert len(intake.spans) == 2


def test_a_pause_longer_than_allowed_fails_without_sending_early(intake, make_sink) -> None:
    """A Retry-After beyond the policy's bound fails the batch, and the next batch too while
    the pause lasts, without calling the intake before the time it asked for."""
    sink = make_sink(retry=RetryPolicy(attempts=3, base_delay=0.01, max_retry_after=0.5))
    intake.inject(Fault.answer(429, retry_after="30"))
    for _ in range(2):
        with pytest.raises(DeliveryError, match="pause of 30 s"):
            sink.send_spans(_events(1))
    assert len(intake.requests) == 1


@pytest.mark.llmobs_errors_expected
def test_other_4xx_are_not_retried_and_logged_once(intake, make_sink, caplog) -> None:
    """A 400 is final: one request per batch, one error log with the intake's reason, and the
    spans are counted as dropped."""
    intake.outage(Fault.answer(400, message="metrics key invalid"))
    sink = make_sink()
    LLMObs.enable(ml_app="shop", exporter=sink)
    for _ in range(3):
        _record(2)
        LLMObs.flush()
    assert len(intake.requests) == 3
    refusals = [r.getMessage() for r in caplog.records
                if r.levelno == logging.ERROR and "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert "HTTP 400 Injected fault" in refusals[0] and "metrics key invalid" in refusals[0]
    assert LLMObs.stats()["dropped"]["sink_error"] == 6 and sink.stats()["rejected"] == 6


def test_a_sink_that_stays_down_costs_bounded_memory_and_recovers(intake, make_sink) -> None:
    """While the intake refuses connections the queue stays within its bound and every span
    is counted as sent or dropped; when it is back, new spans arrive without intervention."""
    intake.stop()
    sink = make_sink(retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    writer = Writer([sink], ["language:python"], max_queue=100, batch_size=20, interval=0.01)
    install(Tracer(resolve({"ml_app": "shop"}), writer))
    _record(1000, prefix="down")
    assert LLMObs.stats()["pending"] <= 100
    LLMObs.flush(10)
    stats = LLMObs.stats()
    assert stats["sent"] == 0 and stats["pending"] == 0
    assert stats["dropped"]["sink_error"] == stats["enqueued"]
    assert stats["dropped"]["queue_full"] == 1000 - stats["enqueued"] > 0
    intake.start()
    _record(30, prefix="back")
    assert LLMObs.flush(10)
    assert sorted(_names(intake)) == sorted(f"back-{i}" for i in range(30))
    assert intake.problems == [] and state.tracer.writer.stats()["sent"] == 30


def test_requests_stay_under_5_mib_and_an_oversize_event_is_cut_down(intake, make_sink) -> None:
    """A batch bigger than 5 MiB is split across requests; an event of 5,000,000 bytes or more
    is sent with input and output replaced and collection_errors ["dropped_io"]; the
    caller's events are left as they were."""
    events = _events(12, input_data="x" * 1_000_000)
    huge = _events(1, input_data="y" * 6_000_000, output_data="done")[0]
    huge["name"] = "huge"
    sink = make_sink()
    sink.send_spans(events + [huge])
    assert intake.problems == []
    assert len(intake.requests) >= 3 and max(r.size for r in intake.requests) <= 5 << 20
    assert len(intake.spans) == 13
    received = next(span for span in intake.spans if span["name"] == "huge")
    assert received["collection_errors"] == ["dropped_io"]
    assert received["meta"]["input"] == received["meta"]["output"] == {
        "value": "dropped: over the size limit"}
    assert sink.stats()["truncated"] == 1
    assert huge["meta"]["input"]["value"].startswith("yyy") and "collection_errors" not in huge


def test_metric_keys_with_dots_are_rewritten(intake, make_sink) -> None:
    """A "." in a metric key (say, from a span processor) becomes "_" on the wire."""
    event = _events(1)[0]
    event["metrics"] = {"cost.usd": 0.5, "input_tokens": 3}
    make_sink().send_spans([event])
    assert intake.problems == []
    assert intake.spans[0]["metrics"] == {"cost_usd": 0.5, "input_tokens": 3}
    assert event["metrics"] == {"cost.usd": 0.5, "input_tokens": 3}


def test_an_event_json_cannot_encode_is_dropped_alone(intake, make_sink) -> None:
    """A circular reference left by a span processor drops that event only, counted."""
    events = _events(3)
    looped: dict = {}
    looped["self"] = looped
    events[1]["meta"]["metadata"] = looped
    sink = make_sink()
    sink.send_spans(events)
    assert intake.problems == []
    assert sorted(_names(intake)) == ["task-0", "task-2"]
    assert sink.stats()["unencodable"] == 1


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(intake, make_sink) -> None:
    """After fork() the child never writes on the parent's keep-alive connection: it opens its
    own, and the spans of both processes arrive, each once."""
    LLMObs.enable(ml_app="shop", exporter=make_sink())
    _record(3, prefix="before")
    assert LLMObs.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _record(3, prefix="child")
            code = 0 if LLMObs.flush(10) else 1
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    _record(3, prefix="after")
    assert LLMObs.flush()
    parent, child, parent_again = (request.peer for request in intake.requests)
    assert child != parent == parent_again
    assert intake.problems == []
    assert sorted(_names(intake)) == sorted(
        f"{prefix}-{i}" for prefix in ("before", "child", "after") for i in range(3))


_EXIT_SCRIPT = """
import sys
from llmobs_core import LLMObs
LLMObs.enable(ml_app="shop", agentless_enabled=True, api_key=sys.argv[2],
              override_origin=sys.argv[1], shutdown_timeout=1.0)
for i in range(50):
    with LLMObs.task(f"exit-{i}"):
        pass
"""


def _run_and_exit(intake: FakeIntake) -> float:
    environment = {k: v for k, v in os.environ.items() if k not in _ENV}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, intake.url, KEY], env=environment,
                   cwd=Path(__file__).parent.parent, check=True, timeout=30)
    return time.monotonic() - started


def test_exit_delivers_what_was_recorded(intake) -> None:
    """A process that records spans and exits without flushing still delivers them."""
    _run_and_exit(intake)
    assert intake.wait_for_spans(50, timeout=5)
    assert sorted(_names(intake)) == sorted(f"exit-{i}" for i in range(50))


def test_exit_with_a_stalled_intake_ends_within_the_deadline(intake) -> None:
    """A stalled intake cannot hold the process past its shutdown_timeout for long."""
    intake.outage(Fault.stalled(30))
    assert _run_and_exit(intake) < 10
