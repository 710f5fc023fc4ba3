"""A hello-world Django view under uvicorn, bare and with llmobs_django's LLMObsMiddleware.

The same one-file Django project (an async view, so the middleware takes its async path) is
served four ways, as bench/asgi_middleware.py serves Starlette: bare; with a middleware that
only sets and resets a contextvar (the floor any middleware pays); traced into the local store
(the default exporter); traced with a sink that discards (the middleware and the span's life
without the store). Each protocol in turn, production first: httptools + uvloop
(uvicorn[standard]), then h11 + asyncio (uvicorn's pure-Python default). Target: traced at
least 0.85 of bare under httptools + uvloop.

Two measures:
- throughput (the default): a separate load process (wrk when installed, else an asyncio
  keep-alive loop; asgi_middleware.py's) drives one server at a time, rotating the order
  round by round, servers on the first core and the load on the second; medians compared.
  On a shared 2-core machine it wanders by several percent from run to run.
- --instructions: instructions a request under valgrind's cachegrind, by
  asgi_instructions.py's method (each server run twice, for a few and for many requests; the
  difference over the extra requests), repeatable to about half a percent; bare / traced
  predicts the throughput ratio. Needs valgrind; takes several minutes.
The in-process µs the middleware adds (no server) is printed after the throughput rounds.

    python bench/django_middleware.py [--rounds 5] [--seconds 3] [--connections 32] [--no-wrk]
                                      [--protocol httptools|h11|both]
    python bench/django_middleware.py --instructions [--requests 2000] [--traceparent]
                                      [--protocol httptools|h11|both]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asgi_instructions
from asgi_middleware import PROTOCOLS, Discard, _pin, asyncio_load, run_protocol, wrk_load

REPO = Path(__file__).resolve().parent.parent
SERVERS = ("bare", "floor", "discard", "traced")
MIDDLEWARE = {"floor": ["__main__.ContextvarOnly"],
              "discard": ["llmobs_django.middleware.LLMObsMiddleware"],
              "traced": ["llmobs_django.middleware.LLMObsMiddleware"]}


# -- the served project -------------------------------------------------------------------------


async def hello(request):
    from django.http import HttpResponse

    response = HttpResponse(b"Hello, world!", content_type="text/plain")
    response["Content-Length"] = "13"  # else uvicorn sends it chunked
    return response


class ContextvarOnly:
    """The floor: an async Django middleware that sets a contextvar and resets it."""

    sync_capable, async_capable = False, True

    def __init__(self, get_response):
        from asgiref.sync import markcoroutinefunction

        from llmobs_core.context import current_parent

        self.get_response, self.current_parent = get_response, current_parent
        markcoroutinefunction(self)

    async def __call__(self, request):
        token = self.current_parent.set(None)
        try:
            return await self.get_response(request)
        finally:
            self.current_parent.reset(token)


def _configure(server: str) -> None:
    import django
    from django.conf import settings
    from django.urls import path

    settings.configure(
        DEBUG=False, ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__, SECRET_KEY="bench",
        MIDDLEWARE=MIDDLEWARE.get(server, []), INSTALLED_APPS=[], USE_TZ=True,
    )
    django.setup()
    globals()["urlpatterns"] = [path("", hello)]
    if server in ("discard", "traced"):
        from llmobs_core import LLMObs

        LLMObs.enable(ml_app="bench", service="bench",
                      exporter=Discard() if server == "discard" else "local")


def serve(fd: int, server: str, protocol: str) -> None:
    import uvicorn
    from django.core.handlers.asgi import ASGIHandler

    from llmobs_core import LLMObs

    _pin(0)
    _configure(server)
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down; with this handler
    # in place the process goes on to flush and report.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    config = uvicorn.Config(ASGIHandler(), log_level="error", access_log=False,
                            lifespan="off", ws="none", **PROTOCOLS[protocol])
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
    if server in ("discard", "traced"):
        LLMObs.flush(60)
        stats = LLMObs.stats()
        print(f"django {server} server: {stats['sent']} spans exported, dropped "
              f"{stats['dropped']}")


def in_process_cost() -> None:
    """µs the middleware adds to one request, without and with incoming trace headers, called
    without a server (discarding sink)."""
    import asyncio

    from django.test import RequestFactory

    from llmobs_django.middleware import LLMObsMiddleware

    _configure("discard")
    middleware = LLMObsMiddleware(hello)
    traceparent = "00-6b0136b5000000007801693602ff8ac4-00000000075bcd15-01"

    async def per_request(handler, headers: dict) -> float:
        requests = [RequestFactory().get("/", headers=headers) for _ in range(20_000)]
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


# -- the throughput driver ----------------------------------------------------------------------


def chain(count: int, server: str, with_traceparent: bool) -> None:
    """`chain COUNT --server S`: COUNT requests through the server's middleware alone, in
    process (a request object in, the view's response out; no server, no Django handler)."""
    import asyncio
    import io

    _configure(server)
    from django.core.handlers.asgi import ASGIRequest
    from django.urls import resolve

    from llmobs_core import LLMObs
    from llmobs_django.middleware import LLMObsMiddleware

    match = resolve("/")

    async def view(request):
        request.resolver_match = match  # as Django's URL resolution leaves it
        return await hello(request)

    handler = {"bare": view, "floor": ContextvarOnly(view)}.get(server) or LLMObsMiddleware(view)
    headers = [(b"host", b"bench")] + ([
        (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        (b"tracestate", b"dd=s:1;p:b7ad6b7169203331;t.dm:-0,rojo=00f067aa0ba902b7"),
    ] if with_traceparent else [])
    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def requests() -> None:
        for _ in range(count):
            await handler(ASGIRequest(dict(scope), io.BytesIO()))

    asyncio.run(requests())
    if server in ("discard", "traced"):
        LLMObs.flush(60)


def chain_instructions(requests: int, with_traceparent: bool) -> None:
    """Instructions a request costs in the middleware alone: chain() under cachegrind for
    FEW and FEW + `requests` requests, the difference divided. Steadier than the servers'
    counts, which Django's thread hops for its request signals make wander by ~1%."""
    workdir = Path(tempfile.mkdtemp(prefix="llmobs-instructions-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "0",
           "LLMOBS_LOCAL_PATH": str(workdir / "traces.db")}

    def total(server: str, count: int) -> int:
        out = workdir / f"chain.{server}.{count}.cachegrind"
        subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        f"--cachegrind-out-file={out}", sys.executable, __file__, "chain",
                        "--requests", str(count), "--server", server]
                       + (["--traceparent"] if with_traceparent else []),
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (summary,) = re.findall(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        return int(summary)

    caller = ", each request with a caller's traceparent" if with_traceparent else ""
    print(f"-- the middleware alone, in process (no server){caller}")
    few = asgi_instructions.FEW
    cost = {server: (total(server, few + requests) - total(server, few)) / requests
            for server in SERVERS}
    for server, figure in cost.items():
        print(f"{server:8} {figure:9,.0f} instructions a request, {figure - cost['bare']:+8,.0f} "
              "on bare")


def main(args: argparse.Namespace) -> None:
    protocols = list(PROTOCOLS) if args.protocol == "both" else [args.protocol]
    if args.instructions:
        if args.traceparent:
            asgi_instructions.request = (asgi_instructions.REQUEST[:-2]
                                         + asgi_instructions.TRACEPARENT)
        print("Django's hello world, instructions a request under cachegrind")
        chain_instructions(args.requests, args.traceparent)
        asgi_instructions.main(args.requests, protocols, script=Path(__file__).name,
                               servers=SERVERS)
        return
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    store = Path(tempfile.mkdtemp(prefix="llmobs-bench-")) / "traces.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LLMOBS_LOCAL_PATH": str(store)}
    print(f"load: {'wrk' if use_wrk else 'asyncio keep-alive loop'}, {args.connections} "
          f"connections, {args.seconds:g} s a round, {args.rounds} rounds")
    for protocol in protocols:
        print(f"Django, load average {os.getloadavg()[0]:.2f}")
        run_protocol(protocol, args.rounds, args.seconds, args.connections, use_wrk, env,
                     script=__file__, target=0.85, names=SERVERS)
        print(f"load average after the rounds {os.getloadavg()[0]:.2f}")
    subprocess.run([sys.executable, __file__, "cost"], env=env, check=True, timeout=300)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("run", "serve", "load", "cost", "chain"),
                        default="run")
    parser.add_argument("--fd", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--server", choices=SERVERS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio load loop")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="both")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions a request under cachegrind instead")
    parser.add_argument("--requests", type=int, default=2000,
                        help="with --instructions: requests counted beyond the few every run "
                             "serves")
    parser.add_argument("--traceparent", action="store_true",
                        help="with --instructions: each request carries a caller's "
                             "traceparent and tracestate")
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.fd, args.server, args.protocol)
    elif args.mode == "cost":
        in_process_cost()
    elif args.mode == "chain":
        chain(args.requests, args.server, args.traceparent)
    elif args.mode == "load":
        _pin(1)
        load = wrk_load if shutil.which("wrk") and not args.no_wrk else asyncio_load
        print(json.dumps(load(args.port, args.seconds, args.connections)))
    else:
        main(args)
