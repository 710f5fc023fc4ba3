"""Wall-clock µs one request costs the hello-world Starlette app of asgi_middleware.py, called in
process without a server, bare and with each middleware, and what the garbage collector and the
traceresponse header take of the difference.

On a shared VM, a server's throughput drifts by tens of percent within a minute, and so does
a tight loop's speed. Here every variant runs in short chunks of requests, all variants one
after the other, many times over, each chunk both with the collector on and with it off; the
median chunk of each is compared with bare's median from the same process. That cancels the
drift well enough to tell a microsecond apart, which the server bench cannot on such a
machine. What it cannot show is the server's own share: uvicorn's checks of the extra
response header, its event loop and the kernel between requests.

The variants: bare; a middleware that only awaits the app (the price of a layer); the floor
of asgi_middleware.py (a contextvar set and reset); a middleware that opens and finishes a
span around the app (start_span and finish alone); LLMObsMiddleware with a discarding sink,
with and without its traceresponse header; and LLMObsMiddleware on an excluded path.

    python bench/asgi_in_process.py [--rounds 60] [--chunk 250]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any

from asgi_middleware import ContextvarOnly, Discard, build_app  # bench/ is on sys.path

from llmobs_core import LLMObs
from llmobs_core._adapter import tracer_state
from llmobs_starlette import LLMObsMiddleware

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
         "http_version": "1.1", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
         "scheme": "http", "method": "GET", "root_path": "", "path": "/", "raw_path": b"/",
         "query_string": b"", "headers": [(b"host", b"bench"), (b"user-agent", b"wrk"),
                                          (b"accept", b"*/*")]}


class AwaitOnly:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class SpanOnly:
    """A span opened and finished around the app: the tracer's part of LLMObsMiddleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        span = tracer_state.tracer.start_span("workflow", "GET /", None, "bench")
        try:
            await self.app(scope, receive, send)
        finally:
            span.finish()


def variants() -> dict[str, Any]:
    def wrapped(middleware: Any, **options: Any) -> Any:
        app = build_app(None)
        app.add_middleware(middleware, **options)
        return app

    return {
        "bare": build_app(None),
        "a layer that only awaits": wrapped(AwaitOnly),
        "contextvar only (floor)": wrapped(ContextvarOnly),
        "a span opened and finished": wrapped(SpanOnly),
        "LLMObsMiddleware": wrapped(LLMObsMiddleware, ml_app="bench"),
        "with traceresponse": wrapped(LLMObsMiddleware, ml_app="bench",
                                      response_headers=True),
        "on an excluded path": wrapped(LLMObsMiddleware, ml_app="bench", exclude=["/"]),
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    for _name, _value in message.get("headers", ()):  # as a server reads them
        pass


async def chunk(app: Any, requests: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(requests):
        await app({**SCOPE, "state": {}}, receive, send)
    return (time.perf_counter_ns() - started) / requests / 1000


async def measure(apps: dict[str, Any], rounds: int, requests: int) -> dict[str, list[float]]:
    chunks: dict[str, list[float]] = {f"{name}{gc_off}": [] for name in apps
                                      for gc_off in ("", " (gc off)")}
    for _ in range(rounds):
        for name, app in apps.items():
            chunks[name].append(await chunk(app, requests))
            gc.disable()
            try:
                chunks[f"{name} (gc off)"].append(await chunk(app, requests))
            finally:
                gc.enable()
    return chunks


def main(rounds: int, requests: int) -> None:
    LLMObs.enable(ml_app="bench", service="bench", exporter=Discard())
    try:
        chunks = asyncio.run(measure(variants(), rounds, requests))
    finally:
        LLMObs.disable()
    medians = {name: statistics.median(times) for name, times in chunks.items()}
    print(f"in process, median of {rounds} interleaved chunks of {requests} requests "
          "(a discarding sink):")
    for name, median in medians.items():
        bare = medians["bare (gc off)" if name.endswith("(gc off)") else "bare"]
        print(f"{name:37} {median:6.2f} us a request, {median - bare:+6.2f} on bare, "
              f"bare / this {bare / median:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--chunk", type=int, default=250, help="requests a chunk")
    args = parser.parse_args()
    main(args.rounds, args.chunk)
