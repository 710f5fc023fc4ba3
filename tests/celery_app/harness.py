"""Real brokers and real `celery worker` processes for the tests: service checks (a missing
Redis or RabbitMQ skips, or fails under CI=true), a worker subprocess per queue, and reads of
the local trace store the worker and the test process both write."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from . import WORKER_ENV

REPO = Path(__file__).resolve().parents[2]
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
REDIS_DB = int(os.environ.get("LLMOBS_TEST_REDIS_DB", "13"))
BROKERS = {
    "redis": f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
    "amqp": f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}//",
}
BACKEND = BROKERS["redis"]
READY_TIMEOUT = 30.0


def require(service: tuple[str, int], name: str) -> None:
    """Skip when `service` does not answer; under CI=true its absence is a failure."""
    try:
        socket.create_connection(service, timeout=1.0).close()
    except OSError as exc:
        reason = f"{name} is not reachable at {service[0]}:{service[1]} ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)


def new_queue() -> str:
    return f"llmobs-test-{uuid.uuid4().hex[:12]}"


@contextmanager
def private_folder() -> Iterator[Path]:
    """A temporary folder of this test's own: pytest's numbered tmp folders are deleted by
    any newer pytest session on the machine, even while a worker still writes in them."""
    with tempfile.TemporaryDirectory(prefix="llmobs-celery-") as folder:
        yield Path(folder)


class Worker:
    """A `celery -A tests.celery_app worker` subprocess consuming its own queue."""

    def __init__(self, broker: str, queue: str, store: Path, log: Path, *, pool: str,
                 concurrency: int, extra: tuple[str, ...], options: dict[str, Any]) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "LLMOBS_TEST_BROKER": broker, "LLMOBS_TEST_BACKEND": BACKEND,
            "LLMOBS_TEST_QUEUE": queue, "LLMOBS_LOCAL_PATH": str(store), WORKER_ENV: "1",
            "LLMOBS_TEST_CELERY_OPTIONS": json.dumps(options),
        }
        env.pop("DD_LLMOBS_ENABLED", None)
        command = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker",
                   "-P", pool, "-c", str(concurrency), "-Q", queue, "-n", f"{queue}@%h",
                   "-l", "info", "--without-heartbeat", "--without-gossip",
                   "--without-mingle", "--prefetch-multiplier", "1", *extra]
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the celery worker did not start:\n{self.output()[-3000:]}")

    def terminate(self) -> None:
        """SIGTERM: Celery's warm shutdown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> int:
        self.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self._log_file.close()
        return code

    def library_faults(self) -> list[str]:
        """llmobs's own warnings and errors in the worker's log ("llmobs: ..." messages)."""
        return [line for line in self.output().splitlines()
                if "llmobs: " in line and ("ERROR" in line or "WARNING" in line)]


@contextmanager
def running_worker(broker: str, queue: str, store: Path, log: Path, *, pool: str = "prefork",
                   concurrency: int = 2, extra: tuple[str, ...] = (),
                   options: dict[str, Any] | None = None) -> Iterator[Worker]:
    worker = Worker(broker, queue, store, log, pool=pool, concurrency=concurrency,
                    extra=extra, options=options or {})
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
    faults = worker.library_faults()
    assert not faults, "llmobs faults in the worker:\n" + "\n".join(faults)


def stored_spans(store: Path) -> list[dict[str, Any]]:
    """Every span event in the local store (none while the store does not exist yet)."""
    if not store.exists():
        return []
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT event FROM spans ORDER BY start_ns").fetchall()
    except sqlite3.OperationalError:
        return []
    return [json.loads(event) for (event,) in rows]


def wait_for_spans(store: Path, predicate: Callable[[dict[str, Any]], bool], count: int,
                   timeout: float = 15.0) -> list[dict[str, Any]]:
    """The stored spans matching `predicate`, once there are at least `count` (bounded wait;
    the worker's writer delivers about once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [span for span in stored_spans(store) if predicate(span)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def tag(span: dict[str, Any], key: str) -> str | None:
    prefix = key + ":"
    return next((t[len(prefix):] for t in span["tags"] if t.startswith(prefix)), None)


def task_spans_of(trace_id: str) -> Callable[[dict[str, Any]], bool]:
    def matches(span: dict[str, Any]) -> bool:
        return span["trace_id"] == trace_id and tag(span, "celery.task_id") is not None
    return matches
