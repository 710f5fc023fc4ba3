"""Distributed tracing through the public APIs of both SDKs, against the real ddtrace LLMObs.

One ddtrace process per propagation style (Datadog only, W3C only, both) runs at once. Each
opens a span and injects its headers with ddtrace's `LLMObs.inject_distributed_headers` (which
llmobs continues here), and opens a child under our headers with ddtrace's
`LLMObs.activate_distributed_headers`. ddtrace's LLMObs writer posts its span events, agentless,
to a fake intake on 127.0.0.1 (DD_LLMOBS_OVERRIDE_ORIGIN); APM traces go to an agent socket that
does not exist, telemetry and remote configuration are off: nothing leaves the machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.support.ddtrace_styles import STYLES

if importlib.util.find_spec("ddtrace") is None:
    pytest.skip("ddtrace is not installed", allow_module_level=True)

SESSION = "session 7: ddtrace"
OUR_SESSION = "session 8: llmobs"

PEER = r"""
import json, sys
from ddtrace.llmobs import LLMObs

ours, style, session = json.loads(sys.argv[1])
LLMObs.enable(ml_app="ddtrace-app", integrations_enabled=False)
with LLMObs.workflow(f"ddtrace-run-{style}", session_id=session):
    with LLMObs.task(f"ddtrace-call-{style}") as task:
        headers = LLMObs.inject_distributed_headers({}, task)
LLMObs.activate_distributed_headers(ours)
with LLMObs.task(f"ddtrace-child-{style}"):
    pass
LLMObs.disable()
print(json.dumps(headers))
"""


class FakeIntake(BaseHTTPRequestHandler):
    """Keeps every POST (path, API key header, JSON body) in `self.server.received`."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(  # type: ignore[attr-defined]
            (self.path, self.headers.get("DD-API-KEY"), json.loads(body)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def intake() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeIntake)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def peer_env(style: str, intake_port: int, tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "OTEL_"))}
    env.update(
        DD_LLMOBS_OVERRIDE_ORIGIN=f"http://127.0.0.1:{intake_port}",
        DD_LLMOBS_AGENTLESS_ENABLED="true",
        DD_API_KEY="fake-key",
        DD_SITE="datadoghq.com",
        DD_TRACE_AGENT_URL=f"unix://{tmp}/no-agent.sock",
        DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
        DD_REMOTE_CONFIGURATION_ENABLED="false",
        DD_TRACE_STARTUP_LOGS="false",
        DD_TRACE_PROPAGATION_STYLE=style,
    )
    return env


@pytest.fixture(scope="module")
def exchange(intake: ThreadingHTTPServer, tmp_path_factory) -> dict:
    """Our headers (from a span of ours) to each ddtrace peer; the peers' headers back, and the
    span events they posted to the fake intake, by span name."""
    with capture(ml_app="caller-app"), LLMObs.workflow("run", session_id=OUR_SESSION):
        with LLMObs.task("call") as ours:
            headers = LLMObs.inject_distributed_headers({})
    tmp = str(tmp_path_factory.mktemp("ddtrace"))
    running = {}
    for name, (style, names) in STYLES.items():
        fed = {k: v for k, v in headers.items() if k in names}
        running[name] = subprocess.Popen(
            [sys.executable, "-c", PEER, json.dumps([fed, name, SESSION])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=peer_env(style, intake.server_address[1], tmp),
        )
    sent = {}
    for name, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 0, stderr
        sent[name] = json.loads(stdout.strip().splitlines()[-1])
    return {"ours": ours, "sent": sent, "posts": list(intake.received),
            "events": {span["name"]: span for _, _, body in intake.received
                       for envelope in body for span in envelope["spans"]}}


def _tags(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


def test_the_fake_intake_received_intake_shaped_posts(exchange: dict) -> None:
    """ddtrace posted to the agentless span endpoint with its API key, in raw span envelopes."""
    assert exchange["posts"]
    for path, api_key, body in exchange["posts"]:
        assert (path, api_key) == ("/api/v2/llmobs", "fake-key")
        assert all(e["event_type"] == "span" and e["_dd.stage"] == "raw" for e in body)


@pytest.mark.parametrize("name", list(STYLES))
def test_llmobs_continues_a_ddtrace_span_from_its_headers(exchange: dict, name: str) -> None:
    """A span of ours under ddtrace-injected headers is the child of ddtrace's span, in the same
    LLMObs trace, under ddtrace's ml_app and session, with only this style's headers."""
    headers = exchange["sent"][name]
    assert set(headers) - {"baggage"} == STYLES[name][1] - {"baggage"}
    remote = exchange["events"][f"ddtrace-call-{name}"]
    with capture(service="receiver") as captured:
        with LLMObs.activate_distributed_headers(headers):
            with LLMObs.task("continued"):
                pass
    (event,) = captured.spans
    assert event["parent_id"] == remote["span_id"]
    assert event["trace_id"] == remote["trace_id"]
    assert event["session_id"] == SESSION == remote["session_id"]
    assert _tags(event)["ml_app"] == "ddtrace-app" == _tags(remote)["ml_app"]
    assert _tags(event)["service"] == "receiver"


@pytest.mark.parametrize("name", list(STYLES))
def test_ddtrace_continues_our_span_from_our_headers(exchange: dict, name: str) -> None:
    """ddtrace's span under our headers (only this style's), as posted to the intake, is the
    child of our span, in our trace, under our ml_app and session."""
    ours = exchange["ours"]
    event = exchange["events"][f"ddtrace-child-{name}"]
    assert event["parent_id"] == str(ours.span_id)
    assert event["trace_id"] == f"{ours.trace_id:032x}"
    assert event["session_id"] == OUR_SESSION
    assert _tags(event)["ml_app"] == "caller-app"
