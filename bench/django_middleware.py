"""Throughput of a hello-world Django view under uvicorn: bare, and with LLMObsMiddleware.

Two uvicorn processes serve the same one-file Django project (an async view, so the traced
server takes the middleware's async path), one of them with the middleware and llmobs enabled
(exporting to a sink that discards, so the middleware and the span's life are what is measured).
A load process hammers one server at a time, alternating between them round by round, and the
medians are compared, under each protocol in turn: httptools + uvloop (production,
uvicorn[standard]) first, then h11 + asyncio. Target: traced at least 0.85 of bare.

The load generator is a bounded loop of keep-alive HTTP/1.1 connections on asyncio streams,
not an httpx client: on a small machine an httpx request costs about as much CPU as the server's
whole request, so an httpx load generator would bound both figures and hide the difference.

    python bench/django_middleware.py [--rounds 5] [--seconds 2] [--connections 32]
                                      [--protocol httptools|h11|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUEST = b"GET /hello/ HTTP/1.1\r\nHost: bench\r\n\r\n"


# -- the served project ---------------------------------------------------------------------------


class Discard:
    def send_spans(self, events): ...
    def send_evaluations(self, metrics): ...
    def shutdown(self): ...


async def hello(request):
    from django.http import HttpResponse

    response = HttpResponse(b"Hello, world!", content_type="text/plain")
    response["Content-Length"] = "13"  # else uvicorn sends it chunked
    return response


def _configure(traced: bool) -> None:
    import django
    from django.conf import settings
    from django.urls import path

    settings.configure(
        DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="bench",
        MIDDLEWARE=["llmobs_django.middleware.LLMObsMiddleware"] if traced else [],
        INSTALLED_APPS=[], LLMOBS={}, USE_TZ=True,
    )
    django.setup()
    globals()["urlpatterns"] = [path("hello/", hello)]
    if traced:
        from llmobs_core import LLMObs

        LLMObs.enable(ml_app="bench", service="bench", exporter=Discard())


PROTOCOLS = {"httptools": {"http": "httptools", "loop": "uvloop"},
             "h11": {"http": "h11", "loop": "asyncio"}}


def serve(port: int, traced: bool, protocol: str) -> None:
    import uvicorn
    from django.core.handlers.asgi import ASGIHandler

    _configure(traced)

    uvicorn.run(ASGIHandler(), host="127.0.0.1", port=port, log_level="error",
                access_log=False, lifespan="off", ws="none", **PROTOCOLS[protocol])


def in_process_cost() -> None:
    """µs the middleware adds to one request, without and with incoming trace headers: the
    steady figure behind the noisy throughput one."""
    from django.test import RequestFactory

    from llmobs_django.middleware import LLMObsMiddleware

    _configure(traced=True)
    middleware = LLMObsMiddleware(hello)
    traceparent = "00-6b0136b5000000007801693602ff8ac4-00000000075bcd15-01"

    async def per_request(handler, headers: dict) -> float:
        requests = [RequestFactory().get("/hello/", headers=headers) for _ in range(20_000)]
        started = time.perf_counter()
        for request in requests:
            await handler(request)
        return (time.perf_counter() - started) / len(requests) * 1e6

    async def measure() -> tuple[float, float]:
        bare = min([await per_request(hello, {}) for _ in range(3)])
        plain = min([await per_request(middleware, {}) for _ in range(3)]) - bare
        continued = min([await per_request(middleware, {"traceparent": traceparent})
                         for _ in range(3)]) - bare
        return plain, continued

    plain, continued = asyncio.run(measure())
    print(f"in process: the middleware adds {plain:.1f} us to a request, {continued:.1f} us "
          "with a traceparent to continue")


# -- the load -------------------------------------------------------------------------------------


async def _connection(port: int, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode("latin-1"))
            counts[0] += 1
    finally:
        writer.close()


async def _load(port: int, seconds: float, connections: int) -> float:
    counts = [0]
    started = time.monotonic()
    await asyncio.gather(*(_connection(port, started + seconds, counts)
                           for _ in range(connections)))
    return counts[0] / (time.monotonic() - started)


def load(port: int, seconds: float, connections: int) -> None:
    print(f"{asyncio.run(_load(port, seconds, connections)):.1f}")


# -- the driver -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(traced: bool, protocol: str) -> tuple[int, subprocess.Popen]:
    port = _free_port()
    command = [sys.executable, __file__, "serve", "--port", str(port), "--protocol", protocol]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(command + (["--traced"] if traced else []), env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return port, child
        except OSError:
            time.sleep(0.05)
    child.kill()
    raise RuntimeError("the server did not start")


def _round(port: int, seconds: float, connections: int) -> float:
    command = [sys.executable, __file__, "load", "--port", str(port), "--seconds", str(seconds),
               "--connections", str(connections)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=seconds + 60)
    return float(done.stdout.strip())


def main(rounds: int, seconds: float, connections: int, protocols: list[str]) -> None:
    for protocol in protocols:
        print(f"-- uvicorn, {protocol} + {PROTOCOLS[protocol]['loop']}")
        run_protocol(rounds, seconds, connections, protocol)
    subprocess.run([sys.executable, __file__, "cost"], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


def run_protocol(rounds: int, seconds: float, connections: int, protocol: str) -> None:
    servers = {"bare": _start_server(False, protocol), "traced": _start_server(True, protocol)}
    rates: dict[str, list[float]] = {"bare": [], "traced": []}
    try:
        for port, _ in servers.values():
            _round(port, 0.5, connections)  # warm up
        for index in range(rounds):
            order = ("bare", "traced") if index % 2 == 0 else ("traced", "bare")
            for name in order:
                rates[name].append(_round(servers[name][0], seconds, connections))
            print(f"round {index + 1}: bare {rates['bare'][-1]:8.0f} req/s   "
                  f"traced {rates['traced'][-1]:8.0f} req/s")
    finally:
        for _, child in servers.values():
            child.terminate()
            child.wait(10)
    bare, traced = statistics.median(rates["bare"]), statistics.median(rates["traced"])
    print(f"{protocol} median: bare {bare:.0f} req/s, traced {traced:.0f} req/s, ratio "
          f"{traced / bare:.3f} (target >= 0.85)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("run", "serve", "load", "cost"), default="run")
    parser.add_argument("--port", type=int)
    parser.add_argument("--traced", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="both")
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.port, args.traced, args.protocol)
    elif args.mode == "load":
        load(args.port, args.seconds, args.connections)
    elif args.mode == "cost":
        in_process_cost()
    else:
        main(args.rounds, args.seconds, args.connections,
             list(PROTOCOLS) if args.protocol == "both" else [args.protocol])
