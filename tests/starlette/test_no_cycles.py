"""A traced request leaves nothing for the garbage collector: every object the middleware and its
span make is freed by reference counting as the request ends. A cycle would let the collector's
young generation fill with spans, and under load it would run several times as often (a span
that referred to itself once cost each request about half a microsecond)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware, current_span

SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
         "scheme": "http", "method": "GET", "root_path": "", "path": "/items/7",
         "raw_path": b"/items/7", "query_string": b"", "server": ("127.0.0.1", 8000),
         "client": ("127.0.0.1", 50000), "headers": [(b"host", b"test")]}


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector stopped, so that what it would free stays for gc.collect() to report."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.collect()  # what a failing test left, so the next starts clean
        gc.enable()


def ours(garbage: list) -> list[str]:
    return sorted({type(o).__qualname__ for o in garbage
                   if type(o).__module__.startswith(("llmobs_core", "llmobs_starlette"))})


async def item(request):
    with LLMObs.task(name="lookup"):
        assert current_span() is request.state.llmobs_span
        return PlainTextResponse("ok")


async def serve(app, requests: int, spec_version: str) -> list[int]:
    statuses = []
    scope = {**SCOPE, "asgi": {"version": "3.0", "spec_version": spec_version}}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(requests):
        await app({**scope, "state": {}}, receive, send)
    return statuses


@pytest.mark.parametrize("spec_version", ["2.3", "2.4"])
@pytest.mark.parametrize("response_headers", [False, True])
def test_a_traced_request_leaves_no_cycle(collector_off, spec_version, response_headers) -> None:
    app = LLMObsMiddleware(Starlette(routes=[Route("/items/{item_id}", item)]),
                           response_headers=response_headers)
    with capture() as captured:
        statuses = asyncio.run(serve(app, 20, spec_version))
        spans = captured.spans
    assert statuses == [200] * 20 and len(spans) == 40
    gc.collect()
    assert ours(gc.garbage) == []


def test_spans_opened_by_the_api_leave_no_cycle(collector_off) -> None:
    with capture() as captured:
        for _ in range(20):
            with LLMObs.workflow(name="answer") as workflow:
                with LLMObs.agent(name="plan"):
                    with LLMObs.llm(model_name="m", name="chat") as llm:
                        LLMObs.annotate(llm, input_data="q", output_data="a")
                    with LLMObs.tool(name="search"):
                        pass
                LLMObs.annotate(workflow, tags={"k": "v"})
        spans = captured.spans
    assert len(spans) == 80
    gc.collect()
    assert ours(gc.garbage) == []
