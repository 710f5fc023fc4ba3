"""The time llmobs adds to an LLM client call: the genuine `openai` and `anthropic` clients,
traced (llmobs enabled, its integrations patched) against unpatched (llmobs disabled), calling
the fake model server (examples/fake_models, in another process) over a local socket.

Calls: a chat completion, a streamed chat completion read to its end (the integration asks for
the usage chunk and hides it, so the traced stream carries one more chunk), an embedding of two
texts, an Anthropic message. Rounds alternate unpatched and traced batches; the figures are
the best round's mean per call, in wall time and in this process's CPU time (the server's
work is in its own process, so the CPU figure is the client's side alone). The sink reads
every span event and drops it. Printed, not asserted: a local call takes about a millisecond,
so the added time is a few percent of it, and the noise of a shared machine is of that order.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import openai

from llmobs_core import LLMObs

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
USER = [{"role": "user", "content": "What is the weather in Paris today?"}]


class ReadAndDiscard:
    def send_spans(self, events):
        for _event in events:
            pass

    def send_evaluations(self, metrics): ...
    def shutdown(self): ...


def start_fake_models() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, "-m", "fake_models", "--port", "0"],
                              cwd=EXAMPLES, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()  # "fake models listening on http://127.0.0.1:PORT"
    return server, line.split()[-1]


def operations(url: str) -> dict[str, Callable[[], object]]:
    oai = openai.OpenAI(base_url=url + "/openai/v1", api_key="sk-fake", max_retries=0)
    ant = anthropic.Anthropic(base_url=url + "/anthropic", api_key="sk-ant-fake",
                              max_retries=0)

    def chat() -> object:
        return oai.chat.completions.create(model="gpt-4o-mini", messages=USER, temperature=0)

    def chat_stream() -> object:
        return [chunk for chunk in oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True)]

    def embeddings() -> object:
        return oai.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])

    def messages() -> object:
        return ant.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=USER)

    return {"chat completion": chat, "chat completion, streamed": chat_stream,
            "embeddings": embeddings, "anthropic message": messages}


def batch(call: Callable[[], object], calls: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per call, mean over the batch."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return ((time.perf_counter() - wall) / calls * 1e6,
            (time.process_time() - cpu) / calls * 1e6)


def measure(call: Callable[[], object], calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    best = {"unpatched": (float("inf"),) * 2, "traced": (float("inf"),) * 2}
    for _ in range(rounds):
        for mode in best:
            if mode == "traced":
                LLMObs.enable(ml_app="bench", exporter=ReadAndDiscard())
            for _ in range(10):  # warm the connection and the caches
                call()
            wall, cpu = batch(call, calls)
            if mode == "traced":
                LLMObs.disable()
            best[mode] = (min(best[mode][0], wall), min(best[mode][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per batch")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server, url = start_fake_models()
    try:
        print(f"{'per call':<28}{'unpatched':>20}{'traced':>20}{'added':>20}")
        print(f"{'':<28}{'wall / CPU µs':>20}{'wall / CPU µs':>20}{'wall / CPU µs':>20}")
        for name, call in operations(url).items():
            best = measure(call, args.calls, args.rounds)
            (bare_wall, bare_cpu), (wall, cpu) = best["unpatched"], best["traced"]
            print(f"{name:<28}{bare_wall:>11.0f} / {bare_cpu:<6.0f}{wall:>11.0f} / {cpu:<6.0f}"
                  f"{wall - bare_wall:>11.0f} / {cpu - bare_cpu:<6.0f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
