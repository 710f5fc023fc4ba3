"""Serving an example's ASGI app with uvicorn on a free local port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def serve_in_background(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Start `app`; return the server (set `should_exit` to stop it), its thread and its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the web front did not start")
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"
