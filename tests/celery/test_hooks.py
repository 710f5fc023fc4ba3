"""llmobs_celery in one process: install/uninstall, options, eager execution, and the trace
context written into published messages (read back from kombu's in-memory transport)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, chord, signals
from celery.app import trace as celery_trace

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_core.propagation import HEADERS, extract_dict
from llmobs_core.testing import capture
from tests.apps.celery_app import make_app
from tests.apps.celery_app.harness import tag, task_id
from tests.apps.celery_app.tasks import PREFIX

SIGNALS = (signals.before_task_publish, signals.task_failure, signals.task_retry,
           signals.worker_init,
           signals.worker_process_init,
           signals.worker_process_shutdown, signals.worker_shutdown)


@pytest.fixture
def uninstalled() -> Iterator[None]:
    yield
    llmobs_celery.uninstall()


@pytest.fixture
def eager_app(uninstalled: None) -> Celery:
    return make_app("memory://", None, "eager", task_always_eager=True)


@pytest.fixture
def memory_app(uninstalled: None) -> Celery:
    return make_app("memory://", "cache+memory://", f"memory-{uuid.uuid4().hex[:8]}")


def ours(signal: Any) -> list[Any]:
    return [r for r in signal.receivers if str(r[0][0]).startswith("llmobs_celery.")]


def published(app: Celery, count: int) -> list[Any]:
    """The next `count` messages waiting in the app's default queue."""
    messages = []
    with app.connection_for_read() as connection:
        with connection.SimpleQueue(app.conf.task_default_queue) as queue:
            for _ in range(count):
                message = queue.get(timeout=1)
                message.ack()
                messages.append(message)
    return messages


def task(app: Celery, name: str) -> Any:
    return app.tasks[PREFIX + name]


def test_install_is_idempotent_and_uninstall_symmetric(uninstalled: None) -> None:
    """Installing twice connects each receiver once and wraps Celery's tracer builder once;
    uninstall leaves no receiver connected and puts the builder back."""
    before = {signal: len(signal.receivers) for signal in SIGNALS}
    build_tracer = celery_trace.build_tracer
    llmobs_celery.install()
    llmobs_celery.install(capture_input=True)
    assert all(len(ours(signal)) == 1 for signal in SIGNALS)
    assert celery_trace.build_tracer.__wrapped__ is build_tracer
    llmobs_celery.uninstall()
    llmobs_celery.uninstall()
    assert all(not ours(signal) for signal in SIGNALS)
    assert {signal: len(signal.receivers) for signal in SIGNALS} == before
    assert celery_trace.build_tracer is build_tracer


@pytest.mark.parametrize("options, error", [
    ({"kind": "job"}, ValueError),
    ({"capture_input": "yes"}, TypeError),
    ({"overrides": {"t": {"capture": False}}}, ValueError),
    ({"overrides": {"t": {"kind": "job"}}}, ValueError),
    ({"overrides": ["t"]}, TypeError),
    ({"name": 3}, TypeError),
    ({"flush_timeout": -1}, ValueError),
])
def test_wrong_options_raise(uninstalled: None, options: dict[str, Any],
                             error: type[Exception]) -> None:
    """A wrong option is refused at install() with an error naming it."""
    with pytest.raises(error):
        llmobs_celery.install(**options)


def test_app_must_be_a_celery_app(uninstalled: None) -> None:
    """install() refuses something that is not a Celery application."""
    with pytest.raises(TypeError, match="celery.Celery"):
        llmobs_celery.install("app")  # type: ignore[arg-type]


def test_eager_tasks_are_children_of_the_active_span(eager_app: Celery) -> None:
    """delay, apply_async and apply in eager mode give task spans under the caller's span,
    with its trace, ml_app and session."""
    llmobs_celery.install()
    with capture(ml_app="publisher") as captured:
        with LLMObs.workflow("request", session_id="session-1") as request:
            task(eager_app, "add").delay(1, 2)
            task(eager_app, "add").apply_async((3, 4))
            task(eager_app, "add").apply((5, 6))
        spans = [s for s in captured.spans if s["name"] == PREFIX + "add"]
    assert len(spans) == 3
    for span in spans:
        assert span["parent_id"] == str(request.span_id)
        assert span["trace_id"] == f"{request.trace_id:032x}"
        assert span["session_id"] == "session-1"
        assert tag(span, "ml_app") == "publisher"
        assert span["meta"]["span"]["kind"] == "task"
        assert (tag(span, "celery.attempt"), tag(span, "celery.eager"),
                tag(span, "celery.state")) == ("1", "true", "SUCCESS")
    assert llmobs_celery.stats()["open_spans"] == 0


def test_eager_retry_gives_one_span_per_attempt(eager_app: Celery) -> None:
    """Each attempt of a retried eager task is its own span under the same parent, tagged
    with its attempt number; failed attempts carry the error that caused the retry."""
    llmobs_celery.install()
    with capture() as captured:
        with LLMObs.workflow("request") as request:
            assert task(eager_app, "flaky").delay(2).get() == 3
        attempts = [s for s in captured.spans if s["name"] == PREFIX + "flaky"]
    assert [tag(s, "celery.attempt") for s in attempts] == ["1", "2", "3"]
    assert [tag(s, "celery.state") for s in attempts] == ["RETRY", "RETRY", "SUCCESS"]
    assert {s["parent_id"] for s in attempts} == {str(request.span_id)}
    assert [s["status"] for s in attempts] == ["error", "error", "ok"]
    assert attempts[0]["meta"]["error"]["type"] == "builtins.ConnectionError"
    assert len({task_id(s) for s in attempts}) == 1


@pytest.mark.parametrize("propagates", [False, True])
def test_eager_failure_records_the_error(eager_app: Celery, propagates: bool) -> None:
    """A failing eager task's span has the error type, message and stack, whether Celery
    keeps the exception in the result or raises it to the caller."""
    eager_app.conf.task_eager_propagates = propagates
    llmobs_celery.install()
    with capture() as captured:
        if propagates:
            with pytest.raises(ValueError, match="boom"):
                task(eager_app, "fail").delay("boom")
        else:
            assert task(eager_app, "fail").delay("boom").state == "FAILURE"
        span = captured.by_name(PREFIX + "fail")
    assert span["status"] == "error"
    assert span["meta"]["error"]["type"] == "builtins.ValueError"
    assert span["meta"]["error"]["message"] == "boom"
    assert 'raise ValueError(message)' in span["meta"]["error"]["stack"]
    assert tag(span, "celery.state") == "FAILURE"
    assert llmobs_celery.stats()["open_spans"] == 0


def test_arguments_and_results_are_not_recorded_by_default(eager_app: Celery) -> None:
    """Without capture options a task span holds neither its arguments nor its result."""
    llmobs_celery.install()
    with capture() as captured:
        task(eager_app, "add").delay(1, 2)
        span = captured.by_name(PREFIX + "add")
    assert "input" not in span["meta"] and "output" not in span["meta"]


def test_capture_options_and_per_task_overrides(eager_app: Celery) -> None:
    """capture_input/capture_output record arguments and results; overrides change the kind,
    the name and the capture of one task, or turn its spans off."""
    llmobs_celery.install(capture_input=True, capture_output=True, overrides={
        PREFIX + "collect": {"capture_input": False, "kind": "tool", "name": "summing"},
        PREFIX + "noop": {"enabled": False},
    })
    with capture() as captured:
        task(eager_app, "add").delay(1, y=2)
        task(eager_app, "collect").delay([1, 2])
        task(eager_app, "noop").delay()
        add, summing = captured.by_name(PREFIX + "add"), captured.by_name("summing")
        names = [s["name"] for s in captured.spans]
    assert add["meta"]["input"] == {"value": '{"args": [1], "kwargs": {"y": 2}}'}
    assert add["meta"]["output"] == {"value": "3"}
    assert "input" not in summing["meta"] and summing["meta"]["output"] == {"value": "3"}
    assert summing["meta"]["span"]["kind"] == "tool"
    assert PREFIX + "noop" not in names


def test_a_failing_name_callable_falls_back_to_the_task_name(eager_app: Celery) -> None:
    """A span name callable that raises is reported once and the task name is used."""
    def broken(task: Any) -> str:
        raise RuntimeError("no name")

    llmobs_celery.install(name=broken)
    with capture() as captured:
        assert task(eager_app, "add").delay(1, 2).get() == 3
        assert captured.by_name(PREFIX + "add")["status"] == "ok"


def test_only_the_given_app_is_traced(eager_app: Celery) -> None:
    """install(app) traces that app's tasks and leaves another app's untraced."""
    other = make_app("memory://", None, "other", task_always_eager=True)
    llmobs_celery.install(other)
    with capture() as captured:
        task(eager_app, "add").delay(1, 2)
        task(other, "noop").delay()
        assert [s["name"] for s in captured.spans] == [PREFIX + "noop"]


def test_tasks_run_untraced_while_llmobs_is_disabled(eager_app: Celery) -> None:
    """With llmobs disabled the tasks run and give their results; nothing is recorded."""
    llmobs_celery.install()
    assert task(eager_app, "flaky").delay(1).get() == 2
    assert task(eager_app, "fail").delay("x").state == "FAILURE"
    assert llmobs_celery.stats() == {"open_spans": 0, "faults": {}}


def test_published_messages_carry_the_active_span(memory_app: Celery) -> None:
    """A message published inside a span carries its context in Datadog headers and a W3C
    traceparent, without what would only repeat them (tracestate, baggage, and the llmobs
    trace id of a trace llmobs started: the APM one); one published outside any span carries
    none."""
    llmobs_celery.install()
    with capture(ml_app="publisher"):
        with LLMObs.workflow("request", session_id="session-1") as request:
            task(memory_app, "add").delay(1, 2)
        task(memory_app, "add").delay(3, 4)
    inside, outside = published(memory_app, 2)
    assert {"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
            "x-datadog-tags", "traceparent"} == set(HEADERS) & set(inside.headers)
    context = extract_dict(inside.headers)
    assert context is not None
    assert (context.parent_id, context.trace_id) == (request.span_id, request.trace_id)
    assert (context.ml_app, context.session_id) == ("publisher", "session-1")
    assert "_dd.p.llmobs_trace_id=" not in inside.headers["x-datadog-tags"]
    assert not set(HEADERS) & set(outside.headers)


def test_context_headers_are_bounded(memory_app: Celery) -> None:
    """A huge session id cannot bloat the message: the trace headers stay within budget and
    still name the parent."""
    llmobs_celery.install()
    with capture():
        with LLMObs.workflow("request", session_id="s" * 6000) as request:
            task(memory_app, "noop").delay()
    (message,) = published(memory_app, 1)
    sizes = [len(str(v)) for k, v in message.headers.items() if k in HEADERS]
    assert sum(sizes) <= llmobs_celery.carrier.MAX_CONTEXT_CHARS
    assert extract_dict(message.headers).parent_id == request.span_id


def test_a_session_id_too_long_for_x_datadog_tags_travels_in_baggage(
        memory_app: Celery) -> None:
    """When x-datadog-tags has no room for the session id, the baggage header carries it."""
    llmobs_celery.install()
    with capture():
        with LLMObs.workflow("request", session_id="s" * 600):
            task(memory_app, "noop").delay()
    (message,) = published(memory_app, 1)
    assert "baggage" in message.headers
    assert extract_dict(message.headers).session_id == "s" * 600


def test_headers_given_by_the_caller_are_kept(memory_app: Celery) -> None:
    """Trace headers passed explicitly to apply_async are sent as given."""
    llmobs_celery.install()
    with capture():
        with LLMObs.workflow("elsewhere") as elsewhere:
            explicit = LLMObs.inject_distributed_headers({})
        with LLMObs.workflow("request"):
            task(memory_app, "noop").apply_async(headers=explicit)
    (message,) = published(memory_app, 1)
    assert extract_dict(message.headers).parent_id == elsewhere.span_id


def test_chord_body_carries_the_chord_publisher(memory_app: Celery) -> None:
    """The chord body embedded in each header task's message carries the context of the span
    that published the chord, so the body is its child whichever worker sends it."""
    llmobs_celery.install()
    with capture():
        with LLMObs.workflow("request") as request:
            chord([task(memory_app, "add").s(i, i) for i in range(2)],
                  task(memory_app, "collect").s()).apply_async()
    for message in published(memory_app, 2):
        body_headers = message.payload[2]["chord"]["options"]["headers"]
        assert extract_dict(body_headers).parent_id == request.span_id
        assert extract_dict(message.headers).parent_id == request.span_id


def test_public_surface() -> None:
    """llmobs_celery exports exactly install, stats and uninstall, sorted."""
    assert llmobs_celery.__all__ == ["install", "stats", "uninstall"]
    assert all(callable(getattr(llmobs_celery, name)) for name in llmobs_celery.__all__)
