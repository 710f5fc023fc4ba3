"""The seed documentation's proxy example, played for real with examples/proxy/.

An application process (ml_app my-ml-app) runs the workflow run-chat, whose task chat-proxy
POSTs with an instrumented httpx client to a chat proxy served by uvicorn in its own process
(enabled with service chat-proxy and no ml_app). Both write to one local store; the assertions
read it back, and run the `llmobs` command on it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from llmobs_core.store import queries as store_queries

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


def child_env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "LLMOBS_", "OTEL_"))}
    env.update(LLMOBS_LOCAL_PATH=str(store), PYTHONPATH=str(REPO))
    return env


@contextmanager
def proxy_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """uvicorn serving examples.proxy.proxy:app on a socket bound here, so the port cannot be
    taken in between; stopped with SIGINT so its lifespan shutdown delivers its spans."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    command = [sys.executable, "-m", "uvicorn", "examples.proxy.proxy:app",
               "--fd", str(sock.fileno()), "--log-level", "warning"]
    with open(log, "wb") as stderr:
        process = subprocess.Popen(command, pass_fds=[sock.fileno()], env=env, cwd=REPO,
                                   stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        sock.close()


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the proxy did not start within {TIMEOUT_S} s: {log.read_text()}")


def llmobs_cli(store: Path, *args: str) -> list[dict]:
    """Run the installed `llmobs` command on the store with --json: one event per line."""
    command = [str(Path(sys.executable).with_name("llmobs")), "--path", str(store), *args,
               "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S,
                            env=child_env(store), cwd=REPO, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Play the example once: the proxy in uvicorn, the application against it, proxy stopped."""
    tmp = tmp_path_factory.mktemp("proxy-e2e")
    store = tmp / "traces.db"
    env = child_env(store)
    with proxy_server(env, tmp / "proxy.log") as url:
        app = subprocess.run([sys.executable, str(REPO / "examples/proxy/app.py"), url],
                             capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
                             cwd=REPO, stdin=subprocess.DEVNULL)
    assert app.returncode == 0, app.stderr
    assert "Proxied answer to: What is the capital of France?" in app.stdout
    return store


def the_trace(store: Path) -> dict[str, dict]:
    (summary,) = store_queries.list_traces(store)
    trace = store_queries.get_trace(store, summary["trace_id"])
    return {span["name"]: span for span in trace["spans"]}


def tags(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


def test_the_proxy_spans_continue_the_applications_trace(store: Path) -> None:
    """The proxy's spans are in the application's trace, its root a child of the chat-proxy
    task, under ml_app my-ml-app and the application's session, with service chat-proxy."""
    spans = the_trace(store)
    assert set(spans) == {"run-chat", "chat-proxy", "proxy-chat", "upstream-chat"}
    task, proxy_root = spans["chat-proxy"], spans["proxy-chat"]
    assert proxy_root["parent_id"] == task["span_id"]
    assert spans["upstream-chat"]["parent_id"] == proxy_root["span_id"]
    assert task["parent_id"] == spans["run-chat"]["span_id"]
    assert len({span["trace_id"] for span in spans.values()}) == 1
    for name in ("proxy-chat", "upstream-chat"):
        assert tags(spans[name])["ml_app"] == "my-ml-app"
        assert tags(spans[name])["service"] == "chat-proxy"
        assert spans[name]["session_id"] == "session-1"
    assert tags(spans["run-chat"])["service"] == "chat-app"


def test_only_the_task_that_calls_the_proxy_is_tagged_ml_proxy(store: Path) -> None:
    """The chat-proxy task carries ml-proxy:custom; no other span does."""
    tagged = [name for name, span in the_trace(store).items()
              if "ml-proxy:custom" in span["tags"]]
    assert tagged == ["chat-proxy"]


def test_the_llmobs_command_shows_the_proxy_task_and_the_proxy_spans(store: Path) -> None:
    """`llmobs spans --tag ml-proxy:custom` lists the task, `llmobs spans --service chat-proxy`
    the proxy's spans under my-ml-app."""
    spans = the_trace(store)
    tagged = llmobs_cli(store, "spans", "--tag", "ml-proxy:custom")
    assert [(s["name"], s["span_id"]) for s in tagged] == [
        ("chat-proxy", spans["chat-proxy"]["span_id"])]
    proxied = llmobs_cli(store, "spans", "--service", "chat-proxy")
    assert sorted(s["name"] for s in proxied) == ["proxy-chat", "upstream-chat"]
    assert all("ml_app:my-ml-app" in s["tags"] for s in proxied)
