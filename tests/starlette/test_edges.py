"""LLMObsMiddleware at the ASGI level: what it passes through untouched, what it does when the
app or the server misbehaves, its own faults never reaching the app, and its configuration."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route

import llmobs_starlette
from llmobs_core.span import NOOP_SPAN
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware, span_context

HTTP_SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
              "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/x",
              "raw_path": b"/x", "root_path": "", "query_string": b"", "headers": [],
              "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}


async def call(app, scope: dict | None = None, incoming: list | None = None) -> list[dict]:
    """Call an ASGI app once; returns the messages it sent."""
    messages = list([{"type": "http.request", "body": b""}] if incoming is None else incoming)
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({**HTTP_SCOPE, **(scope or {})}, receive, send)
    return sent


async def hello(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]})
    await send({"type": "http.response.body", "body": b"hello"})


def test_lifespan_and_unknown_scopes_pass_straight_through() -> None:
    """Scopes other than http and websocket reach the app with the server's own receive and
    send, and no span is opened."""
    got = []

    async def app(scope, receive, send) -> None:
        got.append((scope["type"], receive, send))

    async def receive() -> dict:
        return {}

    async def send(message: dict) -> None:
        return None

    with capture() as captured:
        for scope_type in ("lifespan", "mystery"):
            asyncio.run(LLMObsMiddleware(app)({"type": scope_type}, receive, send))
        assert captured.spans == []
    assert got == [("lifespan", receive, send), ("mystery", receive, send)]


class Boom(Exception):
    pass


@pytest.mark.parametrize("placement", ["around starlette", "added to starlette"])
def test_the_apps_exception_propagates_unchanged(placement: str) -> None:
    """The exception the endpoint raised reaches the server as the same object, and the span
    records it, whether the middleware wraps Starlette or is added to it."""
    raised = Boom("from the endpoint")

    async def endpoint(request):
        raise raised

    app = Starlette(routes=[Route("/fail", endpoint)])
    if placement == "around starlette":
        app = LLMObsMiddleware(app)
    else:
        app.add_middleware(LLMObsMiddleware)
    with capture() as captured:
        with pytest.raises(Boom) as caught:
            asyncio.run(call(app, {"path": "/fail", "raw_path": b"/fail"}))
        event = captured.by_name("GET /fail")
    assert caught.value is raised
    assert event["status"] == "error" and event["meta"]["error"]["message"] == "from the endpoint"
    assert event["meta"]["error"]["type"].endswith("Boom")
    assert "http.status_code:500" in event["tags"]


def test_an_asgi_2_4_server_reporting_a_gone_client_ends_the_span_marked() -> None:
    """When send raises OSError (ASGI 2.4: the client went away), the span ends tagged
    http.client_disconnected, and Starlette's ClientDisconnect still reaches the server."""
    async def chunks():
        for index in range(100):
            yield b"chunk %d" % index

    app = Starlette(routes=[Route("/s", lambda request: StreamingResponse(chunks()))])
    sends = []

    async def send(message: dict) -> None:
        sends.append(message)
        if len(sends) == 3:
            raise OSError("connection reset")

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    scope = {**HTTP_SCOPE, "path": "/s", "asgi": {"version": "3.0", "spec_version": "2.4"}}
    with capture() as captured:
        with pytest.raises(ClientDisconnect):
            asyncio.run(LLMObsMiddleware(app)(scope, receive, send))
        (event,) = captured.spans
    assert "http.client_disconnected:true" in event["tags"] and event["status"] == "ok"


def test_before_asgi_2_4_the_servers_send_is_handed_to_the_app_as_it_is() -> None:
    """Under a 2.3 server the middleware returns the server's own send awaitable: the span has
    ended when the last body is handed over, and an error the server's send raises for an
    earlier message reaches the app and the span as it is."""
    ended_before_last_body = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            ended_before_last_body.append(len(captured.spans) == 1)

    async def refused(message: dict) -> None:
        raise RuntimeError("the server refuses this message")

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    with capture() as captured:
        asyncio.run(LLMObsMiddleware(hello)(dict(HTTP_SCOPE), receive, send))
        with pytest.raises(RuntimeError, match="refuses"):
            asyncio.run(LLMObsMiddleware(hello)(dict(HTTP_SCOPE), receive, refused))
        served, failed = captured.spans
    assert ended_before_last_body == [True]
    assert served["status"] == "ok" and "http.status_code:200" in served["tags"]
    assert failed["status"] == "error"
    assert failed["meta"]["error"]["type"] == "builtins.RuntimeError"


@pytest.mark.parametrize("asgi", [{"spec_version": ["2.3"]}, {"spec_version": 2.4}, "3.0", None])
def test_an_odd_asgi_version_is_served_traced(asgi) -> None:
    """A server's asgi entry that is not a dict of text (an unhashable or numeric version, or
    no dict at all) neither breaks the request nor leaves it untraced."""
    with capture() as captured:
        sent = asyncio.run(call(LLMObsMiddleware(hello), {"asgi": asgi}))
        (event,) = captured.spans
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    assert event["status"] == "ok" and "http.status_code:200" in event["tags"]


def test_a_span_is_never_left_open_when_the_app_does_not_finish_its_response() -> None:
    """An app that returns without any response, or after the start without the last body
    chunk, still gets its span ended; the first is an error."""
    async def silent(scope, receive, send) -> None:
        return None

    async def half(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})

    with capture() as captured:
        asyncio.run(call(LLMObsMiddleware(silent), {"path": "/silent"}))
        asyncio.run(call(LLMObsMiddleware(half), {"path": "/half"}))
        silent_event, half_event = captured.by_name("GET /silent"), captured.by_name("GET /half")
    assert silent_event["meta"]["error"]["type"] == "IncompleteResponse"
    assert half_event["status"] == "ok" and "http.status_code:200" in half_event["tags"]


def test_a_disconnect_read_after_the_response_ends_nothing_twice() -> None:
    """Reading http.disconnect after the response was complete neither ends the span again
    nor tags it."""
    async def app(scope, receive, send) -> None:
        await hello(scope, receive, send)
        assert (await receive())["type"] == "http.disconnect"

    with capture() as captured:
        asyncio.run(call(LLMObsMiddleware(app), incoming=[]))
        (event,) = captured.spans
    assert not any(tag.startswith("http.client_disconnected") for tag in event["tags"])


@pytest.mark.parametrize(("choose", "session"), [
    (lambda scope: 1 / 0, None), (lambda scope: 42, None), (lambda scope: "", None),
    (lambda scope: "Not A Valid ml_app!", "Not A Valid ml_app!")])
def test_a_routing_callable_that_fails_falls_back_and_the_request_is_served(
        choose, session) -> None:
    """An ml_app or session callable that raises or returns junk is ignored (with a warning):
    the request is served and traced under the fallback ml_app (a session id is free text)."""
    app = LLMObsMiddleware(hello, ml_app=choose, session_id=choose)
    with capture(ml_app="fallback-app") as captured:
        sent = asyncio.run(call(app))
        (event,) = captured.spans
    assert sent[-1]["body"] == b"hello"
    assert "ml_app:fallback-app" in event["tags"] and event.get("session_id") == session


@pytest.mark.parametrize("headers", [None, [("traceparent", 1)], [(b"traceparent", None)]])
def test_headers_llmobs_cannot_read_give_a_root_span(headers) -> None:
    """No headers, or pairs that are not bytes, carry no trace context: the request is served
    as a new root. (Headers that are not pairs at all: test_malformed_scope.py.)"""
    with capture() as captured:
        sent = asyncio.run(call(LLMObsMiddleware(hello), {"headers": headers}))
        (event,) = captured.spans
    assert sent[-1]["body"] == b"hello" and event["parent_id"] == "undefined"


def test_with_llmobs_disabled_the_app_runs_untouched_with_a_no_op_span_in_state() -> None:
    """Disabled, the middleware adds no header, opens no span, and request.state.llmobs_span is
    a no-op span so endpoint code runs the same."""
    scope = {**HTTP_SCOPE}
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["state"]["llmobs_span"])
        await hello(scope, receive, send)

    async def run() -> list:
        sent = []

        async def receive():
            return {"type": "http.request"}

        async def send(message):
            sent.append(message)

        await LLMObsMiddleware(app)(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    assert seen == [NOOP_SPAN] and sent[0]["headers"] == [(b"a", b"b")]


def test_an_excluded_path_runs_untraced_with_a_no_op_span_in_state() -> None:
    """On an excluded path no span is opened and request.state.llmobs_span is a no-op span."""
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["state"]["llmobs_span"])
        await hello(scope, receive, send)

    with capture() as captured:
        sent = asyncio.run(call(LLMObsMiddleware(app, exclude=["/x"])))
        assert captured.spans == []
    assert seen == [NOOP_SPAN] and sent[0]["headers"] == [(b"a", b"b")]


def test_the_traceresponse_header_is_added_only_when_asked_for() -> None:
    """By default the response headers are left as the app sent them; response_headers=True
    adds a traceresponse header naming the request span to a copy of the app's message."""
    start = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}

    async def app(scope, receive, send) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": b"hello"})

    with capture() as captured:
        plain = asyncio.run(call(LLMObsMiddleware(app)))
        named = asyncio.run(call(LLMObsMiddleware(app, response_headers=True)))
        _, event = captured.spans
    assert plain[0]["headers"] == [(b"a", b"b")]
    (name, value) = named[0]["headers"][1]
    assert named[0]["headers"][0] == (b"a", b"b") and name == b"traceresponse"
    assert span_context(value) == {"trace_id": event["trace_id"], "span_id": event["span_id"]}
    assert start["headers"] == [(b"a", b"b")]


def test_route_templates_include_mounts_and_router_prefixes() -> None:
    """Span names use the template of the matched route, through Starlette mounts and FastAPI
    router prefixes; a mounted app with no routes of its own is named by its mount."""
    api = FastAPI()
    router = APIRouter(prefix="/v1")
    router.add_api_route("/users/{user_id}/items/{item_id}", lambda user_id, item_id: {})
    api.include_router(router)

    async def static(scope, receive, send) -> None:
        await hello(scope, receive, send)

    app = Starlette(routes=[
        Mount("/api", app=api), Mount("/static", app=static),
        Route("/", lambda request: PlainTextResponse("home")),
    ])
    paths = ["/api/v1/users/7/items/9", "/static/css/site.css", "/", "/missing"]

    async def requests() -> None:
        transport = httpx.ASGITransport(app=LLMObsMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in paths:
                await client.get(path)

    with capture() as captured:
        asyncio.run(requests())
        names = [span["name"] for span in captured.spans]
    assert names == ["GET /api/v1/users/{user_id}/items/{item_id}", "GET /static/{path}",
                     "GET /", "GET /missing"]


@pytest.mark.parametrize(("options", "error"), [
    ({"kind": "span"}, ValueError), ({"ml_app": "Bad App"}, ValueError),
    ({"ml_app": 3}, TypeError), ({"session_id": "s-1"}, TypeError),
    ({"exclude": "/health"}, TypeError),
])
def test_wrong_configuration_raises_when_the_app_is_built(options: dict, error) -> None:
    """Mistakes in the middleware's own options fail at start-up, saying what to fix."""
    with pytest.raises(error):
        LLMObsMiddleware(hello, **options)


def test_all_lists_exactly_the_public_names_sorted() -> None:
    """llmobs_starlette's __all__ is sorted and names what it exports."""
    public = {name for name in vars(llmobs_starlette)
              if name.isidentifier() and not name.startswith("_")}
    assert llmobs_starlette.__all__ == sorted(llmobs_starlette.__all__)
    assert set(llmobs_starlette.__all__) == public - {"middleware", "fastapi"}


def test_llmobs_starlette_needs_neither_starlette_nor_fastapi() -> None:
    """The middleware and current_span() import and trace a bare ASGI app with Starlette and
    FastAPI impossible to import; only llmobs_starlette.fastapi needs FastAPI."""
    code = textwrap.dedent("""
        import asyncio, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"starlette", "fastapi"}:
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        from llmobs_core.testing import capture
        from llmobs_starlette import LLMObsMiddleware, current_span
        async def app(scope, receive, send):
            assert current_span() is not None
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        async def noop(message=None):
            return {"type": "http.request"}
        with capture() as captured:
            asyncio.run(LLMObsMiddleware(app)(
                {"type": "http", "method": "GET", "path": "/p", "headers": []}, noop, noop))
            print(captured.spans[0]["name"])
        try:
            import llmobs_starlette.fastapi
        except ImportError as exc:
            print("fastapi:", exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["GET /p", "fastapi: blocked fastapi"]
