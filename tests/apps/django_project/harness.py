"""Running the test project: configured in the pytest process (once, and only if no other
Django settings are), served by uvicorn in a thread, or by uvicorn in a child process."""

from __future__ import annotations

import os
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

REPO_DIR = Path(__file__).resolve().parents[3]


def setup_django() -> None:
    """Configure Django from tests.apps.django_project.settings, with the in-memory exporter."""
    import django
    from django.conf import settings

    from tests.apps.django_project import settings as project

    if settings.configured:
        if settings.ROOT_URLCONF != project.ROOT_URLCONF:
            raise RuntimeError("Django is already configured with other settings")
        return
    values = {name: getattr(project, name) for name in dir(project) if name.isupper()}
    llmobs = dict(values["LLMOBS"])
    llmobs["ENABLE"] = {**llmobs["ENABLE"], "exporter": "memory"}
    settings.configure(**{**values, "LLMOBS": llmobs})
    django.setup()


class ThreadServer:
    """uvicorn serving an ASGI app from a thread of this process, on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, lifespan="off", ws="none", loop="asyncio", http="h11",
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def process_server(env: dict[str, str], app: str = "tests.apps.django_project.asgi:application",
                   app_dir: Path = REPO_DIR, probe: str = "/health/",
                   ) -> Iterator[tuple[str, subprocess.Popen]]:
    """uvicorn serving `app` in a child process, ready once `probe` answers; stopped (if the
    test did not stop it) with SIGTERM, and killed if it does not stop in time."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app,
               "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
               "--ws", "none", "--log-level", "warning"]
    child_env = {**os.environ, "PYTHONPATH": str(REPO_DIR), **env}
    child = subprocess.Popen(command, cwd=app_dir, env=child_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url + probe, child)
        yield url, child
    finally:
        if child.poll() is None:
            child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


def _wait_until_serving(url: str, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"uvicorn exited: {child.stderr.read() if child.stderr else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not start in 20 s")
