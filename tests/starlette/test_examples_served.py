"""The ASGI examples as their users run them, each in its own process: the assistant's web
front (the demo) and the FastAPI example under uvicorn, checked through the local store."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from llmobs_core.store.queries import get_trace, list_evals, list_spans, list_traces
from llmobs_starlette import span_context
from tests.support.asgi_server import REPO, serve_in_subprocess

EXAMPLES = REPO / "examples" / "asgi"


def test_the_assistant_web_front_records_traces_that_start_at_an_http_request(
        tmp_path: Path) -> None:
    """Run as the demo runs it, the web front stores one trace per question, rooted at the
    request span with the routed ml_app and the session, plus one evaluation per answer."""
    store = tmp_path / "traces.db"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "assistant_web.py")], capture_output=True, text=True,
        timeout=60, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "LLMOBS_LOCAL_PATH": str(store)})
    assert result.returncode == 0, result.stderr
    traces = list_traces(store, limit=100)
    assert sorted((t["root_name"], t["ml_app"], t["session_id"]) for t in traces) == sorted(
        [("POST /{assistant}/chat", "support-assistant", "session-alice")] * 3
        + [("POST /{assistant}/chat", "sales-assistant", "session-bob")] * 2)
    tree = get_trace(store, traces[0]["trace_id"])
    assert {span["name"] for span in tree["spans"]} >= {"handle_turn", "answer",
                                                     "OpenAI.createChatCompletion"}
    assert len(list_evals(store, label="user_helpful", limit=100)) == 5


def test_the_fastapi_example_under_uvicorn_stores_its_spans(tmp_path: Path) -> None:
    """`uvicorn examples.asgi.fastapi_app:app` in its own process enables llmobs in its
    lifespan and stores each request's span in the local store."""
    store = tmp_path / "traces.db"
    with serve_in_subprocess("examples.asgi.fastapi_app:app",
                             env={"LLMOBS_LOCAL_PATH": str(store)}) as url:
        response = httpx.post(f"{url}/chat", json={"question": "hi"},
                              headers={"x-session-id": "s-uv"}, timeout=10)
    (trace,) = list_traces(store, session="s-uv")
    assert trace["trace_id"] == span_context(response.headers["traceresponse"])["trace_id"]
    assert trace["root_name"] == "POST /chat" and trace["ml_app"] == "chat-api"


def test_spans_survive_a_sigterm_stop_of_uvicorn(tmp_path: Path) -> None:
    """uvicorn re-raises SIGTERM after its shutdown, which skips atexit; llmobs, enabled at
    import while SIGTERM had its default action, drains first, so every span is stored."""
    store = tmp_path / "traces.db"
    with serve_in_subprocess("tests.apps.asgi_apps.enabled_at_import:app",
                             stop_signal=signal.SIGTERM,
                             env={"LLMOBS_LOCAL_PATH": str(store)}) as url:
        for _ in range(5):
            httpx.get(f"{url}/hello", headers={"x-session-id": "s-term"}, timeout=10)
    spans = list_spans(store, limit=100)
    hello_requests = [s for s in spans if s["name"] == "GET /hello"]
    assert len(hello_requests) == 5
    assert len([s for s in spans if s["name"] == "inner-task"]) >= 5
