"""Task throughput of a real Celery worker on Redis, without and with llmobs, alternated.

Each round queues N no-op tasks between two marker tasks (published inside a span when llmobs
is on, so every message carries trace headers), then starts a fresh `celery worker` that runs
them; throughput is N over the time between the two markers, as the worker itself saw it, so
neither publishing nor the worker's start-up counts. With llmobs on, the worker records a task
span per task into a local store in a temporary folder, as a real deployment would.

Throughput on a shared machine wanders by more than the 3% the target allows, so
--instructions counts what a task costs instead, repeatably: a solo worker runs under valgrind's
cachegrind, on the same Redis, the tasks published beforehand by this process; each
configuration (without llmobs, llmobs into a discarding sink, llmobs into the local store) runs
twice, for a few and for more tasks, and the difference over the extra tasks is one task's cost
with the worker's start-up and shutdown taken out (the drain of its spans at exit stays in).
without / with predicts the throughput ratio as long as the extra work is ordinary Python.

Run it:   python bench/celery_tasks.py [--tasks 3000] [--rounds 3] [--pool solo|prefork|threads]
          python bench/celery_tasks.py --instructions [--tasks 1000]
Needs Redis at 127.0.0.1:6379 (LLMOBS_BENCH_REDIS to change). Prints the median throughputs
and their ratio; the target is a ratio of at least 0.97.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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
FEW = 100

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


def publish(queue: str, tasks: int, with_llmobs: bool) -> tuple[str, str]:
    """Queue `tasks` no-op tasks between two markers on a fresh queue (inside a span when
    llmobs is on); returns the markers' keys."""
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
    return start_key, end_key


def run_to_the_end(command: list[str], queue: str, with_llmobs: bool, folder: Path,
                   exporter: str, timeout: float) -> tuple[float, float]:
    """Start the worker `command`, wait until it ran the end marker, stop it (a warm shutdown:
    it drains its spans) and return the two markers' times."""
    env = {**os.environ, QUEUE_ENV: queue, LLMOBS_ENV: "1" if with_llmobs else "0",
           EXPORTER_ENV: exporter, "PYTHONHASHSEED": "0",
           "LLMOBS_LOCAL_PATH": str(folder / f"{queue}.db")}
    log = folder / f"{queue}.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            client = redis.Redis.from_url(BROKER)
            deadline = time.monotonic() + timeout
            while client.get(f"{queue}:end") is None:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError(f"the worker did not finish the round:\n"
                                       f"{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
            started, ended = float(client.get(f"{queue}:start")), float(client.get(f"{queue}:end"))
            stale = list(client.scan_iter(match=f"*{queue}*", count=1000))
            client.delete(*stale)  # the markers, kombu's bindings for this round's queue
            client.close()
        finally:
            worker.terminate()
            worker.wait(600)
    return started, ended


def one_round(tasks: int, pool: str, with_llmobs: bool, folder: Path, exporter: str) -> float:
    queue = f"celery-bench-{uuid.uuid4().hex[:8]}"
    publish(queue, tasks, with_llmobs)
    started, ended = run_to_the_end([sys.executable, __file__, "worker", pool], queue,
                                    with_llmobs, folder, exporter, timeout=300)
    return tasks / (ended - started)


def worker_instructions(tasks: int, with_llmobs: bool, folder: Path, exporter: str) -> int:
    """Instructions the whole solo worker process ran (start-up, `tasks` no-op tasks and the
    markers, shutdown), counted by cachegrind."""
    queue = f"celery-bench-{uuid.uuid4().hex[:8]}"
    publish(queue, tasks, with_llmobs)
    out = folder / f"{queue}.cachegrind"
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               f"--cachegrind-out-file={out}", sys.executable, __file__, "worker", "solo"]
    run_to_the_end(command, queue, with_llmobs, folder, exporter, timeout=1800)
    (total,) = re.findall(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    return int(total)


def instructions(tasks: int) -> None:
    """Instructions a task costs the worker, by difference: runs of FEW and FEW + `tasks`."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(f"instructions a no-op task in a solo worker under cachegrind, on {BROKER}; "
          f"({FEW} + {tasks} tasks) - ({FEW} tasks), divided by {tasks}")
    per_task = {}
    with tempfile.TemporaryDirectory(prefix="llmobs-celery-bench-") as name:
        folder = Path(name)
        for label, with_llmobs, exporter in (("without llmobs", False, "local"),
                                             ("llmobs, discarding sink", True, "discard"),
                                             ("llmobs, local store", True, "local")):
            few = worker_instructions(FEW, with_llmobs, folder, exporter)
            many = worker_instructions(FEW + tasks, with_llmobs, folder, exporter)
            cost = per_task[label] = (many - few) / tasks
            without = per_task["without llmobs"]
            print(f"{label:24} {cost:9,.0f} instructions a task, {cost - without:+8,.0f}, "
                  f"without / this: {without / cost:.3f}", flush=True)
    print("target: with llmobs (local store) at least 0.97 of the throughput without")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int,
                        help="tasks a round (default 3000), or counted beyond the few every "
                             "cachegrind run has (default 1000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork", "threads"])
    parser.add_argument("--exporter", default="local", choices=["local", "discard"],
                        help="where the worker's spans go: the local store (the default "
                             "exporter), or built and discarded (llmobs's cost alone)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions a task in a solo worker under cachegrind "
                             "(needs valgrind) instead of throughput rounds")
    options = parser.parse_args()
    if options.instructions:
        instructions(options.tasks or 1000)
        return
    options.tasks = options.tasks or 3000
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
