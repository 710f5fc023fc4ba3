"""Throughput and latency of a hello-world Starlette app under uvicorn: bare, and with
llmobs_starlette's LLMObsMiddleware (one span per request, exported to the local store).

Five uvicorn processes serve the app: bare; with a minimal middleware that only sets and resets
a contextvar (the floor any middleware pays); traced, exporting to the local store (the figure
the target is about: traced at least 0.8 of bare throughput, p99 within 2 ms of bare's); traced
with a sink that discards, which separates the middleware's own cost from the store's; and
traced into the local store with response_headers=True, the price of the traceresponse header
(off by default). Each protocol is run in turn, production first: httptools + uvloop
(uvicorn[standard], what production deployments run), then h11 + asyncio (uvicorn's pure-Python
default). A separate load process drives one server at a time, rotating the order round by round
to cancel drift, and the medians are compared; servers are pinned to the first core and the load
to the second when the machine has two. "µs added" is 1e6/rps - 1e6/bare rps: the server's CPU
time a request, on its one core. The in-process cost of each middleware, a steadier figure on a
busy machine, follows (asgi_in_process.py).

Load comes from wrk when it is installed (`apt-get install wrk`), else from a bounded loop of
keep-alive HTTP/1.1 connections on asyncio streams. That fallback is not an httpx client on
purpose: an httpx request costs about as much CPU as the whole request in the server, so on a
small machine an httpx load generator would bound both figures and hide the difference. Even
so, on 2 cores the Python loop saturates about when the server does, so its ratios are weak:
prefer wrk.

    python bench/asgi_middleware.py [--rounds 6] [--seconds 3] [--connections 32] [--no-wrk]
                                    [--protocol httptools|h11|both]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmobs_core.context import current_parent

REPO = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


# -- the served app -----------------------------------------------------------------------------


class ContextvarOnly:
    """The floor: a pure ASGI middleware that sets a contextvar and resets it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        token = current_parent.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            current_parent.reset(token)


def build_app(middleware: str | None, response_headers: bool = False):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request):
        return PlainTextResponse("Hello, world!")

    app = Starlette(routes=[Route("/", hello)])
    if middleware == "llmobs":
        from llmobs_starlette import LLMObsMiddleware

        app.add_middleware(LLMObsMiddleware, ml_app="bench", response_headers=response_headers)
    elif middleware == "floor":
        app.add_middleware(ContextvarOnly)
    return app


class Discard:
    def send_spans(self, events): ...
    def send_evaluations(self, metrics): ...
    def shutdown(self): ...


SERVERS = {"bare": None, "floor": None, "traced": "local", "discard": Discard,
           "traceresponse": "local"}  # traced, with response_headers=True
PROTOCOLS = {"httptools": {"http": "httptools", "loop": "uvloop"},
             "h11": {"http": "h11", "loop": "asyncio"}}


def serve(fd: int, name: str, protocol: str) -> None:
    import uvicorn

    from llmobs_core import LLMObs

    _pin(0)
    exporter = SERVERS[name]
    if exporter is not None:
        LLMObs.enable(ml_app="bench", service="bench",
                      exporter=exporter if isinstance(exporter, str) else exporter())
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down; with this handler
    # in place that lets the process go on to flush and report.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    collections = [0, 0, 0]  # the garbage collector's runs, by generation
    gc.callbacks.append(lambda phase, info: phase == "stop" and collections.__setitem__(
        info["generation"], collections[info["generation"]] + 1))
    middleware = "floor" if name == "floor" else "llmobs" if exporter is not None else None
    config = uvicorn.Config(build_app(middleware, response_headers=name == "traceresponse"),
                            log_level="error", access_log=False, lifespan="off", ws="none",
                            **PROTOCOLS[protocol])
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
    print(f"{name} server: garbage collections by generation {collections}")
    if exporter is not None:
        LLMObs.flush(60)
        stats = LLMObs.stats()
        print(f"{name} server: {stats['sent']} spans exported, dropped {stats['dropped']}")


# -- the load -----------------------------------------------------------------------------------


async def _connection(port: int, stop_at: float, latencies: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter_ns()
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode("latin-1"))
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter_ns() - started)
    finally:
        writer.close()


def asyncio_load(port: int, seconds: float, connections: int) -> dict[str, float]:
    latencies: list[int] = []

    async def run() -> float:
        started = time.monotonic()
        await asyncio.gather(*(_connection(port, started + seconds, latencies)
                               for _ in range(connections)))
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    return {"rps": len(latencies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2] / 1e6,
            "p99_ms": latencies[int(len(latencies) * 0.99)] / 1e6}


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_load(port: int, seconds: float, connections: int) -> dict[str, float]:
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
         f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True,
        timeout=seconds + 60)
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(done.stdout)

    def percentile(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", done.stdout,
                                re.MULTILINE).groups()
        return float(value) * _WRK_UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    return {"rps": rps, "p50_ms": percentile("50%"), "p99_ms": percentile("99%")}


# -- the driver ---------------------------------------------------------------------------------


def _pin(core: int) -> None:
    """Servers on the first core, the load on the second, when there are two or more."""
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[core]})


def start_server(name: str, protocol: str, env: dict[str, str],
                 script: str = __file__) -> tuple[int, subprocess.Popen]:
    """`script serve` on a fresh port: this bench's Starlette app, or django_middleware.py's."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    command = [sys.executable, script, "serve", "--fd", str(sock.fileno()), "--server", name,
               "--protocol", protocol]
    child = subprocess.Popen(command, env=env, pass_fds=[sock.fileno()])
    port = sock.getsockname()[1]
    sock.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            asyncio_load(port, 0.05, 1)
            return port, child
        except OSError:
            time.sleep(0.05)
    child.kill()
    raise RuntimeError("the server did not start")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far, all its threads, ended ones too
    (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def measure(port: int, seconds: float, connections: int, use_wrk: bool,
            script: str = __file__, server_pid: int | None = None) -> dict[str, float]:
    """One round of load, from a process of its own (`script load`); with the server's pid,
    also the server's CPU µs a request (all its threads), which does not depend on the server
    being saturated."""
    command = [sys.executable, script, "load", "--port", str(port), "--seconds", str(seconds),
               "--connections", str(connections)] + ([] if use_wrk else ["--no-wrk"])
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=seconds + 90)
    figures = json.loads(done.stdout)
    if server_pid:
        requests = figures["rps"] * seconds
        figures["cpu_us"] = (cpu_seconds(server_pid) - cpu_before) / requests * 1e6
    return figures


def main(rounds: int, seconds: float, connections: int, use_wrk: bool,
         protocols: list[str]) -> None:
    store = Path(tempfile.mkdtemp(prefix="llmobs-bench-")) / "traces.db"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LLMOBS_LOCAL_PATH": str(store)}
    print(f"load: {'wrk' if use_wrk else 'asyncio keep-alive loop'}, {connections} "
          f"connections, {seconds:g} s a round, {rounds} rounds; spans go to {store}")
    if not use_wrk:
        print("note: without wrk the load process may saturate before the servers; "
              "install wrk for figures that compare")
    for protocol in protocols:
        run_protocol(protocol, rounds, seconds, connections, use_wrk, env)
    subprocess.run([sys.executable, str(REPO / "bench" / "asgi_in_process.py")], env=env,
                   check=True, timeout=900)


def load_in_rounds(servers: dict[str, tuple[int, subprocess.Popen]], rounds: int,
                   seconds: float, connections: int, use_wrk: bool,
                   script: str = __file__) -> dict[str, list[dict[str, float]]]:
    """Each started server's figures, round by round, the order rotated each round to cancel
    the host's drift; each round printed. The servers are stopped at the end."""
    names = list(servers)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for port, _ in servers.values():
            measure(port, 1, connections, use_wrk, script)  # warm up
        for index in range(rounds):
            shift = index % len(names)
            for name in (*names[shift:], *names[:shift]):
                port, child = servers[name]
                results[name].append(measure(port, seconds, connections, use_wrk, script,
                                             child.pid))
            print(f"round {index + 1}: " + "  ".join(
                f"{name} {run['rps']:6.0f} req/s p99 {run['p99_ms']:.2f}"
                for name, run in ((name, results[name][-1]) for name in names)), flush=True)
    finally:
        for _, child in servers.values():
            child.terminate()
            child.wait(120)
    return results


def run_protocol(protocol: str, rounds: int, seconds: float, connections: int, use_wrk: bool,
                 env: dict[str, str], script: str = __file__, target: float = 0.8,
                 names: tuple[str, ...] = tuple(SERVERS)) -> None:
    """Rounds of load on the servers of `script` (this bench's, or django_middleware.py's)."""
    loop = PROTOCOLS[protocol]["loop"]
    print(f"-- uvicorn, {protocol} + {loop}" + (" (production: uvicorn[standard])"
                                               if protocol == "httptools" else ""))
    servers = {name: start_server(name, protocol, env, script) for name in names}
    results = load_in_rounds(servers, rounds, seconds, connections, use_wrk, script)
    summary = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in results.items()}
    bare = summary["bare"]
    for name, figures in summary.items():
        added = 1e6 / figures["rps"] - 1e6 / bare["rps"]
        print(f"median {name:7}: {figures['rps']:6.0f} req/s, {figures['rps'] / bare['rps']:.3f} "
              f"of bare, {added:5.1f} us added a request, p50 {figures['p50_ms']:5.2f} ms, "
              f"p99 {figures['p99_ms']:6.2f} ms ({figures['p99_ms'] - bare['p99_ms']:+.2f} ms "
              f"vs bare), server CPU {figures['cpu_us']:5.1f} us a request "
              f"({bare['cpu_us'] / figures['cpu_us']:.3f} of bare's rate)")
    # Each round's own ratio to bare, then their median: steadier than the ratio of medians
    # when the machine's speed drifts over a run (a shared VM's does by tens of percent).
    paired = {name: statistics.median(r["rps"] / b["rps"] for r, b in zip(runs, results["bare"]))
              for name, runs in results.items()}
    print("median of the rounds' own ratios to bare: " + ", ".join(
        f"{name} {ratio:.3f}" for name, ratio in paired.items() if name != "bare"))
    traced = summary["traced"]
    print(f"{protocol}: traced (local store) / bare throughput "
          f"{traced['rps'] / bare['rps']:.3f}, {paired['traced']:.3f} by rounds (target >= "
          f"{target}), p99 {traced['p99_ms'] - bare['p99_ms']:+.2f} ms vs bare (target <= +2 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=("run", "serve", "load"), default="run")
    parser.add_argument("--fd", type=int)
    parser.add_argument("--port", type=int)
    parser.add_argument("--server", choices=SERVERS)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio load loop")
    parser.add_argument("--protocol", choices=(*PROTOCOLS, "both"), default="both")
    args = parser.parse_args()
    wrk = shutil.which("wrk") is not None and not args.no_wrk
    if args.mode == "serve":
        serve(args.fd, args.server, args.protocol)
    elif args.mode == "load":
        _pin(1)
        load = wrk_load if wrk else asyncio_load
        print(json.dumps(load(args.port, args.seconds, args.connections)))
    else:
        main(args.rounds, args.seconds, args.connections, wrk,
             list(PROTOCOLS) if args.protocol == "both" else [args.protocol])
