"""The tasks the Celery tests run, registered on any app by register(): the same names on the
test process's publisher apps and on the worker's app."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.exceptions import Reject

from llmobs_core import LLMObs

PREFIX = "tests.apps.celery_app.tasks."
ADD = PREFIX + "add"


def add(x: int, y: int) -> int:
    return x + y


def fail(message: str) -> None:
    raise ValueError(message)


def flaky(self: Any, fails: int) -> int:
    """Fails its first `fails` attempts, retrying at once; returns the attempt that passed."""
    if self.request.retries < fails:
        raise self.retry(exc=ConnectionError(f"attempt {self.request.retries + 1} failed"),
                         countdown=0, max_retries=fails)
    return self.request.retries + 1


def nested(self: Any, x: int) -> str:
    """Publishes another task from inside this one."""
    return self.app.tasks[ADD].delay(x, x).id


def with_tool(question: str) -> str:
    with LLMObs.tool(name="lookup"):
        LLMObs.annotate(input_data=question, output_data="found")
    return "answered"


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def noop() -> None:
    return None


def collect(values: list[int]) -> int:
    return sum(values)


def pid() -> int:
    return os.getpid()


def reject() -> None:
    raise Reject("not wanted", requeue=False)


def open_spans() -> int:
    """How many task spans this worker process has open (this task's own included)."""
    import llmobs_celery

    return llmobs_celery.stats()["open_spans"]


_PLAIN = (add, fail, with_tool, slow, noop, collect, pid, reject, open_spans)
_BOUND = (flaky, nested)


def register(app: Celery) -> None:
    for fn in _PLAIN:
        app.task(name=PREFIX + fn.__name__)(fn)
    for fn in _BOUND:
        app.task(name=PREFIX + fn.__name__, bind=True)(fn)
