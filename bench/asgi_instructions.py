"""Instructions a request costs in the hello-world server of asgi_middleware.py, bare and
traced, counted by valgrind's cachegrind: a figure that does not move with the machine's load.

Throughput on a small shared machine drifts by several percent from one round to the next, more
than most changes to the middleware or the store are worth, so asgi_middleware.py can only tell
large effects apart. Instructions are repeatable to about half a percent. Each server (the same
five: bare, the contextvar-only floor, traced into the local store, traced with a discarding
sink, traced with the traceresponse header), under each protocol (httptools + uvloop first, then
h11), runs under cachegrind twice, for a few and for many more requests, over keep-alive
connections from this process; the difference, divided by the extra requests, is the cost of one
request with start-up, shutdown and import costs taken out (the traced server's flush of its
spans at exit stays in: it is part of each span's cost). Fewer than a couple of thousand
requests leave the writer's batch boundaries and checkpoints showing in the figure.

bare / traced instructions predicted the throughput ratio under h11 (2026-12-06 on a 2-core VM:
0.80 predicted, 0.78-0.82 by throughput), but not under httptools + uvloop, where the wall
clock weighs the added instructions about twice (2026-12-07: 0.79 predicted, 0.66 by wrk;
docs/asgi.md, "Cost"): instructions cannot see cache misses. Nor are they immune to load: the
client's pace sets how many requests the server reads per loop turn (with the test suite
running beside it, bare read 228,800 instructions a request instead of 180,500), so run it on
an otherwise idle machine. Needs valgrind (apt-get install valgrind); takes a few minutes.

--traceparent sends each request with the W3C headers of a caller that is traced itself
(traceparent and a tracestate with a dd= member, as ddtrace writes them), so the middleware
continues that trace instead of starting one: the extraction's cost shows.

    python bench/asgi_instructions.py [--requests 2000] [--protocol httptools|h11|both]
                                      [--traceparent]
"""

from __future__ import annotations

import argparse
import asyncio
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

from asgi_middleware import PROTOCOLS, REQUEST, SERVERS

BENCH = Path(__file__).resolve().parent
CONNECTIONS = 8
FEW = 200
TRACEPARENT = (b"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
               b"tracestate: dd=s:1;p:b7ad6b7169203331;t.dm:-0,rojo=00f067aa0ba902b7\r\n\r\n")
request = REQUEST


async def _requests(port: int, count: int) -> None:
    async def connection(share: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(share):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode("latin-1"))
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)))
        writer.close()

    await asyncio.gather(*(connection(count // CONNECTIONS) for _ in range(CONNECTIONS)))


def instructions(server: str, protocol: str, count: int, env: dict[str, str],
                 workdir: Path, script: str = "asgi_middleware.py") -> int:
    """Instructions the whole server process ran, serving `count` requests (`script serve`
    is the server: this bench's Starlette app, or django_middleware.py's Django project)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    out = workdir / f"{server}.{protocol}.{count}.cachegrind"
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
               sys.executable, str(BENCH / script), "serve", "--fd",
               str(sock.fileno()), "--server", server, "--protocol", protocol]
    child = subprocess.Popen(command, env=env, pass_fds=[sock.fileno()],
                             stderr=subprocess.DEVNULL)
    port = sock.getsockname()[1]
    sock.close()
    try:
        deadline = time.monotonic() + 300
        while True:  # the first requests also wait for the server to start
            try:
                asyncio.run(_requests(port, CONNECTIONS))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        asyncio.run(_requests(port, count - CONNECTIONS))
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(600)
    (total,) = re.findall(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    return int(total)


def main(requests: int, protocols: list[str], script: str = "asgi_middleware.py",
         servers: tuple[str, ...] = tuple(SERVERS)) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    workdir = Path(tempfile.mkdtemp(prefix="llmobs-instructions-"))
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent), "PYTHONHASHSEED": "0",
           "LLMOBS_LOCAL_PATH": str(workdir / "traces.db")}
    many = FEW + requests
    for protocol in protocols:
        caller = ", each request with a caller's traceparent" if request is not REQUEST else ""
        print(f"-- uvicorn, {protocol} + {PROTOCOLS[protocol]['loop']}{caller}")
        per_request = {}
        for server in servers:
            per_request[server] = (instructions(server, protocol, many, env, workdir, script)
                                   - instructions(server, protocol, FEW, env, workdir, script)
                                   ) / requests
        bare = per_request["bare"]
        for server, cost in per_request.items():
            print(f"{server:8} {cost:9,.0f} instructions a request, {cost - bare:+8,.0f} on "
                  f"bare, bare / this: {bare / cost:.3f}")
        print(f"the local store's share: {per_request['traced'] - per_request['discard']:,.0f} "
              "instructions a span")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="requests counted, beyond the few that every run serves")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="both")
    parser.add_argument("--traceparent", action="store_true",
                        help="send a caller's traceparent and tracestate with each request")
    args = parser.parse_args()
    if args.traceparent:
        request = REQUEST[:-2] + TRACEPARENT
    main(args.requests, list(PROTOCOLS) if args.protocol == "both" else [args.protocol])
