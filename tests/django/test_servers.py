"""The test project served for real: by uvicorn (ASGI) in a thread and in a child process, and
through Django's WSGI handler as a WSGI server drives it."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from llmobs_core.propagation import inject_dict
from llmobs_core.testing import capture
from tests.apps.django_project.harness import ThreadServer, process_server, setup_django

TRACE_ID = 0x6B0136B500000000A80198F6DF31DD9A
PARENT_ID = 987654321
APPS = ("shop", "support", "search")
SYNC_STREAM_WARNING = "ignore:StreamingHttpResponse must consume synchronous iterators"


@pytest.fixture(scope="module")
def server():
    setup_django()
    from django.core.handlers.asgi import ASGIHandler

    running = ThreadServer(ASGIHandler()).start()
    yield running.url
    running.stop()


@pytest.fixture
def spans():
    with capture(ml_app="configured") as captured:
        yield captured


def caller_headers(trace_id: int = TRACE_ID, span_id: int = PARENT_ID,
                   keep: tuple[str, ...] = ()) -> dict[str, str]:
    headers = inject_dict({}, trace_id=trace_id, span_id=span_id, apm_trace_id=trace_id,
                          ml_app="caller-app", session_id="caller-session")
    return {k: v for k, v in headers.items() if not keep or k.startswith(keep)}


def tag(event: dict, key: str) -> str | None:
    return next((t.split(":", 1)[1] for t in event["tags"] if t.startswith(key + ":")), None)


def wait_for_span(captured, name: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [event for event in captured.spans if event["name"] == name]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no span {name!r} within {timeout} s")


@pytest.mark.parametrize("keep", [(), ("x-datadog-",), ("traceparent", "tracestate")])
def test_uvicorn_requests_continue_the_caller_s_trace_from_each_format(server, spans, keep):
    """Over a real ASGI server, Datadog, W3C or both header sets continue the caller's trace."""
    seen = httpx.get(server + "/async/items/4/", headers=caller_headers(keep=keep)).json()
    event = spans.by_name("GET /async/items/<int:pk>/")
    assert (event["trace_id"], event["parent_id"]) == (f"{TRACE_ID:032x}", str(PARENT_ID))
    assert (tag(event, "ml_app"), event["session_id"]) == ("caller-app", "caller-session")
    assert seen["span_id"] == event["span_id"] and seen["active"]


def test_sync_and_async_views_and_errors_over_uvicorn(server, spans):
    """Sync and async views get spans; an exception gives a 500 and an error span; a 404 is no
    error; excluded paths get no span."""
    with httpx.Client(base_url=server) as client:
        statuses = [client.get(path).status_code for path in (
            "/items/1/", "/async/items/2/", "/errors/async/", "/errors/missing/", "/health/")]
    assert statuses == [200, 200, 500, 404, 200]
    by_name = {event["name"]: event for event in spans.spans}
    assert by_name["GET /errors/async/"]["meta"]["error"]["type"] == "builtins.ValueError"
    assert by_name["GET /errors/missing/"]["status"] == "ok"
    assert not [name for name in by_name if "health" in name]
    assert by_name["GET /items/<int:pk>/"]["status"] == "ok"


def test_an_async_stream_s_span_covers_the_whole_stream(server, spans):
    """The span of a streamed response ends after its last chunk reached the client, not when
    the view returned."""
    with httpx.stream("GET", server + "/stream/async/?chunks=4&delay=0.05") as response:
        body = b"".join(response.iter_bytes())
    assert body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"
    event = wait_for_span(spans, "GET /stream/async/")
    assert event["duration"] >= 200_000_000  # the view itself returns at once
    chunk_parents = [e["parent_id"] for e in spans.spans if e["name"] == "chunk"]
    assert chunk_parents == [event["span_id"]] * 4


@pytest.mark.filterwarnings(SYNC_STREAM_WARNING)
def test_sync_streams_and_file_responses_over_uvicorn(server, spans):
    """A sync iterator (which Django's ASGI handler consumes in a thread) and a FileResponse
    both end their spans once sent."""
    with httpx.Client(base_url=server) as client:
        assert client.get("/stream/sync/?chunks=2").text == "chunk 0\nchunk 1\n"
        assert len(client.get("/file/?size=300000").content) == 300000
    stream = wait_for_span(spans, "GET /stream/sync/")
    assert wait_for_span(spans, "GET /file/")["status"] == "ok"
    assert [e["parent_id"] for e in spans.spans if e["name"] == "chunk"] == [stream["span_id"]] * 2


def test_a_client_that_leaves_mid_stream_still_ends_the_span(server, spans):
    """Django's ASGI handler never closes a response whose client disconnected; the span still
    ends (without an error) when the stream is cancelled."""
    with httpx.stream("GET", server + "/stream/async/?chunks=100&delay=0.05") as response:
        next(response.iter_raw())
    event = wait_for_span(spans, "GET /stream/async/")
    assert event["status"] == "ok" and event["duration"] < 4_000_000_000


def test_a_view_s_httpx_call_carries_the_trace_onward(server, spans):
    """A view calling the next service through an instrumented httpx client sends the trace
    on: the downstream request span is a child of the view's task span, in the same trace, with
    the session and ml_app carried along."""
    headers = {**caller_headers(), "X-Session-Id": "upstream-session"}
    target = server + "/async/items/9/"
    seen = httpx.get(server + "/onward/", params={"url": target}, headers=headers,
                     timeout=10).json()
    upstream = spans.by_name("GET /onward/")
    call = spans.by_name("call-downstream")
    downstream = spans.by_name("GET /async/items/<int:pk>/")
    assert call["parent_id"] == upstream["span_id"]
    assert downstream["parent_id"] == call["span_id"]
    assert {upstream["trace_id"], call["trace_id"], downstream["trace_id"]} == {
        f"{TRACE_ID:032x}"}
    assert downstream["session_id"] == "upstream-session"
    assert tag(downstream, "ml_app") == "caller-app"
    assert seen["downstream"]["parent_id"] == call["span_id"]


def test_concurrent_requests_to_three_ml_apps_never_cross(server, spans):
    """100 concurrent requests, each from its own caller trace and session, routed to three
    ml_apps: every request span and its child carry that request's ml_app, session and parent."""

    async def one(client: httpx.AsyncClient, index: int) -> tuple[int, dict]:
        headers = {**caller_headers(trace_id=(1 << 100) + index, span_id=10_000 + index),
                   "X-Session-Id": f"session-{index}"}
        delay = 0.002 * (index % 7)
        response = await client.get(f"/apps/{APPS[index % 3]}/chat/",
                                    params={"delay": delay, "tag": f"request-{index}"},
                                    headers=headers)
        return index, response.json()

    async def run_all() -> list[tuple[int, dict]]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
            return await asyncio.gather(*(one(client, index) for index in range(100)))

    results = asyncio.run(run_all())
    events = spans.spans
    requests = {e["span_id"]: e for e in events if e["name"] == "GET /apps/<slug:app>/chat/"}
    answers = {e["meta"]["output"]["value"]: e for e in events if e["name"] == "answer"}
    assert len(requests) == len(answers) == 100
    for index, seen in results:
        expected_app, expected_session = f"app-{APPS[index % 3]}", f"session-{index}"
        request = requests[seen["span_id"]]
        assert (seen["ml_app"], seen["session_id"]) == (expected_app, expected_session)
        assert request["parent_id"] == str(10_000 + index)
        assert request["trace_id"] == f"{(1 << 100) + index:032x}"
        assert (tag(request, "ml_app"), request["session_id"]) == (expected_app,
                                                                   expected_session)
        answer = answers[f"request-{index}"]
        assert answer["parent_id"] == request["span_id"]
        assert (tag(answer, "ml_app"), answer["session_id"]) == (expected_app, expected_session)


def test_a_deployed_process_is_enabled_from_settings_and_environment(tmp_path):
    """uvicorn running the project in its own process: the app config enabled llmobs at
    startup from LLMOBS and the environment (DD_LLMOBS_ML_APP, LLMOBS_EXPORTER), and requests
    are recorded and drained at exit. SIGINT, because uvicorn re-raises SIGTERM after its
    shutdown with the default handler, which ends the process before atexit handlers run."""
    env = {"DD_LLMOBS_ML_APP": "env-app", "LLMOBS_EXPORTER": "console",
           "DJANGO_SETTINGS_MODULE": "tests.apps.django_project.settings"}
    with process_server(env) as (url, child):
        with httpx.Client(base_url=url, timeout=10) as client:
            client.get("/items/1/")
            client.get("/apps/shop/chat/")
            client.get("/health/")
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=15)
    lines = [line for line in output.splitlines() if line.startswith("[llmobs] workflow")]
    apps = {re.search(r"GET (\S+)", line)[1]: re.search(r"ml_app=(\S+)", line)[1]
            for line in lines}
    assert apps == {"/items/<int:pk>/": "env-app", "/apps/<slug:app>/chat/": "app-shop"}


def test_under_wsgi_a_file_response_keeps_the_file_wrapper_and_ends_at_close(spans):
    """Through Django's WSGI handler with a server's wsgi.file_wrapper (sendfile), the file is
    handed to the wrapper untouched, and the span ends when the server closes it."""
    setup_django()
    from django.core.handlers.wsgi import WSGIHandler

    class FileWrapper:
        def __init__(self, filelike, block_size):
            self.filelike, self.block_size = filelike, block_size

        def __iter__(self):
            return iter(lambda: self.filelike.read(self.block_size), b"")

        def close(self):
            self.filelike.close()

    environ = {"PATH_INFO": "/file/", "QUERY_STRING": "size=5000",
               "wsgi.file_wrapper": FileWrapper}
    setup_testing_defaults(environ)
    served = WSGIHandler()(environ, lambda status, headers: None)
    assert isinstance(served, FileWrapper)
    assert len(b"".join(served)) == 5000
    assert not [e for e in spans.spans if e["name"] == "GET /file/"]
    served.close()
    assert spans.by_name("GET /file/")["status"] == "ok"
