"""The writer under pressure: the delivery ratio in the hot-path benchmark's tight loop with a
healthy sink (the local store), and the resident-memory growth with the sink down.

Targets: at least 99% delivered; at most 50 MiB added by 100,000 units with the sink down.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import threading
import time

import psutil

from llmobs_core import LLMObs

INPUT = [{"role": "system", "content": "You are terse."},
         {"role": "user", "content": "What is the capital of France?"}]
OUTPUT = [{"role": "assistant", "content": "Paris."}]


def unit() -> None:
    """The hot-path unit, with fresh message objects per call as a real application has."""
    with LLMObs.workflow(name="answer"):
        with LLMObs.llm(model_name="gpt-4o", model_provider="openai", name="chat") as span:
            LLMObs.annotate(span, input_data=[dict(m) for m in INPUT],
                            output_data=[dict(m) for m in OUTPUT],
                            metadata={"temperature": 0.2, "max_tokens": 64, "top_p": 1.0},
                            metrics={"input_tokens": 21, "output_tokens": 2,
                                     "total_tokens": 23})


class DownSink:
    """A sink whose intake never answers: every batch blocks until shutdown."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def send_spans(self, events):
        self.gate.wait()
        raise ConnectionError("intake down")

    def send_evaluations(self, metrics):
        self.gate.wait()

    def shutdown(self):
        self.gate.set()


def delivery(units: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        os.environ["LLMOBS_LOCAL_PATH"] = os.path.join(directory, "traces.db")
        LLMObs.enable(ml_app="bench")
        started = time.perf_counter()
        for _ in range(units):
            unit()
        loop_s = time.perf_counter() - started
        LLMObs.flush(60)
        stats = LLMObs.stats()
        LLMObs.disable()
    produced = units * 2
    print(f"delivery   {stats['sent'] / produced:8.2%} of {produced:,} spans in a tight loop of "
          f"{units:,} units ({loop_s * 1e6 / units:.1f} µs/unit)   (target >= 99%)")
    print(f"           dropped {stats['dropped']}")


def memory(units: int) -> None:
    process = psutil.Process()
    sink = DownSink()
    LLMObs.enable(ml_app="bench", exporter=sink)
    for _ in range(1000):
        unit()
    gc.collect()
    before = process.memory_info().rss
    for _ in range(units):
        unit()
    gc.collect()
    grown = (process.memory_info().rss - before) / 2**20
    stats = LLMObs.stats()
    LLMObs.disable()
    print(f"memory     {grown:8.1f} MiB added by {units:,} units with the sink down   "
          f"(target <= 50)")
    print(f"           queued {stats['pending']:,}, dropped and counted "
          f"{stats['dropped']['queue_full']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20_000, help="units in the tight loop")
    parser.add_argument("--memory-units", type=int, default=100_000)
    args = parser.parse_args()
    delivery(args.units)
    memory(args.memory_units)


if __name__ == "__main__":
    main()
