"""LLMObsMiddleware through Django's test client (sync handler, as under WSGI) and async client
(async handler, as under ASGI): naming, trace continuation, ml_app and session precedence, errors,
streaming, excluded paths."""

from __future__ import annotations

import threading
import time

import pytest
from asgiref.sync import iscoroutinefunction
from django.test import AsyncClient, Client, override_settings

from llmobs_core import LLMObs
from llmobs_core.propagation import inject_dict
from tests.apps.django_project.harness import setup_django

pytestmark = pytest.mark.anyio

TRACE_ID = 0x6B0136B5000000007801693602FF8AC4
PARENT_ID = 1234567890123


@pytest.fixture(scope="module", autouse=True)
def django_project() -> None:
    setup_django()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def spans():
    from llmobs_core.testing import capture

    with capture(ml_app="configured") as captured:
        yield captured


def caller_headers(ml_app: str | None = "caller-app", session_id: str | None = "caller-session",
                   keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers a caller's llmobs (or ddtrace) would send; `keep` picks some formats only."""
    headers = inject_dict({}, trace_id=TRACE_ID, span_id=PARENT_ID, apm_trace_id=TRACE_ID,
                          ml_app=ml_app, session_id=session_id)
    return {k: v for k, v in headers.items() if not keep or k.startswith(keep)}


def request_span(captured, name: str) -> dict:
    return captured.by_name(name)


def tag(event: dict, key: str) -> str | None:
    return next((t.split(":", 1)[1] for t in event["tags"] if t.startswith(key + ":")), None)


# -- naming, kinds, the span on the request ------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), [
    ("/items/5/", "GET /items/<int:pk>/"),
    ("/api/v1/items/5/", "GET /api/v1/items/<int:pk>/"),
    ("/legacy/2024/", "GET /legacy/(?P<year>[0-9]{4})/$"),
    ("/", "GET /"),
    ("/no/such/page/", "GET /no/such/page/"),
])
def test_span_is_named_by_method_and_route_else_path(spans, path, name):
    """The span is named "METHOD /route" from the resolved pattern (included and regex ones
    too), and "METHOD /path" when no pattern matched."""
    Client().get(path)
    event = request_span(spans, name)
    assert event["meta"]["span"]["kind"] == "workflow"


def test_the_view_sees_its_span_on_the_request_and_as_the_active_span(spans):
    """request.llmobs is the request's span and is active in the view, so the view's own spans
    are its children."""
    seen = Client().get("/items/5/").json()
    request = request_span(spans, "GET /items/<int:pk>/")
    assert seen["active"] is True and seen["span_id"] == request["span_id"]
    assert request_span(spans, "load-item")["parent_id"] == request["span_id"]


def test_nothing_stays_active_after_a_request(spans):
    """The middleware resets its context tokens: the caller's context is as it was."""
    with LLMObs.workflow("test-body") as outer:
        Client().get("/items/5/")
        assert LLMObs.current_span() is outer
    Client().get("/items/6/")
    assert LLMObs.current_span() is None


def test_span_kind_comes_from_settings(spans):
    """LLMOBS['SPAN_KIND'] sets the kind of request spans."""
    with override_settings(LLMOBS={"SPAN_KIND": "agent"}):
        Client().get("/items/5/")
    assert request_span(spans, "GET /items/<int:pk>/")["meta"]["span"]["kind"] == "agent"


def test_without_llmobs_enabled_requests_pass_through_with_a_noop_span():
    """Disabled llmobs records nothing; views still find request.llmobs (a no-op span)."""
    assert Client().get("/items/5/").json() == {"traced": False}


def test_the_request_body_is_never_read(spans):
    """A request whose body stream fails on any read is served: the middleware never reads it."""

    class UnreadableBody:
        def read(self, *args):
            raise AssertionError("the request body was read")

        readline = read

    response = Client().generic("POST", "/items/5/", **{"wsgi.input": UnreadableBody(),
                                                        "CONTENT_LENGTH": "10"})
    assert response.status_code == 200
    assert request_span(spans, "POST /items/<int:pk>/")["status"] == "ok"


# -- continuing the caller's trace ---------------------------------------------------------------


@pytest.mark.parametrize("keep", [(), ("x-datadog-",), ("traceparent", "tracestate")])
def test_the_caller_s_trace_is_continued_from_each_header_format(spans, keep):
    """Datadog headers, W3C trace context, or both: the request span joins the caller's trace
    under the caller's span, with the caller's ml_app and session."""
    Client().get("/items/5/", headers=caller_headers(keep=keep))
    event = request_span(spans, "GET /items/<int:pk>/")
    assert event["trace_id"] == f"{TRACE_ID:032x}"
    assert event["parent_id"] == str(PARENT_ID)
    assert tag(event, "ml_app") == "caller-app"
    assert event["session_id"] == "caller-session"


def test_an_opentelemetry_peer_s_traceparent_and_baggage_are_continued(spans):
    """traceparent without llmobs keys keeps the trace id (no llmobs parent: "undefined"), and
    baggage brings ml_app and session."""
    traceparent = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
    Client().get("/items/5/", headers={"traceparent": traceparent,
                                       "baggage": "ml_app=otel-app,session.id=otel-session"})
    event = request_span(spans, "GET /items/<int:pk>/")
    assert (event["trace_id"], event["parent_id"]) == (f"{TRACE_ID:032x}", "undefined")
    assert (tag(event, "ml_app"), event["session_id"]) == ("otel-app", "otel-session")


def test_malformed_trace_headers_give_a_root(spans):
    """Headers that do not parse are ignored: the request starts its own trace."""
    Client().get("/items/5/", headers={"x-datadog-trace-id": "nope", "traceparent": "00-zz"})
    assert request_span(spans, "GET /items/<int:pk>/")["parent_id"] == "undefined"


# -- ml_app and session precedence ----------------------------------------------------------------


def test_a_routed_ml_app_beats_the_caller_s_which_beats_the_configured_one(spans):
    """Wire-format precedence: the router's ml_app is explicit; unrouted requests take the caller's
    propagated ml_app, and without one the configured ml_app."""
    client = Client()
    client.get("/apps/shop/chat/", headers=caller_headers())
    client.get("/items/5/", headers=caller_headers())
    client.get("/items/6/")
    assert tag(request_span(spans, "GET /apps/<slug:app>/chat/"), "ml_app") == "app-shop"
    by_name = [tag(e, "ml_app") for e in spans.spans if e["name"] == "GET /items/<int:pk>/"]
    assert by_name == ["caller-app", "configured"]


def test_requests_are_routed_to_several_ml_apps_and_children_follow(spans):
    """Each tenant path records under its own ml_app, and the view's child spans inherit it."""
    client = Client()
    for app in ("shop", "support", "search"):
        client.get(f"/apps/{app}/chat/")
    requests = [e for e in spans.spans if e["name"].startswith("GET")]
    answers = {e["parent_id"]: tag(e, "ml_app") for e in spans.spans if e["name"] == "answer"}
    assert sorted(tag(e, "ml_app") for e in requests) == ["app-search", "app-shop",
                                                           "app-support"]
    assert all(answers[e["span_id"]] == tag(e, "ml_app") for e in requests)


def test_session_from_the_hook_beats_the_propagated_one_and_cookies_work(spans):
    """SESSION_ID reads a header or a cookie; its value beats the caller's session, and without
    it the caller's session is kept."""
    client = Client()
    client.get("/items/1/", headers={**caller_headers(), "X-Session-Id": "from-header"})
    client.get("/items/2/", headers=caller_headers())
    client.cookies["sid"] = "from-cookie"
    client.get("/items/3/")
    sessions = [e["session_id"] for e in spans.spans if e["name"] == "GET /items/<int:pk>/"]
    assert sessions == ["from-header", "caller-session", "from-cookie"]


async def test_async_session_hooks_are_awaited_on_the_async_path(spans):
    """An async SESSION_ID callable is awaited under the async handler and run to completion
    under the sync one."""
    hooks = {"SESSION_ID": "tests.apps.django_project.routing.async_session_for"}
    with override_settings(LLMOBS=hooks):
        await AsyncClient().get("/async/items/1/", headers={"X-Session-Id": "a"})
        await _in_thread(lambda: Client().get("/items/2/", headers={"X-Session-Id": "b"}))
    assert request_span(spans, "GET /async/items/<int:pk>/")["session_id"] == "async-a"
    assert request_span(spans, "GET /items/<int:pk>/")["session_id"] == "async-b"


def test_a_failing_hook_is_logged_and_the_request_goes_on(spans, caplog):
    """A SESSION_ID callable that raises costs the span its session, not the request."""
    with override_settings(
            LLMOBS={"SESSION_ID": "tests.apps.django_project.routing.failing_session_for"}):
        response = Client().get("/items/5/")
    assert response.status_code == 200
    assert "session_id" not in request_span(spans, "GET /items/<int:pk>/")
    assert "LLMOBS['SESSION_ID'] raised RuntimeError: session store down" in caplog.text


# -- sync and async handlers ----------------------------------------------------------------------


async def test_under_the_async_handler_the_middleware_never_hops_threads(spans):
    """With an async chain the middleware is a coroutine function and runs (hooks included) on
    the event loop's thread, as does the async view."""
    from llmobs_django.middleware import LLMObsMiddleware

    async def async_view(request):
        return None

    assert iscoroutinefunction(LLMObsMiddleware(async_view))
    assert not iscoroutinefunction(LLMObsMiddleware(lambda request: None))
    with override_settings(LLMOBS={"SESSION_ID": lambda request: str(threading.get_ident())}):
        seen = (await AsyncClient().get("/async/items/3/")).json()
    assert seen["session_id"] == str(threading.get_ident()) and seen["active"] is True


async def test_sync_and_async_views_under_the_async_handler(spans):
    """Sync views (run by Django in a worker thread) and async views both see their span."""
    client = AsyncClient()
    sync_seen = (await client.get("/items/1/")).json()
    async_seen = (await client.get("/async/items/2/")).json()
    assert sync_seen["active"] and async_seen["active"]
    for name in ("GET /items/<int:pk>/", "GET /async/items/<int:pk>/"):
        event = request_span(spans, name)
        assert [e["parent_id"] for e in spans.spans if e["name"] == "load-item"].count(
            event["span_id"]) == 1


async def test_async_handler_continues_the_caller_s_trace(spans):
    """The async path reads the same headers from request.META."""
    await AsyncClient().get("/async/items/1/", headers=caller_headers())
    event = request_span(spans, "GET /async/items/<int:pk>/")
    assert (event["trace_id"], event["parent_id"]) == (f"{TRACE_ID:032x}", str(PARENT_ID))


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/errors/sync/", "/errors/async/"])
async def test_a_view_exception_marks_the_span_and_propagates_unchanged(spans, path):
    """The view's exception reaches the client (the test client re-raises it) unchanged, and
    the span records its type, message and stack."""
    with pytest.raises(ValueError, match="view failed"):
        if path.endswith("async/"):
            await AsyncClient().get(path)
        else:
            Client().get(path)
    event = request_span(spans, f"GET {path}")
    assert event["status"] == "error"
    assert event["meta"]["error"]["type"] == "builtins.ValueError"
    assert "view failed" in event["meta"]["error"]["message"]
    assert "raise ValueError" in event["meta"]["error"]["stack"]


def test_a_5xx_response_is_an_error_and_4xx_are_not(spans):
    """503 marks the span; a 404 from Http404, a 400 response and an unknown path do not."""
    client = Client()
    statuses = [client.get(path).status_code for path in (
        "/errors/unavailable/", "/errors/missing/", "/errors/bad-request/", "/nowhere/")]
    assert statuses == [503, 404, 400, 404]
    by_name = {e["name"]: e for e in spans.spans}
    assert by_name["GET /errors/unavailable/"]["meta"]["error"] == {
        "type": "HTTPError", "message": "503 Service Unavailable", "stack": ""}
    for name in ("GET /errors/missing/", "GET /errors/bad-request/", "GET /nowhere/"):
        assert by_name[name]["status"] == "ok"


# -- streaming ------------------------------------------------------------------------------------


def test_a_sync_stream_s_span_ends_when_the_response_is_closed(spans):
    """The span stays open while chunks are read (even across a pause) and ends at close; the
    body's generator runs with the request span active."""
    response = Client().get("/stream/sync/?chunks=3")
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"chunk 0\n"
    time.sleep(0.2)
    assert [e["name"] for e in spans.spans] == ["chunk"]
    assert b"".join(chunks) == b"chunk 1\nchunk 2\n"
    event = request_span(spans, "GET /stream/sync/")
    assert event["duration"] >= 200_000_000
    assert [e["parent_id"] for e in spans.spans if e["name"] == "chunk"] == [event["span_id"]] * 3


async def test_an_async_stream_s_span_ends_when_the_response_is_closed(spans):
    """Same for an async iterator under the async handler."""
    response = await AsyncClient().get("/stream/async/?chunks=3")
    chunks = response.streaming_content
    assert await chunks.__anext__() == b"chunk 0\n"
    time.sleep(0.2)
    assert not [e for e in spans.spans if e["name"].startswith("GET")]
    assert [chunk async for chunk in chunks] == [b"chunk 1\n", b"chunk 2\n"]
    event = request_span(spans, "GET /stream/async/")
    assert event["duration"] >= 200_000_000 and event["status"] == "ok"
    assert [e["parent_id"] for e in spans.spans if e["name"] == "chunk"] == [event["span_id"]] * 3


def test_a_file_response_s_span_ends_when_the_response_is_closed(spans):
    """A FileResponse's span ends when the response is closed."""
    response = Client().get("/file/?size=10000")
    assert not [e for e in spans.spans if e["name"] == "GET /file/"]
    assert len(b"".join(response.streaming_content)) == 10000
    assert request_span(spans, "GET /file/")["status"] == "ok"


def test_a_stream_closed_early_ends_the_span(spans):
    """A client that stops after one chunk (the server closes the response) ends the span."""
    response = Client().get("/stream/sync/?chunks=5")
    assert next(iter(response.streaming_content)) == b"chunk 0\n"
    response.close()
    assert request_span(spans, "GET /stream/sync/")["status"] == "ok"


async def test_an_exception_mid_stream_marks_the_span(spans):
    """A body that raises after its first chunk marks the span with that exception."""
    response = await AsyncClient().get("/stream/broken/")
    with pytest.raises(RuntimeError, match="stream broke"):
        async for _chunk in response.streaming_content:
            pass
    event = request_span(spans, "GET /stream/broken/")
    assert event["meta"]["error"]["type"] == "builtins.RuntimeError"


# -- excluded paths -------------------------------------------------------------------------------


async def test_excluded_paths_get_no_span(spans):
    """Paths under an EXCLUDE prefix are served untraced, on both handlers."""
    assert Client().get("/health/").json() == {"traced": False}
    assert (await AsyncClient().get("/health/")).json() == {"traced": False}
    Client().get("/items/1/")
    assert [e["name"] for e in spans.spans if e["name"].startswith("GET")] == [
        "GET /items/<int:pk>/"]


async def _in_thread(fn):
    from asgiref.sync import sync_to_async

    return await sync_to_async(fn, thread_sensitive=False)()
