"""Real `celery worker` processes (prefork, two children) on Redis and on RabbitMQ: every
scenario is published once per broker by a module fixture, each under its own request span;
the tests then read what the worker stored in the local trace store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery, chain, chord, group

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.apps.celery_app import close_app, make_app
from tests.apps.celery_app.harness import (
    BROKERS,
    RABBITMQ,
    REDIS,
    Worker,
    WorkerSpec,
    new_queue,
    private_folder,
    require,
    running_workers,
    stored_spans,
    tag,
    task_id,
    unreachable,
)
from tests.apps.celery_app.tasks import ADD, PREFIX

FOREIGN_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS_BY_ROOT = {
    "none": {},
    "foreign": {"traceparent": f"00-{FOREIGN_TRACE}-00f067aa0ba902b7-01"},
    "malformed": {"x-datadog-trace-id": "not-a-number", "traceparent": "00-zz-zz-01",
                  "x-datadog-tags": "_dd.p.llmobs_parent_id=%%%", "baggage": ";;;="},
    "not text": {"traceparent": ["00", FOREIGN_TRACE], "x-datadog-trace-id": {"a": 1}},
}
# A ddtrace 4.x caller: its llmobs trace id is not its APM trace id.
DDTRACE_CALLER = {
    "x-datadog-trace-id": "11803532876627986230", "x-datadog-parent-id": "67667974448284343",
    "x-datadog-sampling-priority": "1",
    "x-datadog-tags": "_dd.p.tid=6b16284500000000,_dd.p.llmobs_parent_id=67667974448284343,"
                      "_dd.p.llmobs_trace_id=142342335647297242373651768381994565524",
}
# Task spans each scenario gives, once everything ran.
EXPECTED = {"calls": 3, "failure": 1, "retry": 3, "root_retry": 2, "chain": 2, "group": 3,
            "chord": 4, "nested": 2, "tool": 1, "roots": 4, "reject": 1, "ddtrace_caller": 2}


@dataclass
class Scenario:
    request: Any = None
    task_ids: list[str] = field(default_factory=list)
    has_result: bool = True  # a task that rejects its message never stores one

    @property
    def span_id(self) -> str:
        return str(self.request.span_id)

    @property
    def trace_id(self) -> str:
        return f"{self.request.trace_id:032x}"


@dataclass
class Run:
    scenarios: dict[str, Scenario]
    spans: list[dict[str, Any]]
    worker_log: str
    never_run: list[str]

    def task_spans(self, name: str) -> list[dict[str, Any]]:
        """The task spans of one scenario: those in its request's trace, or, for tasks
        published outside any span, those with its task ids."""
        scenario = self.scenarios[name]
        if scenario.request is not None:
            return [s for s in self.spans if s["trace_id"] == scenario.trace_id
                    and task_id(s) is not None]
        return [s for s in self.spans if task_id(s) in scenario.task_ids]


def _task(app: Celery, name: str) -> Any:
    return app.tasks[PREFIX + name]


def _under_request(name: str, session: str, publish: Any, has_result: bool = True) -> Scenario:
    with LLMObs.workflow(name, session_id=session) as request:
        results = publish()
    task_ids = [member for result in results for member in _task_ids(result)]
    return Scenario(request, task_ids, has_result)


def _under_ddtrace_caller(add: Any) -> Scenario:
    """Tasks published where a ddtrace caller's context is active: one inside a span under
    it, one with no span of this process in between."""
    with LLMObs.activate_distributed_headers(DDTRACE_CALLER):
        with LLMObs.workflow("ddtrace_caller") as request:
            inside = add.delay(1, 1)
        direct = add.delay(2, 2)
    return Scenario(request, [inside.id, direct.id])


def _task_ids(result: Any) -> list[str]:
    """A group's result stands for its members; any other result for one task."""
    members = getattr(result, "results", None)
    return [member.id for member in members] if members is not None else [result.id]


def _publish_all(app: Celery) -> tuple[dict[str, Scenario], list[Any]]:
    add = _task(app, "add")
    scenarios = {
        "calls": _under_request("calls", "s-calls", lambda: [
            add.delay(1, 2), add.apply_async((3, 4)), app.send_task(ADD, (5, 6))]),
        "failure": _under_request("failure", "s-failure", lambda: [
            _task(app, "fail").delay("boom")]),
        "retry": _under_request("retry", "s-retry", lambda: [_task(app, "flaky").delay(2)]),
        "chain": _under_request("chain", "s-chain", lambda: [
            chain(add.s(1, 1), add.s(10)).apply_async()]),
        "group": _under_request("group", "s-group", lambda: [
            group(add.s(i, i) for i in range(3)).apply_async()]),
        "chord": _under_request("chord", "s-chord", lambda: [
            chord([add.s(i, i) for i in range(3)], _task(app, "collect").s()).apply_async()]),
        "nested": _under_request("nested", "s-nested", lambda: [
            _task(app, "nested").delay(2)]),
        "tool": _under_request("tool", "s-tool", lambda: [
            _task(app, "with_tool").delay("where?")]),
        "reject": _under_request("reject", "s-reject", lambda: [_task(app, "reject").delay()],
                                 has_result=False),
        "ddtrace_caller": _under_ddtrace_caller(add),
        "root_retry": Scenario(None, [_task(app, "flaky").delay(1).id]),
        "roots": Scenario(None, [add.apply_async((0, 0), headers=headers).id
                                 for headers in HEADERS_BY_ROOT.values()]),
    }
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    revoked = add.apply_async((9, 9), expires=past)  # the worker revokes it as expired
    refused = add.apply_async((8, 8), serializer="pickle")  # the worker accepts only JSON
    app.send_task(PREFIX + "missing")  # a task the worker does not know
    return scenarios, [revoked.id, refused.id]


SERVICES = {"redis": [(REDIS, "Redis")], "amqp": [(REDIS, "Redis"), (RABBITMQ, "RabbitMQ")]}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Run]]:
    """One worker per reachable broker, started and stopped together; spans are read once
    the workers have exited, so this also proves that exiting delivers everything."""
    brokers = [broker for broker, needed in SERVICES.items()
               if not any(unreachable(*service) for service in needed)]
    with private_folder() as folder:
        specs = {broker: WorkerSpec(BROKERS[broker], new_queue(), folder / broker)
                 for broker in brokers}
        for spec in specs.values():
            spec.folder.mkdir()
        with running_workers(*specs.values()) as workers:
            published = {broker: _publish_and_wait(spec, worker)
                         for (broker, spec), worker in zip(specs.items(), workers)}
        yield {broker: Run(scenarios, stored_spans(specs[broker].store), worker.output(),
                           never_run)
               for (broker, (scenarios, never_run)), worker in zip(published.items(), workers)}


@pytest.fixture(params=list(SERVICES))
def run(request: pytest.FixtureRequest, runs: dict[str, Run]) -> Run:
    for service in SERVICES[request.param]:
        require(*service)
    return runs[request.param]


def _publish_and_wait(spec: WorkerSpec, worker: Worker
                      ) -> tuple[dict[str, Scenario], list[str]]:
    app = make_app(spec.broker, BROKERS["redis"], spec.queue)
    llmobs_celery.install()
    try:
        with capture(ml_app="web-front"):
            scenarios, never_run = _publish_all(app)
            for scenario in scenarios.values():
                for published_id in scenario.task_ids if scenario.has_result else ():
                    app.AsyncResult(published_id).get(timeout=20, propagate=False)
        assert llmobs_celery.stats() == {"open_spans": 0, "faults": {}}
    finally:
        llmobs_celery.uninstall()
        close_app(app)
    _wait_for_log(worker, "unregistered task")  # the last message published
    return scenarios, never_run


def _wait_for_log(worker: Worker, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.output() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_each_call_style_gives_a_child_of_the_publishing_span(run: Run) -> None:
    """delay, apply_async and send_task each give one task span: a child of the span active
    where it was published, with its trace id, the publisher's ml_app and session."""
    spans = run.task_spans("calls")
    request = run.scenarios["calls"]
    assert len(spans) == 3
    for span in spans:
        assert span["parent_id"] == request.span_id
        assert span["trace_id"] == request.trace_id
        assert tag(span, "ml_app") == "web-front"
        assert span["session_id"] == "s-calls"
        assert span["status"] == "ok" and tag(span, "celery.state") == "SUCCESS"
    assert sorted(task_id(s) for s in spans) == sorted(request.task_ids)


def test_a_failing_task_records_the_error(run: Run) -> None:
    """A task that raises gives an error span with the type, message and stack."""
    (span,) = run.task_spans("failure")
    assert span["status"] == "error" and tag(span, "error_type") == "builtins.ValueError"
    assert span["meta"]["error"]["message"] == "boom"
    assert "raise ValueError(message)" in span["meta"]["error"]["stack"]
    assert tag(span, "celery.state") == "FAILURE"


def test_a_retried_task_gives_one_span_per_attempt_under_the_same_parent(run: Run) -> None:
    """Each attempt is a span under the original publisher (never under the failed attempt),
    tagged with its attempt number; failed attempts carry the retry's cause."""
    spans = sorted(run.task_spans("retry"), key=lambda s: tag(s, "celery.attempt"))
    assert [tag(s, "celery.attempt") for s in spans] == ["1", "2", "3"]
    assert {s["parent_id"] for s in spans} == {run.scenarios["retry"].span_id}
    assert [tag(s, "celery.state") for s in spans] == ["RETRY", "RETRY", "SUCCESS"]
    assert spans[0]["meta"]["error"]["type"] == "builtins.ConnectionError"
    assert {s["session_id"] for s in spans} == {"s-retry"}


def test_the_attempts_of_a_root_task_stay_roots(run: Run) -> None:
    """A task published outside any span is a root on every attempt, not a child of the
    attempt that failed."""
    spans = run.task_spans("root_retry")
    assert sorted(tag(s, "celery.attempt") for s in spans) == ["1", "2"]
    assert {s["parent_id"] for s in spans} == {"undefined"}


def test_a_chain_step_is_the_child_of_the_step_that_published_it(run: Run) -> None:
    """The first step is the publisher's child; the worker publishes the next step from inside
    the first one, so it is that step's child, in the same trace."""
    first, second = sorted(run.task_spans("chain"), key=lambda s: s["start_ns"])
    assert first["parent_id"] == run.scenarios["chain"].span_id
    assert second["parent_id"] == first["span_id"]


def test_group_members_are_children_of_the_publisher(run: Run) -> None:
    """Every task of a group is a child of the span that published the group."""
    spans = run.task_spans("group")
    assert len(spans) == 3
    assert {s["parent_id"] for s in spans} == {run.scenarios["group"].span_id}


def test_a_chord_body_is_the_child_of_the_chord_publisher(run: Run) -> None:
    """The header tasks and the body (sent by whichever worker finished the header last) are
    all children of the span that published the chord."""
    spans = run.task_spans("chord")
    assert sorted(s["name"] for s in spans) == [PREFIX + "add"] * 3 + [PREFIX + "collect"]
    assert {s["parent_id"] for s in spans} == {run.scenarios["chord"].span_id}


def test_a_task_published_by_a_task_is_its_child(run: Run) -> None:
    """A task that publishes a task is the parent of that task's span."""
    spans = {s["name"]: s for s in run.task_spans("nested")}
    assert spans[PREFIX + "nested"]["parent_id"] == run.scenarios["nested"].span_id
    assert spans[PREFIX + "add"]["parent_id"] == spans[PREFIX + "nested"]["span_id"]
    assert spans[PREFIX + "add"]["session_id"] == "s-nested"


def test_spans_opened_inside_a_task_are_its_children(run: Run) -> None:
    """A span the task's own code opens is a child of the task span."""
    (task_span,) = run.task_spans("tool")
    (tool,) = [s for s in run.spans if s["name"] == "lookup"
               and s["trace_id"] == run.scenarios["tool"].trace_id]
    assert tool["parent_id"] == task_span["span_id"]
    assert tag(tool, "ml_app") == "web-front"


def test_messages_without_usable_context_run_as_roots(run: Run) -> None:
    """Messages with no trace headers, foreign ones (W3C without llmobs keys), malformed ones
    or ones that are not even text run normally as new roots; a foreign trace id is kept."""
    by_id = {task_id(s): s for s in run.task_spans("roots")}
    none, foreign, malformed, not_text = (by_id[i] for i in run.scenarios["roots"].task_ids)
    assert {s["parent_id"] for s in (none, foreign, malformed, not_text)} == {"undefined"}
    assert {s["status"] for s in (none, foreign, malformed, not_text)} == {"ok"}
    assert foreign["trace_id"] == FOREIGN_TRACE
    assert tag(none, "ml_app") == "celery-worker" and "session_id" not in none


def test_a_ddtrace_callers_llmobs_trace_id_travels(run: Run) -> None:
    """Under a ddtrace caller whose llmobs trace id is not its APM trace id, the message keeps
    the llmobs one (left out only when the two are the same): the task spans are in the
    caller's llmobs trace, under the publishing span or, with none, under the caller."""
    scenario = run.scenarios["ddtrace_caller"]
    assert scenario.trace_id == f"{142342335647297242373651768381994565524:032x}"
    by_id = {task_id(s): s for s in run.task_spans("ddtrace_caller")}
    inside, direct = (by_id[i] for i in scenario.task_ids)
    assert inside["parent_id"] == scenario.span_id
    assert direct["parent_id"] == "67667974448284343"


def test_rejected_revoked_and_unknown_tasks_leave_no_open_span(run: Run) -> None:
    """A task that rejects its message gets a finished span; an expired (revoked) task, a
    message the worker refuses to decode and a task it does not know get none, and the worker
    logged no llmobs fault."""
    (rejected,) = run.task_spans("reject")
    assert tag(rejected, "celery.state") == "REJECTED" and rejected["duration"] > 0
    assert not [s for s in run.spans if task_id(s) in run.never_run]
    assert not [s for s in run.spans if s["name"] == PREFIX + "missing"]
    assert "untrusted content" in run.worker_log and "unregistered task" in run.worker_log
    assert "llmobs: " not in run.worker_log


def test_every_scenario_gives_exactly_its_spans(run: Run) -> None:
    """No task span is lost or doubled: each scenario stored exactly the spans it should."""
    assert {name: len(run.task_spans(name)) for name in EXPECTED} == EXPECTED
