"""The ASGI example apps, in process, do what their docstrings say."""

from __future__ import annotations

import asyncio
import importlib.util

import httpx

from llmobs_core.testing import capture
from llmobs_starlette import span_context
from tests.support.asgi_server import REPO, talk_to_websocket

EXAMPLES = REPO / "examples" / "asgi"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"asgi_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def requests(app, *calls: tuple) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://example") as client:
        return [await client.request(method, path, **options)
                for method, path, options in calls]


def tags_of(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


def test_the_starlette_example_routes_annotates_streams_and_excludes() -> None:
    """The Starlette example routes ml_app by path, reads the session header, annotates the
    span from request.state and current_span(), streams SSE, echoes on a websocket and leaves
    /health untraced."""
    example = load("starlette_app")
    with capture(ml_app="example-default") as captured:
        ask, stream, health = asyncio.run(requests(
            example.app, ("GET", "/support/ask", {"params": {"q": "refunds"},
                                                  "headers": {"x-session-id": "s-1"}}),
            ("GET", "/sales/stream", {"params": {"q": "pricing"}}), ("GET", "/health", {})))
        asyncio.run(talk_to_websocket(example.app, "/ws", ["hi"], 1000))
        request = captured.by_name("GET /support/ask")
        streamed = captured.by_name("GET /sales/stream")
        names = sorted(span["name"] for span in captured.spans)
    assert ask.json()["answer"].startswith("About refunds")
    assert tags_of(request)["ml_app"] == "support-assistant" and request["session_id"] == "s-1"
    assert request["meta"]["input"] == {"value": "refunds"}
    assert request["meta"]["metadata"] == {"model_calls": 1}
    assert stream.text.count("data: ") == 7 and streamed["meta"]["output"]["value"]
    assert tags_of(streamed)["ml_app"] == "sales-assistant" and health.text == "ok"
    assert names == ["GET /sales/stream", "GET /support/ask", "WEBSOCKET /ws", "complete",
                     "complete"]


def test_the_fastapi_example_serves_chat_feedback_and_a_background_task() -> None:
    """The FastAPI example annotates through the RequestSpan dependency, runs its background
    task as a child of the request span, and joins /feedback's evaluation to the span named by
    the response headers."""
    example = load("fastapi_app")
    with capture() as captured:
        (chat,) = asyncio.run(requests(example.app, ("POST", "/chat", {
            "json": {"question": "refunds?"}, "headers": {"x-session-id": "s-9"}})))
        ids = span_context(chat.headers["traceresponse"])
        asyncio.run(requests(example.app, ("POST", "/feedback", {
            "json": {"traceresponse": chat.headers["traceresponse"], "helpful": True}})))
        request = captured.by_name("POST /chat")
        background = captured.by_name("remember-question")
        (evaluation,) = captured.evaluations
    assert chat.json() == {"answer": "You asked: refunds?"}
    assert request["span_id"] == ids["span_id"] and request["session_id"] == "s-9"
    assert tags_of(request)["endpoint"] == "chat"
    assert background["parent_id"] == request["span_id"]
    assert evaluation["join_on"]["span"] == ids and evaluation["boolean_value"] is True
