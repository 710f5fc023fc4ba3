"""A malformed ASGI scope (no "type", not a dict, a path or method that is not a string,
headers that are not [name, value] pairs) reaches the app untraced, as it came, with the
server's own receive and send; llmobs raises nothing, logs no fault, and the next request is
traced as usual. Through real uvicorn, behind an outer layer that breaks the scope as buggy
middleware does, and by direct ASGI calls for scopes no server produces."""

from __future__ import annotations

import asyncio
import types
from collections import UserDict
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from llmobs_core import LLMObs
from llmobs_core.span import NOOP_SPAN
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware
from tests.support.asgi_server import serve_in_thread

HTTP_SCOPE = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
              "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/x",
              "raw_path": b"/x", "root_path": "", "query_string": b"", "headers": [],
              "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
TRACEPARENT = (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")


class Endpoint:
    """An ASGI app that answers 200 "ok" whatever its scope, noting what it was given and
    the span active while it ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, Any, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append((scope, receive, send, LLMObs.current_span()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _without(key: str) -> Callable[[dict], Any]:
    def change(scope: dict) -> dict:
        del scope[key]
        return scope

    return change


def _with(key: str, value: Callable[[dict], Any]) -> Callable[[dict], Any]:
    def change(scope: dict) -> dict:
        scope[key] = value(scope)
        return scope

    return change


# What buggy middleware in front of llmobs's does to a scope uvicorn made.
BREAKAGES: dict[str, Callable[[dict], Any]] = {
    "no type": _without("type"),
    "no path": _without("path"),
    "bytes path": _with("path", lambda scope: scope["raw_path"]),
    "bytes method": _with("method", lambda scope: scope["method"].encode()),
    "headers as a dict": _with("headers", lambda scope: dict(scope["headers"])),
    "headers as triples": _with("headers", lambda scope: [(*h, b"") for h in scope["headers"]]),
    "a read-only mapping": types.MappingProxyType,
    "a UserDict": UserDict,
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_through_uvicorn_a_broken_scope_is_served_untraced(breakage) -> None:
    """The app answers the request with the broken scope, untraced; a sound request on the
    same server is traced."""
    endpoint = Endpoint()
    traced = LLMObsMiddleware(endpoint, exclude=["/static/*"], response_headers=True)
    break_scope = BREAKAGES[breakage]

    async def outer(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/broken":
            scope = break_scope(dict(scope))
        await traced(scope, receive, send)

    with capture() as captured, serve_in_thread(outer) as url:
        headers = {"traceparent": TRACEPARENT[1].decode()}
        broken = httpx.get(f"{url}/broken", headers=headers, timeout=10)
        sound = httpx.get(f"{url}/sound", headers=headers, timeout=10)
        spans = captured.spans
    assert (broken.status_code, broken.text) == (sound.status_code, sound.text) == (200, "ok")
    assert "traceresponse" not in broken.headers and "traceresponse" in sound.headers
    (span,) = spans
    assert span["name"] == "GET /sound"
    (*_, untraced), (*_, current) = endpoint.calls
    assert untraced is None and str(current.span_id) == span["span_id"]


def call(app: Any, scope: Any) -> tuple[list, Any, Any]:
    """One direct ASGI call; returns what the app sent, and the receive and send it was given
    by the "server"."""
    sent: list = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, receive, send


def http(**changes: Any) -> dict:
    return {**HTTP_SCOPE, **changes}


class FailingHeaders:
    """Headers whose iteration raises midway, as a broken lazy header view might."""

    def __iter__(self):
        yield TRACEPARENT
        raise RuntimeError("header view broke")


SCOPES = {
    "None": None,
    "a list of pairs": list(HTTP_SCOPE.items()),
    "a string": "http",
    "type None": http(type=None),
    "type unhashable": http(type=["http"]),
    "type bytes": http(type=b"http"),
    "path None": http(path=None),
    "path unhashable": http(path=["/x"]),
    "path an int": http(path=7),
    "method None": http(method=None),
    "method unhashable": http(method={"GET": 1}),
    "websocket path bytes": {**HTTP_SCOPE, "type": "websocket", "path": b"/ws"},
    "headers an int": http(headers=7),
    "headers of single names": http(headers=[(b"traceparent",)]),
    "headers of bare bytes": http(headers=[b"traceparent"]),
    "headers with an unhashable name": http(headers=[([], b"x"), TRACEPARENT]),
    "headers that fail to iterate": http(headers=FailingHeaders()),
}


@pytest.mark.parametrize("name", list(SCOPES))
def test_a_malformed_scope_goes_straight_to_the_app(name) -> None:
    """Called directly with any malformed scope, the middleware hands the app the very scope,
    receive and send it was given, opens no span, and raises nothing of its own."""
    endpoint = Endpoint()
    scope = SCOPES[name]
    with capture() as captured:
        sent, receive, send = call(LLMObsMiddleware(endpoint, exclude=["/static/*"]), scope)
        assert captured.spans == []
    ((seen_scope, seen_receive, seen_send, current),) = endpoint.calls
    assert (seen_scope, seen_receive, seen_send, current) == (scope, receive, send, None)
    assert seen_scope is scope and [m["type"] for m in sent] == ["http.response.start",
                                                                "http.response.body"]
    if isinstance(scope, dict) and scope.get("type") in ("http", "websocket"):
        assert scope["state"]["llmobs_span"] is NOOP_SPAN  # endpoint code runs the same


def test_messages_that_are_not_asgi_messages_pass_through_a_traced_request() -> None:
    """On a traced request, a message without a string "type" (or not a dict) goes to the
    server as it is, and the span still ends with the real response."""
    odd = [{"status": 200}, {"type": None}, ["http.response.start"]]

    async def app(scope: dict, receive: Any, send: Any) -> None:
        for message in odd:
            await send(message)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"made"})

    with capture() as captured:
        sent, _, _ = call(LLMObsMiddleware(app), http())
        (span,) = captured.spans
    assert sent[:3] == odd and sent[3]["status"] == 201
    assert span["meta"]["span"]["kind"] == "workflow" and "http.status_code:201" in span["tags"]
