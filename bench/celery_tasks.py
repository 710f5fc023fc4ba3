"""Task throughput of a real Celery worker on Redis, without and with llmobs, alternated.

Each round queues N no-op tasks between two marker tasks (published inside a span when llmobs
is on, so every message carries trace headers), then starts a fresh `celery worker` that runs
them; throughput is N over the time between the two markers, as the worker itself saw it, so
neither publishing nor the worker's start-up counts. With llmobs on, the worker records a task
span per task into a local store in a temporary folder, as a real deployment would.

Run it:   python bench/celery_tasks.py [--tasks 3000] [--rounds 3] [--pool solo|prefork|threads]
Needs Redis at 127.0.0.1:6379 (LLMOBS_BENCH_REDIS to change). Prints the median throughputs
and their ratio; the target is a ratio of at least 0.97. On a shared machine the figures are
noisy: compare the alternated rounds, not single runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from celery import Celery

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_core.export.memory import MemorySink

BROKER = os.environ.get("LLMOBS_BENCH_REDIS", "redis://127.0.0.1:6379/14")
QUEUE_ENV, LLMOBS_ENV = "LLMOBS_BENCH_QUEUE", "LLMOBS_BENCH_LLMOBS"
EXPORTER_ENV = "LLMOBS_BENCH_EXPORTER"

app = Celery("celery-bench", broker=BROKER)
app.conf.update(task_default_queue=os.environ.get(QUEUE_ENV, "celery-bench"),
                task_ignore_result=True, broker_connection_retry_on_startup=True)


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.mark")
def mark(key: str) -> None:
    redis.Redis.from_url(BROKER).set(key, repr(time.time()), ex=600)


class DiscardingSink:
    """Spans built by the writer, then thrown away: the cost of llmobs without a store's."""

    def send_spans(self, events: list) -> None:
        return None

    def send_evaluations(self, metrics: list) -> None:
        return None

    def shutdown(self) -> None:
        return None


def run_worker(pool: str) -> None:
    """`python bench/celery_tasks.py worker POOL`: the worker process of one round."""
    if os.environ.get(LLMOBS_ENV) == "1":
        exporter = DiscardingSink() if os.environ.get(EXPORTER_ENV) == "discard" else "local"
        LLMObs.enable(ml_app="celery-bench", service="celery-bench", exporter=exporter)
        llmobs_celery.install(app)
    app.worker_main(["worker", "-P", pool, "-c", "1", "-l", "warning", "--without-heartbeat",
                     "--without-gossip", "--without-mingle"])


def one_round(tasks: int, pool: str, with_llmobs: bool, folder: Path, exporter: str) -> float:
    queue = f"celery-bench-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    start_key, end_key = f"{queue}:start", f"{queue}:end"
    if with_llmobs:
        LLMObs.enable(ml_app="celery-bench", exporter=MemorySink())
        llmobs_celery.install(app)
    try:
        with LLMObs.workflow("publish"):
            mark.delay(start_key)
            for _ in range(tasks):
                noop.delay()
            mark.delay(end_key)
    finally:
        llmobs_celery.uninstall()
        LLMObs.disable()
    env = {**os.environ, QUEUE_ENV: queue, LLMOBS_ENV: "1" if with_llmobs else "0",
           EXPORTER_ENV: exporter,
           "LLMOBS_LOCAL_PATH": str(folder / f"{queue}.db")}
    log = folder / f"{queue}.log"
    with log.open("wb") as output:
        worker = subprocess.Popen([sys.executable, __file__, "worker", pool], env=env,
                                  stdout=output, stderr=subprocess.STDOUT)
        try:
            client = redis.Redis.from_url(BROKER)
            deadline = time.monotonic() + 300
            while client.get(end_key) is None:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError(f"the worker did not finish the round:\n"
                                       f"{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
            started, ended = float(client.get(start_key)), float(client.get(end_key))
            stale = list(client.scan_iter(match=f"*{queue}*", count=1000))
            client.delete(*stale)  # the markers, kombu's bindings for this round's queue
            client.close()
        finally:
            worker.terminate()
            worker.wait(60)
    return tasks / (ended - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork", "threads"])
    parser.add_argument("--exporter", default="local", choices=["local", "discard"],
                        help="where the worker's spans go: the local store (the default "
                             "exporter), or built and discarded (llmobs's cost alone)")
    options = parser.parse_args()
    rates: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="llmobs-celery-bench-") as folder:
        for number in range(options.rounds):
            for with_llmobs in (False, True):
                rate = one_round(options.tasks, options.pool, with_llmobs, Path(folder),
                                 options.exporter)
                rates[with_llmobs].append(rate)
                label = "with llmobs   " if with_llmobs else "without llmobs"
                print(f"round {number + 1} {label} {rate:8.0f} tasks/s", flush=True)
    without, with_ = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"\n{options.tasks} no-op tasks per round, {options.pool} pool, spans to "
          f"{options.exporter}, medians of {options.rounds} rounds")
    print(f"without llmobs {without:8.0f} tasks/s\nwith llmobs    {with_:8.0f} tasks/s")
    print(f"ratio          {with_ / without:8.3f}   (target >= 0.97)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        run_worker(sys.argv[2])
    else:
        main()
