"""One trace from a web request to a fleet of short-lived worker processes: a real uvicorn
server with LLMObsMiddleware publishes 100 tasks from inside its request span to a prefork
worker that replaces its child process after every task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmobs_starlette import span_context
from tests.apps.celery_app import close_app, make_app
from tests.apps.celery_app.harness import (
    BACKEND,
    BROKERS,
    REDIS,
    WorkerSpec,
    new_queue,
    private_folder,
    require,
    running_workers,
    stored_spans,
    tag,
    task_id,
)
from tests.apps.celery_app.tasks import PREFIX
from tests.support.asgi_server import serve_in_subprocess

TASKS = 100
# Redis only: the scenarios of test_workers.py already run on both brokers, and
# recycling children costs the same on either (about ten seconds of the suite).
# Celery takes about 0.1 s to replace a child and lets the old one linger a second, so with
# two children 100 recycles take 15 s or more (with stalls of seconds); eight keep it near 5.
CHILDREN = 8


@pytest.fixture
def folder() -> Iterator[Path]:
    with private_folder() as path:
        yield path


def test_tasks_published_in_a_request_are_its_children_across_recycled_workers(
        folder: Path) -> None:
    """100 tasks published inside an ASGI request span, run by a prefork worker with
    max_tasks_per_child=1 (each in a fresh child process), give exactly 100 task spans in the
    store, each a child of the request span with its trace id, ml_app and session."""
    require(REDIS, "Redis")
    spec = WorkerSpec(BROKERS["redis"], new_queue(), folder, concurrency=CHILDREN,
                      extra=("--max-tasks-per-child", "1"))
    web_env = {"LLMOBS_TEST_BROKER": spec.broker, "LLMOBS_TEST_BACKEND": BACKEND,
               "LLMOBS_TEST_QUEUE": spec.queue, "LLMOBS_LOCAL_PATH": str(spec.store)}
    with running_workers(spec, wait=False) as (worker,):  # starts while the server does
        with serve_in_subprocess("tests.apps.celery_app.web:app", env=web_env) as url:
            response = httpx.post(f"{url}/dispatch", params={"count": TASKS},
                                  headers={"x-session-id": "session-42"}, timeout=30)
        worker.wait_ready()
        assert response.status_code == 200
        task_ids = response.json()["task_ids"]
        results = make_app(spec.broker, BACKEND, spec.queue)
        pids = {results.AsyncResult(i).get(timeout=60) for i in task_ids}
        close_app(results)
    ids = span_context(response.headers["traceresponse"])
    trace_id, request_span_id = ids["trace_id"], ids["span_id"]
    in_trace = [s for s in stored_spans(spec.store) if s["trace_id"] == trace_id]
    (request,) = [s for s in in_trace if s["span_id"] == request_span_id]
    task_spans = [s for s in in_trace if s["name"] == PREFIX + "pid"]

    assert len(pids) == TASKS  # every task ran in a child process of its own
    assert request["name"] == "POST /dispatch" and request["session_id"] == "session-42"
    assert len(task_spans) == TASKS
    assert sorted(task_id(s) for s in task_spans) == sorted(task_ids)
    assert {s["parent_id"] for s in task_spans} == {request_span_id}
    assert {tag(s, "ml_app") for s in task_spans} == {"shop-web"}
    assert {s["session_id"] for s in task_spans} == {"session-42"}
    assert {s["status"] for s in task_spans} == {"ok"}
