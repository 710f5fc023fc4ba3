"""The request span's tags behind a real uvicorn server: the request's facts after the
application's tags, in a fixed order, and the application's own http.method kept; and what a
traced request leaves toward the next garbage collection while its span waits for the writer."""

from __future__ import annotations

import asyncio
import gc

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware
from tests.support.asgi_server import serve_in_thread


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def tagged(request: Request) -> PlainTextResponse:
    LLMObs.annotate(request.state.llmobs_span,
                    tags={"team": "search", "http.method": "PURGE", "http.status_code": "x"})
    return PlainTextResponse("tagged", status_code=201)


@pytest.fixture(scope="module")
def server() -> str:
    app = Starlette(routes=[Route("/items/{item_id}", plain), Route("/tagged", tagged)])
    with serve_in_thread(LLMObsMiddleware(app, ml_app="shop")) as url:
        yield url


def _request_tags(server: str, path: str) -> list[str]:
    with capture() as captured:
        assert httpx.get(f"{server}{path}").status_code in (200, 201)
        LLMObs.flush()
        (event,) = captured.spans
    tags = event["tags"]
    return tags[tags.index("error:0") + 1:]  # after the head every span of the app has


def test_an_unannotated_request_span_has_the_requests_tags_in_order(server: str) -> None:
    for _ in range(3):  # the same each time: nothing of one request's tags stays for the next
        assert _request_tags(server, "/items/7") == [
            "http.method:GET", "http.route:/items/{item_id}", "http.status_code:200"]


def test_an_annotated_request_span_keeps_the_apps_tags_and_its_http_method(server: str) -> None:
    """The application's tags come first; its http.method stays (it may name the operation
    better than the verb), while the route and status are the request's own."""
    assert _request_tags(server, "/tagged") == [
        "team:search", "http.method:PURGE", "http.status_code:201", "http.route:/tagged"]


def test_a_queued_request_span_counts_nothing_toward_the_next_collection() -> None:
    """CPython collects the youngest generation after 700 more container objects were made than
    freed. A traced request's record waits in the writer's queue, up to a batch of a thousand:
    were anything in it a fresh container (a dict of tags, a record of 20 fields or more), a busy
    server would collect every few hundred requests, which a bare one never does. Tuples come
    from free lists and count nothing. Measured with the collector off and the writer idle
    (it wakes a second after a flush, and 300 requests in process take milliseconds)."""
    app = LLMObsMiddleware(Starlette(routes=[Route("/items/{item_id}", plain)]), ml_app="shop")
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/items/7",
             "raw_path": b"/items/7", "root_path": "", "query_string": b"", "headers": [],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        return None

    async def requests(count: int) -> None:
        for _ in range(count):
            await app({**scope, "state": {}}, receive, send)

    with capture() as captured:
        asyncio.run(requests(2_000))  # their records, once freed, fill the free lists
        gc.disable()  # from here: a full collection would empty the free lists again
        loop = asyncio.new_event_loop()
        try:
            captured.clear()
            before = gc.get_count()[0]
            loop.run_until_complete(requests(300))
            added = gc.get_count()[0] - before
        finally:
            gc.enable()
            loop.close()
        assert len(captured.spans) == 300
    assert added < 30, f"{added} objects toward the next collection for 300 queued requests"
