"""The writer's memory bound: peak resident-memory growth while 200,000 units (a workflow span
with an annotated llm child, the README's shape) are recorded into the Datadog sink, when the
intake is down (connection refused), when it is slow (tests/support/fake_intake.py in
another process, answering each request 0.5 s late) and when it is healthy (the same intake,
answering at once, while the writer catches up with the loop), with small prompts and with
4 KiB ones (a distinct string a unit, as real prompts are).

Each case runs in a fresh process. Growth is the peak RSS (ru_maxrss) less the RSS after a
warm-up. Target: at most 50 MiB in every case, everything beyond counted as dropped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests" / "support"
KEY = "test-api-key"  # what tests/support/fake_intake.py expects
SYSTEM = {"role": "system", "content": "You are terse."}
OUTPUT = [{"role": "assistant", "content": "Paris."}]
METADATA = {"temperature": 0.2, "max_tokens": 64, "top_p": 1.0}
METRICS = {"input_tokens": 21, "output_tokens": 2, "total_tokens": 23}
CASES = ("down-small", "down-4k", "slow-small", "slow-4k", "healthy-small", "healthy-4k")
DELAYS = {"slow": "0.5", "healthy": "0"}  # seconds the intake takes to answer
TARGET_MIB = 50


def refused_url() -> str:
    """An address where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def run_case(case: str, units: int, url: str) -> dict:
    from llmobs_core import LLMObs
    from llmobs_core.export.datadog import DatadogSink

    prompt = "What is the capital of France? " * (4096 // 31) if case.endswith("4k") else (
        "What is the capital of France?")

    def unit(i: int) -> None:
        with LLMObs.workflow(name="answer"):
            with LLMObs.llm(model_name="gpt-4o", model_provider="openai", name="chat") as span:
                LLMObs.annotate(span, input_data=[dict(SYSTEM), {"role": "user",
                                                                 "content": f"{i} {prompt}"}],
                                output_data=[dict(m) for m in OUTPUT], metadata=dict(METADATA),
                                metrics=dict(METRICS))

    LLMObs.enable(ml_app="bench", exporter=DatadogSink.agentless(KEY, override_origin=url))
    for i in range(200):  # a warm-up: what the first spans allocate once
        unit(i)
    LLMObs.flush(2)
    gc.collect()
    before = _rss()
    started = time.perf_counter()
    for i in range(units):
        unit(i)
    loop_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stats = LLMObs.stats()
    peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"case": case, "grown_mib": (peak - before) / 2**20, "loop_s": loop_s,
            "pending": stats["pending"], "sent": stats["sent"],
            "dropped": {k: v for k, v in stats["dropped"].items() if v},
            "adds_up": stats["enqueued"] == stats["sent"] + sum(stats["dropped"].values())
            + stats["pending"]}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_in_child(case: str, units: int) -> dict:
    intake = None
    delay = DELAYS.get(case.split("-")[0])
    if delay is not None:
        intake = subprocess.Popen([sys.executable, str(TESTS / "fake_intake.py"), "--no-validate",
                                   f"--delay={delay}"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        url = intake.stdout.readline().strip()
    else:
        url = refused_url()
    try:
        out = subprocess.run([sys.executable, __file__, "--child", case, "--units", str(units),
                              "--url", url], capture_output=True, text=True, timeout=600)
    finally:
        if intake is not None:
            intake.stdin.close()
            intake.wait(10)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--child")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.units, args.url)))
        return
    print(f"writer memory: peak RSS growth over {args.units:,} units into the Datadog sink "
          f"(target <= {TARGET_MIB} MiB)")
    for case in CASES:
        r = run_in_child(case, args.units)
        print(f"  intake {case:<11} {r['grown_mib']:6.1f} MiB   sent {r['sent']:>7,}  "
              f"pending {r['pending']:>6,}  dropped {r['dropped']}  "
              f"stats add up: {r['adds_up']}   (loop {r['loop_s']:.1f} s)")


if __name__ == "__main__":
    main()
