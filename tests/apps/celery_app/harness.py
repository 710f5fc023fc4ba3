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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import WORKER_ENV

REPO = Path(__file__).resolve().parents[3]
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
REDIS_DB = int(os.environ.get("LLMOBS_TEST_REDIS_DB", "13"))
BROKERS = {
    "redis": f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
    "amqp": f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}//",
}
BACKEND = BROKERS["redis"]
READY_TIMEOUT = 30.0


def unreachable(service: tuple[str, int], name: str) -> str | None:
    """Why `service` cannot be used, or None when it answers."""
    try:
        socket.create_connection(service, timeout=1.0).close()
    except OSError as exc:
        return f"{name} is not reachable at {service[0]}:{service[1]} ({exc})"
    return None


def require(service: tuple[str, int], name: str) -> None:
    """Skip when `service` does not answer; under CI=true its absence is a failure."""
    reason = unreachable(service, name)
    if reason is None:
        return
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


@dataclass
class WorkerSpec:
    """What a test worker consumes and where it writes."""

    broker: str
    queue: str
    folder: Path
    pool: str = "prefork"
    concurrency: int = 2
    extra: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    install_on: str = ""  # a worker signal to install() from, instead of at import

    @property
    def store(self) -> Path:
        return self.folder / "traces.db"


class Worker:
    """A `celery -A tests.apps.celery_app worker` subprocess consuming its own queue."""

    def __init__(self, spec: WorkerSpec) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
            "LLMOBS_TEST_BROKER": spec.broker, "LLMOBS_TEST_BACKEND": BACKEND,
            "LLMOBS_TEST_QUEUE": spec.queue, "LLMOBS_LOCAL_PATH": str(spec.store),
            WORKER_ENV: "1", "LLMOBS_TEST_CELERY_OPTIONS": json.dumps(spec.options),
            "LLMOBS_TEST_INSTALL_ON": spec.install_on,
        }
        env.pop("DD_LLMOBS_ENABLED", None)
        command = [sys.executable, "-m", "celery", "-A", "tests.apps.celery_app", "worker",
                   "-P", spec.pool, "-c", str(spec.concurrency), "-Q", spec.queue,
                   "-n", f"{spec.queue}@%h", "-l", "info", "--without-heartbeat",
                   "--without-gossip", "--without-mingle", "--prefetch-multiplier", "1",
                   *spec.extra]
        self.spec = spec
        self.log = spec.folder / f"worker-{spec.queue}.log"
        self._log_file = self.log.open("wb")
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
        raise AssertionError(f"the celery worker did not start:\n{self.output()[-3000:]}")

    def terminate(self) -> None:
        """SIGTERM: Celery's warm shutdown (running tasks finish, then the worker exits)."""
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
def running_workers(*specs: WorkerSpec, wait: bool = True) -> Iterator[list[Worker]]:
    """Start workers together (waiting until they consume, unless `wait` is False) and stop
    them together (a warm shutdown takes a second or two); on a clean exit, fail if any
    logged an llmobs fault."""
    workers: list[Worker] = []
    for spec in specs:
        create_store(spec.store)
    try:
        workers += [Worker(spec) for spec in specs]
        for worker in workers if wait else ():
            worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.stop()
        for spec in specs:
            forget_queue(spec.queue)
    faults = [line for worker in workers for line in worker.library_faults()]
    assert not faults, "llmobs faults in the worker:\n" + "\n".join(faults)


def create_store(path: Path) -> None:
    """Make the local store before any worker process writes to it. Processes making the
    same fresh store at the same moment can fail at once with "database is locked" (SQLite
    does not wait while a new file switches to WAL), dropping their first batch: a fault of
    the store's, reproduced and reported, not what these tests are about."""
    from llmobs_core.store.write import open_store

    open_store(path, 10.0).close()


def forget_queue(queue: str) -> None:
    """Delete what kombu left in Redis for a test queue (its bindings, leftover messages);
    RabbitMQ deletes unused test queues by itself (x-expires)."""
    import redis

    try:
        with redis.Redis.from_url(BROKERS["redis"], socket_timeout=2) as client:
            keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
            if keys:
                client.delete(*keys)
    except redis.RedisError:
        pass


@contextmanager
def running_worker(spec: WorkerSpec) -> Iterator[Worker]:
    with running_workers(spec) as (worker,):
        yield worker


def stored_spans(store: Path) -> list[dict[str, Any]]:
    """Every span event in the local store (none while the store does not exist yet), the
    spans waiting in its inbox settled first, as every reader does."""
    from llmobs_core.store.settle import settle

    if not store.exists():
        return []
    try:
        settle(store)
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


def task_id(span: dict[str, Any]) -> str | None:
    """The Celery task id a task span records in its metadata; None for other spans."""
    return (span["meta"].get("metadata") or {}).get("celery.task_id")
