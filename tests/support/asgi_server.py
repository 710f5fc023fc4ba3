"""Real uvicorn servers for tests, on free ports of 127.0.0.1.

- `serve_in_thread(app)`: uvicorn in a thread of the test process; spans are asserted with
  `llmobs_core.testing.capture()` since the server shares the test's llmobs state.
- `serve_in_subprocess("module:app", env=...)`: uvicorn in its own process; assert through
  the local store (give it LLMOBS_LOCAL_PATH) once the block has ended: the server is then
  stopped and has flushed what it recorded.
- `traced(app, **options)`: the app wrapped in LLMObsMiddleware.
Both servers yield the base URL ("http://127.0.0.1:PORT") and always stop.
- `talk_to_websocket(app, path, texts, close_code)`: an in-process websocket client (the
  test environment has no websocket library for uvicorn).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from llmobs_starlette import LLMObsMiddleware

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0


def traced(app: Any, **middleware_options: Any) -> LLMObsMiddleware:
    return LLMObsMiddleware(app, **middleware_options)


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free port, so no other process can take the port between
    choosing it and serving on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_in_thread(app: Any, **uvicorn_options: Any) -> Iterator[str]:
    options = {"log_level": "warning", "lifespan": "off", **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    sock = bound_socket()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="uvicorn-test-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the uvicorn test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()


@contextmanager
def serve_in_subprocess(app_path: str, *, env: dict[str, str] | None = None,
                        uvicorn_args: tuple[str, ...] = (),
                        stop_signal: int = signal.SIGINT) -> Iterator[str]:
    """Run `uvicorn app_path` (e.g. "examples.asgi.fastapi_app:app") in a child process."""
    sock = bound_socket()
    sock.listen(128)
    child_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    command = [sys.executable, "-m", "uvicorn", app_path, "--fd", str(sock.fileno()),
               "--log-level", "warning", *uvicorn_args]
    process = subprocess.Popen(command, pass_fds=[sock.fileno()], env=child_env, cwd=REPO)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        # SIGINT by default: uvicorn re-raises the signal that stopped it, and only SIGINT's
        # KeyboardInterrupt lets exit handlers (llmobs's final flush) run.
        process.send_signal(stop_signal)
        try:
            process.wait(START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(START_TIMEOUT_S)
        sock.close()


def wait_until_serving(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            httpx.get(url + "/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the uvicorn test server did not start")


async def talk_to_websocket(app, path: str, texts: list[str], close_code: int | None) -> list:
    """Drive an ASGI websocket in process: connect, send `texts`, then disconnect with
    `close_code` (None: wait for the app to close). Returns what the app sent."""
    incoming: asyncio.Queue = asyncio.Queue()
    for message in [{"type": "websocket.connect"},
                    *({"type": "websocket.receive", "text": text} for text in texts)]:
        incoming.put_nowait(message)
    if close_code is not None:
        incoming.put_nowait({"type": "websocket.disconnect", "code": close_code})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "path": path, "raw_path": path.encode(), "root_path": "", "scheme": "ws",
             "query_string": b"", "headers": [(b"host", b"test")], "subprotocols": [],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    await asyncio.wait_for(app(scope, incoming.get, send), timeout=5)
    return sent
