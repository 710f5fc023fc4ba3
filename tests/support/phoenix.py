"""Arize Phoenix, a real OTLP backend, for tests: `serve(workdir)` runs its server on
127.0.0.1 (its `phoenix` command from LLMOBS_PHOENIX_BIN or PATH) and yields its URL;
`phoenix_spans(url, project, count)` waits for a project's spans through Phoenix's REST API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@contextmanager
def serve(workdir: Path) -> Iterator[str]:
    command = os.environ.get("LLMOBS_PHOENIX_BIN") or shutil.which("phoenix")
    if not command:
        # `make test` installs Phoenix; in CI its absence is a failure, elsewhere a skip.
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(
            "Arize Phoenix is not installed (pip install arize-phoenix, then put its "
            "`phoenix` command on PATH or in LLMOBS_PHOENIX_BIN)")
    port = _free_port()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("OTEL_", "PHOENIX_"))}
    environment.update(PHOENIX_WORKING_DIR=str(workdir), PHOENIX_HOST="127.0.0.1",
                       PHOENIX_PORT=str(port), PHOENIX_GRPC_PORT=str(_free_port()),
                       PHOENIX_TELEMETRY_ENABLED="false")
    with open(workdir / "phoenix.log", "wb") as log:
        process = subprocess.Popen([command, "serve"], env=environment, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                log_tail = (workdir / "phoenix.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"Phoenix did not start:\n{log_tail}")
            yield url
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def phoenix_spans(url: str, project: str, count: int) -> list[dict]:
    """The project's spans once there are `count` of them, or what there is after 30 s."""
    deadline = time.monotonic() + 30
    spans: list[dict] = []
    while time.monotonic() < deadline:
        try:
            spans = _get_json(f"{url}/v1/projects/{project}/spans?limit=1000")["data"]
        except urllib.error.HTTPError as error:  # the project appears with its first span
            if error.code != 404:
                raise
        if len(spans) >= count:
            break
        time.sleep(0.3)
    return spans
