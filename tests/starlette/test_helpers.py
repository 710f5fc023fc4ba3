"""Reaching the request span from endpoint code: current_span() in any ASGI app,
request.state.llmobs_span in Starlette, the RequestSpan dependency in FastAPI; and the context
the middleware sets, visible in the endpoint and in what it spawns."""

from __future__ import annotations

import asyncio

import anyio
import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware, current_span, span_context
from llmobs_starlette.fastapi import RequestSpan
from tests.support.asgi_server import talk_to_websocket


def get(app, path: str, **options) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **options)

    return asyncio.run(call())


def test_current_span_works_in_a_bare_asgi_app_even_under_a_child_span() -> None:
    """In a framework-less ASGI app current_span() is the request span, also while a child
    span is the active one (when LLMObs.current_span() is the child)."""
    seen = {}

    async def app(scope, receive, send) -> None:
        seen["outer"] = current_span()
        with LLMObs.tool("child") as child:
            seen["inner"], seen["child"] = current_span(), child
            seen["active"] = LLMObs.current_span()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with capture() as captured:
        get(LLMObsMiddleware(app), "/raw")
        event = captured.by_name("GET /raw")
    assert seen["outer"] is seen["inner"] and str(seen["outer"].span_id) == event["span_id"]
    assert seen["active"] is seen["child"]
    assert current_span() is None


def test_starlette_endpoints_find_the_span_on_request_state() -> None:
    """request.state.llmobs_span is the request span; annotating it lands on the exported
    request span."""
    async def endpoint(request: Request) -> JSONResponse:
        span = request.state.llmobs_span
        LLMObs.annotate(span, input_data="question", output_data="answer")
        return JSONResponse({"same": span is current_span()})

    app = Starlette(routes=[Route("/ask", endpoint)])
    app.add_middleware(LLMObsMiddleware)
    with capture() as captured:
        assert get(app, "/ask").json() == {"same": True}
        event = captured.by_name("GET /ask")
    assert event["meta"]["input"] == {"value": "question"}
    assert event["meta"]["output"] == {"value": "answer"}


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, span: RequestSpan) -> dict:
        LLMObs.annotate(span, metadata={"item_id": item_id})
        with LLMObs.retrieval("lookup"):
            pass
        return {"span_id": str(getattr(span, "span_id", None))}

    @app.get("/sync")
    def sync_endpoint(span: RequestSpan) -> dict:
        with LLMObs.task("in-threadpool"):
            pass
        return {"same": span is current_span()}

    app.add_middleware(LLMObsMiddleware, exclude=["/items/0"])
    return app


def test_fastapi_endpoints_get_the_span_as_a_dependency() -> None:
    """`span: RequestSpan` hands async and sync (threadpool) endpoints the request span; their
    child spans are its children."""
    app = fastapi_app()
    with capture() as captured:
        response = get(app, "/items/7")
        assert get(app, "/sync").json() == {"same": True}
        request = captured.by_name("GET /items/{item_id}")
        sync_request = captured.by_name("GET /sync")
    assert response.json() == {"span_id": request["span_id"]}
    assert request["meta"]["metadata"] == {"item_id": 7}
    assert captured.by_name("lookup")["parent_id"] == request["span_id"]
    assert captured.by_name("in-threadpool")["parent_id"] == sync_request["span_id"]


def test_the_fastapi_dependency_is_a_no_op_span_when_the_request_is_not_traced() -> None:
    """With llmobs disabled, or on an excluded path, the dependency gives a no-op span that
    annotate() ignores, and the endpoint works the same."""
    app = fastapi_app()
    assert get(app, "/items/3").json() == {"span_id": "None"}
    with capture() as captured:
        assert get(app, "/items/0").json() == {"span_id": "None"}
        assert [span["name"] for span in captured.spans] == ["lookup"]


def test_context_set_by_the_middleware_is_visible_in_the_endpoint_and_what_it_spawns() -> None:
    """Spans opened in the endpoint, in an asyncio task, in an anyio task group and in a worker
    thread are all children of the request span (what BaseHTTPMiddleware would break)."""
    async def open_span(name: str) -> None:
        with LLMObs.task(name):
            await asyncio.sleep(0)

    def in_thread() -> None:
        with LLMObs.task("thread"):
            pass

    async def endpoint(request: Request) -> JSONResponse:
        await open_span("endpoint")
        await asyncio.create_task(open_span("asyncio-task"))
        async with anyio.create_task_group() as group:
            group.start_soon(open_span, "anyio-task")
        await run_in_threadpool(in_thread)
        return JSONResponse({})

    app = Starlette(routes=[Route("/spawn", endpoint)])
    app.add_middleware(LLMObsMiddleware)
    with capture(ml_app="spawner") as captured:
        get(app, "/spawn", headers={"baggage": "session.id=ignored-without-parent"})
        request = captured.by_name("GET /spawn")
        children = {name: captured.by_name(name)
                    for name in ("endpoint", "asyncio-task", "anyio-task", "thread")}
    for child in children.values():
        assert child["parent_id"] == request["span_id"]
        assert child["trace_id"] == request["trace_id"]


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        LLMObs.annotate(websocket.state.llmobs_span, input_data=text)
        with LLMObs.llm(model_name="echo", name="reply"):
            await websocket.send_text(f"echo {text} {current_span() is not None}")
        if text == "bye":
            await websocket.close(code=1000)
            return


def websocket_app() -> Starlette:
    app = Starlette(routes=[WebSocketRoute("/ws/{room}", chat)])
    app.add_middleware(LLMObsMiddleware, session_id=lambda scope: "ws-session",
                       response_headers=True)
    return app


def test_a_websocket_span_ends_when_the_app_closes_the_socket() -> None:
    """A websocket gets a span named after its route template, reachable through
    websocket.state and current_span(), carrying the trace ids in the accept headers, ended
    with the app's close code."""
    with capture() as captured:
        sent = asyncio.run(talk_to_websocket(websocket_app(), "/ws/lobby", ["bye"], None))
        event = captured.by_name("WEBSOCKET /ws/{room}")
    accept = dict(sent[0]["headers"])
    assert span_context(accept[b"traceresponse"])["span_id"] == event["span_id"]
    assert sent[1]["text"] == "echo bye True" and sent[2]["type"] == "websocket.close"
    assert event["meta"]["input"] == {"value": "bye"} and event["session_id"] == "ws-session"
    assert "websocket.close_code:1000" in event["tags"] and event["status"] == "ok"
    assert captured.by_name("reply")["parent_id"] == event["span_id"]


def test_a_websocket_span_ends_when_the_client_goes_away() -> None:
    """When the client disconnects, the span ends then with the client's close code."""
    with capture() as captured:
        asyncio.run(talk_to_websocket(websocket_app(), "/ws/x", ["a", "b"], 1001))
        event = captured.by_name("WEBSOCKET /ws/{room}")
    assert "websocket.close_code:1001" in event["tags"] and event["status"] == "ok"
    assert len([span for span in captured.spans if span["name"] == "reply"]) == 2
