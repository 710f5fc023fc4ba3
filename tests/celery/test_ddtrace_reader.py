"""The trace headers of a Celery message, read by the real ddtrace LLMObs (in an offline
subprocess, as tests/propagation/test_ddtrace.py runs it): a message from a trace llmobs started
leaves _dd.p.llmobs_trace_id out (it is the APM trace id), and ddtrace still continues the
same llmobs trace, under the same parent, ml_app and session."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.apps.celery_app import make_app
from tests.apps.celery_app.tasks import PREFIX
from tests.propagation.test_ddtrace import peer_env

if importlib.util.find_spec("ddtrace") is None:
    pytest.skip("ddtrace is not installed", allow_module_level=True)

PEER = r"""
import json, sys
from ddtrace.llmobs import LLMObs

headers = json.loads(sys.argv[1])
LLMObs.enable(ml_app="ddtrace-worker", agentless_enabled=False, integrations_enabled=False)
LLMObs.activate_distributed_headers(headers)
with LLMObs.task("child") as child:
    event = LLMObs._instance._llmobs_span_event(child)
print(json.dumps({"parent_id": event["parent_id"], "trace_id": event["trace_id"],
                  "session_id": event.get("session_id"), "tags": event["tags"]}))
LLMObs.disable()
"""


@pytest.fixture
def memory_app() -> Iterator[Celery]:
    yield make_app("memory://", "cache+memory://", f"memory-{uuid.uuid4().hex[:8]}")
    llmobs_celery.uninstall()


def test_ddtrace_continues_the_trace_a_message_carries(memory_app: Celery,
                                                       tmp_path: Path) -> None:
    llmobs_celery.install()
    with capture(ml_app="publisher"):
        with LLMObs.workflow("request", session_id="session-1") as request:
            memory_app.tasks[PREFIX + "add"].delay(1, 2)
    with memory_app.connection_for_read() as connection:
        with connection.SimpleQueue(memory_app.conf.task_default_queue) as queue:
            message = queue.get(timeout=1)
            message.ack()
    headers = {k: v for k, v in message.headers.items() if k.startswith(("x-datadog-", "trace"))}
    assert "_dd.p.llmobs_trace_id=" not in headers["x-datadog-tags"]
    peer = subprocess.run([sys.executable, "-c", PEER, json.dumps(headers)], timeout=60,
                          capture_output=True, text=True,
                          env=peer_env("datadog,tracecontext", str(tmp_path)))
    assert peer.returncode == 0, peer.stderr
    child = json.loads(peer.stdout.strip().splitlines()[-1])
    assert int(child["trace_id"], 16) == request.trace_id
    assert child["parent_id"] == str(request.span_id)
    assert child["session_id"] == "session-1"
    assert "ml_app:publisher" in child["tags"]
