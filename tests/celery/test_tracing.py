"""How a task execution gets its span: install() wraps the tracer Celery builds for each task
(celery.app.trace.build_tracer) instead of connecting task_prerun/task_postrun receivers.
Tracers the worker built before install() are wrapped too; uninstall() puts back what it
replaced, and leaves alone another library's wrapper of the same function."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, Task
from celery.app import trace as celery_trace
from celery.exceptions import Reject

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.apps.celery_app import close_app, make_app
from tests.apps.celery_app.harness import (
    BROKERS,
    REDIS,
    WorkerSpec,
    new_queue,
    private_folder,
    require,
    running_worker,
    stored_spans,
    tag,
    task_id,
)
from tests.apps.celery_app.tasks import PREFIX


@pytest.fixture
def eager_app() -> Iterator[Celery]:
    yield make_app("memory://", None, "eager", task_always_eager=True)
    llmobs_celery.uninstall()


@pytest.fixture
def foreign_builder() -> Iterator[list[str]]:
    """The names of the tasks another library's wrapper of build_tracer (as error trackers
    install) built tracers for; the original function is put back afterwards."""
    original = celery_trace.build_tracer
    built: list[str] = []
    yield built
    celery_trace.build_tracer = original


def _wrap_foreign(built: list[str]) -> None:
    inner = celery_trace.build_tracer

    def build_tracer(name: str, task: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return inner(name, task, *args, **kwargs)

    celery_trace.build_tracer = build_tracer


def _run_add(app: Celery) -> list[dict[str, Any]]:
    with capture() as captured:
        with LLMObs.workflow("request"):
            assert app.tasks[PREFIX + "add"].delay(1, 2).get() == 3
        return [s for s in captured.spans if s["name"] == PREFIX + "add"]


def test_after_uninstall_tasks_run_untraced(eager_app: Celery) -> None:
    """Once uninstalled, tasks run and give their results, and record nothing."""
    llmobs_celery.install()
    assert len(_run_add(eager_app)) == 1
    llmobs_celery.uninstall()
    assert _run_add(eager_app) == []
    assert llmobs_celery.stats() == {"open_spans": 0, "faults": {}}


def test_a_direct_call_gives_no_span(eager_app: Celery) -> None:
    """Calling a task as a function runs it in the caller, with no task span (as before)."""
    llmobs_celery.install()
    with capture() as captured:
        assert eager_app.tasks[PREFIX + "add"](2, 3) == 5
        assert captured.spans == []


def test_tracers_the_consumer_rebuilds_are_wrapped(eager_app: Celery) -> None:
    """A worker's consumer builds the tracers through the build_tracer it imported, again after
    each broker reconnection: installed once the consumer module is loaded (from worker_ready,
    say), llmobs wraps that one too."""
    from celery.worker.consumer import consumer as celery_consumer

    llmobs_celery.install()
    task = eager_app.tasks[PREFIX + "add"]
    tracer = celery_consumer.build_tracer(task.name, task, eager=True, app=eager_app)
    with capture() as captured:
        assert tracer("id-1", (1, 2), {}, {"id": "id-1", "is_eager": True}).retval == 3
        assert [s["name"] for s in captured.spans] == [PREFIX + "add"]


class _RejectedOnSuccess(Task):  # type: ignore[misc]
    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        raise Reject("refused after the fact", requeue=False)


def test_a_reject_from_on_success_gives_a_rejected_span(eager_app: Celery) -> None:
    """Reject raised by a task's on_success goes through Celery to the caller: the span is
    finished, REJECTED, without an error."""
    def one() -> int:
        return 1

    refused = eager_app.task(name="refused", base=_RejectedOnSuccess)(one)
    llmobs_celery.install()
    with capture() as captured:
        with pytest.raises(Reject):
            refused.delay()
        span = captured.by_name("refused")
    assert tag(span, "celery.state") == "REJECTED" and span["status"] == "ok"
    assert llmobs_celery.stats()["open_spans"] == 0


@pytest.mark.parametrize("foreign_first", [True, False])
def test_another_wrapper_of_build_tracer_is_kept(eager_app: Celery, foreign_builder: list[str],
                                                 foreign_first: bool) -> None:
    """Another library's wrapper of build_tracer, installed before or after llmobs, keeps
    working; each task still gets exactly one span; uninstall() removes only llmobs's part."""
    if foreign_first:
        _wrap_foreign(foreign_builder)
    llmobs_celery.install()
    if not foreign_first:
        _wrap_foreign(foreign_builder)
    assert len(_run_add(eager_app)) == 1
    assert PREFIX + "add" in foreign_builder
    llmobs_celery.uninstall()
    foreign_builder.clear()
    assert _run_add(eager_app) == []
    assert foreign_builder == [PREFIX + "add"]


@pytest.mark.parametrize("pool, signal", [("prefork", "worker_process_init"),
                                          ("solo", "worker_ready")])
def test_installing_after_the_worker_built_its_tracers(pool: str, signal: str) -> None:
    """install() called from a worker signal, after the worker built its task tracers (a
    prefork child builds them before worker_process_init, a solo worker before worker_ready):
    tasks are still traced, under their publisher, with their attempts and states."""
    require(REDIS, "Redis")
    with private_folder() as folder:
        spec = WorkerSpec(BROKERS["redis"], new_queue(), Path(folder), pool=pool,
                          install_on=signal)
        with running_worker(spec):
            app = make_app(spec.broker, BROKERS["redis"], spec.queue)
            llmobs_celery.install()
            try:
                with capture(ml_app="late"):
                    with LLMObs.workflow("request") as request:
                        results = [app.tasks[PREFIX + "add"].delay(1, 2),
                                   app.tasks[PREFIX + "flaky"].delay(1)]
                    assert [result.get(timeout=20) for result in results] == [3, 2]
            finally:
                llmobs_celery.uninstall()
                close_app(app)
        spans = [s for s in stored_spans(spec.store)
                 if task_id(s) and s["trace_id"] == f"{request.trace_id:032x}"]
    assert {s["parent_id"] for s in spans} == {str(request.span_id)}
    states = sorted((s["name"], tag(s, "celery.attempt"), tag(s, "celery.state"))
                    for s in spans)
    assert states == [(PREFIX + "add", "1", "SUCCESS"), (PREFIX + "flaky", "1", "RETRY"),
                      (PREFIX + "flaky", "2", "SUCCESS")]
