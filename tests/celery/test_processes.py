"""Worker processes lose nothing: each pool (prefork, threads, solo) records and delivers its
task spans, and a warm shutdown (SIGTERM) in the middle of a burst stores the span of every
task that finished."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

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

SUCCEEDED = re.compile(r"Task tests\.apps\.celery_app\.tasks\.slow\[([0-9a-f-]+)\] succeeded")


@pytest.fixture
def folder() -> Iterator[Path]:
    require(REDIS, "Redis")
    with private_folder() as path:
        yield path


@pytest.fixture
def publisher() -> Iterator[None]:
    llmobs_celery.install()
    yield
    llmobs_celery.uninstall()


def _app(queue: str) -> Celery:
    return make_app(BROKERS["redis"], BROKERS["redis"], queue)


def _open_spans_settle_at_one(app: Celery) -> bool:
    """The worker stores a task's result just before its task_postrun (which ends the span),
    so a task just fetched may still be finishing: ask until only the asking task is open."""
    deadline = time.monotonic() + 10
    while True:
        if app.tasks[PREFIX + "open_spans"].delay().get(timeout=20) == 1:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.mark.parametrize("pool", ["threads", "solo"])  # prefork: test_workers.py
def test_every_pool_records_task_spans_under_the_publisher(folder: Path, publisher: None,
                                                           pool: str) -> None:
    """With the threads and solo pools, tasks (and the tasks they publish) are
    children of their publisher, each attempt of a retried task too (whichever thread runs
    it), and no span stays open once they are done."""
    spec = WorkerSpec(BROKERS["redis"], new_queue(), folder, pool=pool)
    with running_worker(spec):
        app = _app(spec.queue)
        with capture(ml_app="pools"):
            with LLMObs.workflow("request", session_id=f"s-{pool}") as request:
                results = [app.tasks[PREFIX + "add"].delay(i, i) for i in range(4)]
                results.append(app.tasks[PREFIX + "flaky"].delay(1))
                results.append(app.tasks[PREFIX + "nested"].delay(1))
            for result in results:
                result.get(timeout=20)
            app.AsyncResult(results[-1].result).get(timeout=20)  # the task `nested` published
            if pool != "prefork":  # the pool runs in the main process: ask it directly
                assert _open_spans_settle_at_one(app)
        close_app(app)
    # The worker has exited: all it recorded must be in the store now.
    spans = [s for s in stored_spans(spec.store) if task_id(s)
             and s["trace_id"] == f"{request.trace_id:032x}"]
    direct = [s for s in spans if s["parent_id"] == str(request.span_id)]
    assert len(spans) == 8 and len(direct) == 7
    attempts = sorted((tag(s, "celery.attempt"), tag(s, "celery.state")) for s in spans
                      if s["name"] == PREFIX + "flaky")
    assert attempts == [("1", "RETRY"), ("2", "SUCCESS")]
    assert {s["session_id"] for s in spans} == {f"s-{pool}"}
    assert {tag(s, "ml_app") for s in spans} == {"pools"}


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_sigterm_during_a_burst_stores_every_finished_task(folder: Path, publisher: None,
                                                           pool: str) -> None:
    """A warm shutdown while tasks are running and queued: the span of every task the worker
    finished is in the store once it has exited, and no other task span is."""
    spec = WorkerSpec(BROKERS["redis"], new_queue(), folder, pool=pool)
    with running_worker(spec) as worker:
        app = _app(spec.queue)
        with capture(ml_app="burst"):
            with LLMObs.workflow("burst") as request:
                for _ in range(60):
                    app.tasks[PREFIX + "slow"].delay(0.02)
        close_app(app)
        _wait_until(lambda: len(SUCCEEDED.findall(worker.output())) >= 10)
        worker.terminate()
        assert worker.process.wait(20) == 0
    finished = set(SUCCEEDED.findall(worker.output()))
    stored = {task_id(s) for s in stored_spans(spec.store)
              if s["trace_id"] == f"{request.trace_id:032x}"}
    assert 10 <= len(finished) < 60
    assert stored == finished


def _wait_until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
