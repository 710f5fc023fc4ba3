"""LLMObsMiddleware behind a real uvicorn server, driven by an httpx client: trace continuation,
routing, streaming, disconnects, errors, background tasks, exclusions, malformed headers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from llmobs_core import LLMObs
from llmobs_core.propagation import inject_dict
from llmobs_core.testing import capture
from llmobs_starlette import LLMObsMiddleware, current_span, request_header, span_context
from tests.support.asgi_server import serve_in_thread

CHUNK_DELAY_S = 0.05
seen: dict[str, int] = {}


async def item(request: Request) -> JSONResponse:
    await asyncio.sleep(float(request.query_params.get("sleep", "0")))
    with LLMObs.task("lookup"):
        LLMObs.annotate(input_data=request.path_params["item_id"])
    span = current_span()
    return JSONResponse({"span_id": str(span.span_id) if span else None})


async def stream(request: Request) -> StreamingResponse:
    chunks = int(request.query_params.get("chunks", "5"))

    async def body():
        for index in range(chunks):
            await asyncio.sleep(CHUNK_DELAY_S)
            seen["chunks_sent"] = index + 1
            seen["last_chunk_ns"] = time.time_ns()
            yield f"data: chunk {index}\n\n"

    return StreamingResponse(body(), media_type=request.query_params.get("type", "text/plain"))


async def boom(request: Request) -> Response:
    raise RuntimeError("the endpoint failed")


async def status(request: Request) -> PlainTextResponse:
    return PlainTextResponse("status", status_code=request.path_params["code"])


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def later(request: Request) -> PlainTextResponse:
    async def work() -> None:
        await asyncio.sleep(0.2)
        with LLMObs.task("background-work"):
            pass

    return PlainTextResponse("accepted", background=BackgroundTask(work))


def tenant_ml_app(scope: dict) -> str | None:
    tenant = scope["path"].split("/")[1]
    return f"app-{tenant}" if tenant in ("a", "b", "c") else None


def build_app() -> LLMObsMiddleware:
    app = Starlette(routes=[
        Route("/items/{item_id}", item), Route("/{tenant}/items/{item_id}", item),
        Route("/stream", stream), Route("/boom", boom), Route("/status/{code:int}", status),
        Route("/later", later), Route("/health", plain), Route("/static/{name}", plain),
    ])
    return LLMObsMiddleware(app, ml_app=tenant_ml_app,
                            session_id=lambda scope: request_header(scope, "x-session-id"),
                            exclude=["/health", "/static/*"], response_headers=True)


@pytest.fixture(scope="module")
def server() -> str:
    with serve_in_thread(build_app()) as url:
        yield url


def tags_of(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


def caller_headers(span_id: int = 1234, trace_id: int = 0x6B00_0000_0000_0000_0000_0000_0000_0042,
                   ml_app: str | None = "caller-app",
                   session_id: str | None = "caller-session") -> dict[str, str]:
    return inject_dict({}, trace_id=trace_id, span_id=span_id, apm_trace_id=trace_id,
                       ml_app=ml_app, session_id=session_id)


def wait_for_spans(captured, count: int, timeout: float = 10.0) -> list[dict]:
    """The server ends a span just after sending the last chunk, so the client may read the
    response first: wait for the spans to arrive."""
    deadline = time.monotonic() + timeout
    while len(spans := captured.spans) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return spans


def wait_for_span(captured, name: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        matches = [span for span in captured.spans if span["name"] == name]
        if len(matches) == 1:
            return matches[0]
        assert len(matches) < 2, f"more than one span named {name!r}"
        time.sleep(0.01)
    raise AssertionError(f"no span named {name!r} within {timeout} s")


FORMATS = {
    "datadog": lambda h: {k: v for k, v in h.items() if k.startswith("x-datadog-")},
    "w3c": lambda h: {k: h[k] for k in ("traceparent", "tracestate")},
    "w3c with baggage": lambda h: {k: h[k] for k in ("traceparent", "tracestate", "baggage")},
    "all": lambda h: h,
}


@pytest.mark.parametrize("header_format", FORMATS)
def test_the_request_span_continues_the_callers_trace(server: str, header_format: str) -> None:
    """With Datadog, W3C or all headers, the request span is the caller span's child, in its
    trace, under its session; a propagated ml_app beats the receiver's configured one."""
    headers = FORMATS[header_format](caller_headers())
    with capture(ml_app="receiver-app") as captured:
        response = httpx.get(f"{server}/items/42", headers=headers)
        assert response.status_code == 200
        event = wait_for_span(captured, "GET /items/{item_id}")
    assert event["trace_id"] == f"{0x6B00_0000_0000_0000_0000_0000_0000_0042:032x}"
    assert event["parent_id"] == "1234"
    assert event["session_id"] == "caller-session"
    assert tags_of(event)["ml_app"] == "caller-app"
    assert wait_for_span(captured, "lookup")["parent_id"] == event["span_id"]


def test_traceparent_and_baggage_alone_continue_the_trace_from_an_opentelemetry_peer(
        server: str) -> None:
    """An OpenTelemetry peer sends no llmobs parent: the span keeps the trace id, is an llmobs
    root, and takes ml_app and session from baggage."""
    headers = {"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01",
               "baggage": "session.id=otel-session,ml_app=otel-app"}
    with capture(ml_app="receiver-app") as captured:
        httpx.get(f"{server}/items/1", headers=headers)
        event = wait_for_span(captured, "GET /items/{item_id}")
    assert event["trace_id"] == "ab" * 16 and event["parent_id"] == "undefined"
    assert event["session_id"] == "otel-session" and tags_of(event)["ml_app"] == "otel-app"


def test_a_routed_ml_app_beats_the_propagated_one_and_none_lets_it_through(server: str) -> None:
    """The ml_app callable's answer is explicit and wins; when it gives None the caller's
    propagated ml_app applies, and with neither the configured one does."""
    with capture(ml_app="receiver-app") as captured:
        httpx.get(f"{server}/a/items/1", headers=caller_headers())
        httpx.get(f"{server}/items/2", headers=caller_headers())
        httpx.get(f"{server}/items/3")
        wait_for_spans(captured, 6)
    apps = {span["meta"].get("input", {}).get("value"): tags_of(span)["ml_app"]
            for span in captured.spans if span["name"] == "lookup"}
    assert apps == {"1": "app-a", "2": "caller-app", "3": "receiver-app"}


def test_200_concurrent_requests_keep_their_own_ml_app_session_and_parent(server: str) -> None:
    """200 interleaved requests routed to three ml_apps, each with its own caller and session,
    give 200 request spans and 200 children with nothing crossed."""
    tenants = "abc"

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(
                client.get(f"/{tenants[i % 3]}/items/{i}", params={"sleep": (i % 7) / 200},
                           headers={**caller_headers(span_id=10_000 + i, trace_id=(7 << 96) + i),
                                    "x-session-id": f"session-{i}"})
                for i in range(200)))

    with capture() as captured:
        responses = asyncio.run(send_all())
        spans = wait_for_spans(captured, 400)
    assert all(r.status_code == 200 for r in responses)
    by_id = {span["span_id"]: span for span in spans}
    children = {span["meta"]["input"]["value"]: span for span in spans if span["name"] == "lookup"}
    assert len(spans) == 400
    for i, response in enumerate(responses):
        request_span = by_id[span_context(response.headers["traceresponse"])["span_id"]]
        assert response.json()["span_id"] == request_span["span_id"]
        assert request_span["parent_id"] == str(10_000 + i)
        assert request_span["trace_id"] == f"{(7 << 96) + i:032x}"
        child = children[str(i)]
        assert child["parent_id"] == request_span["span_id"]
        for span in (request_span, child):
            assert tags_of(span)["ml_app"] == f"app-{tenants[i % 3]}"
            assert span["session_id"] == f"session-{i}"
            assert span["trace_id"] == request_span["trace_id"]


@pytest.mark.parametrize("media_type", ["text/plain", "text/event-stream"])
def test_a_streaming_response_span_ends_after_its_last_chunk(server: str, media_type: str) -> None:
    """A streamed (or server-sent events) response's span lasts at least as long as the stream
    and ends after the last chunk was sent."""
    with capture() as captured:
        with httpx.stream("GET", f"{server}/stream", params={"type": media_type}) as response:
            events = [line for line in response.iter_lines() if line.startswith("data:")]
        event = wait_for_span(captured, "GET /stream")
    assert len(events) == 5 and seen["chunks_sent"] == 5
    assert event["duration"] >= 5 * CHUNK_DELAY_S * 1e9
    assert event["start_ns"] + event["duration"] >= seen["last_chunk_ns"] - 1_000_000
    assert tags_of(event)["http.status_code"] == "200" and event["status"] == "ok"


def test_a_client_that_disconnects_mid_stream_ends_the_span_marked(server: str) -> None:
    """When the client goes away mid-stream the span ends then, tagged
    http.client_disconnected, not an error, long before the stream would have ended."""
    with capture() as captured:
        with httpx.Client(timeout=10) as client:
            with client.stream("GET", f"{server}/stream", params={"chunks": 200}) as response:
                next(response.iter_raw())
        event = wait_for_span(captured, "GET /stream")
    tags = tags_of(event)
    assert tags["http.client_disconnected"] == "true" and event["status"] == "ok"
    assert event["duration"] < 200 * CHUNK_DELAY_S * 1e9 / 2
    assert seen["chunks_sent"] < 200


def test_an_app_exception_marks_the_span_and_the_client_gets_a_500(server: str) -> None:
    """An exception in the endpoint gives the client a 500 and an error span naming it; the
    middleware wraps the app from outside, so Starlette's 500 carries the traceresponse too."""
    with capture() as captured:
        response = httpx.get(f"{server}/boom")
        assert response.status_code == 500
        event = wait_for_span(captured, "GET /boom")
    assert span_context(response.headers["traceresponse"]) == {
        "trace_id": event["trace_id"], "span_id": event["span_id"]}
    assert event["status"] == "error"
    assert event["meta"]["error"]["type"] == "builtins.RuntimeError"
    assert event["meta"]["error"]["message"] == "the endpoint failed"
    assert tags_of(event)["http.status_code"] == "500"


@pytest.mark.parametrize(("code", "status"), [(404, "ok"), (422, "ok"), (503, "error")])
def test_server_errors_mark_the_span_and_client_errors_do_not(
        server: str, code: int, status: str) -> None:
    """A status of 500 or more marks the span as an error; a 4xx does not."""
    with capture() as captured:
        httpx.get(f"{server}/status/{code}")
        event = wait_for_span(captured, "GET /status/{code}")
    assert event["status"] == status and tags_of(event)["http.status_code"] == str(code)


def test_a_background_task_runs_in_the_request_trace_after_the_span_ended(server: str) -> None:
    """A background task's span is a child of the request span, with its session and ml_app;
    the request span ended with the response, before the task ran."""
    with capture(ml_app="receiver-app") as captured:
        httpx.get(f"{server}/later", headers={"x-session-id": "s-bg"})
        background = wait_for_span(captured, "background-work")
        request = wait_for_span(captured, "GET /later")
    assert background["parent_id"] == request["span_id"]
    assert background["trace_id"] == request["trace_id"]
    assert background["session_id"] == "s-bg" and tags_of(background)["ml_app"] == "receiver-app"
    assert request["start_ns"] + request["duration"] <= background["start_ns"]


def test_excluded_paths_get_no_span_and_no_trace_headers(server: str) -> None:
    """An exact excluded path and a path under an excluded prefix are served untraced."""
    with capture() as captured:
        health = httpx.get(f"{server}/health")
        static = httpx.get(f"{server}/static/logo.png")
        traced = httpx.get(f"{server}/items/1")
        names = [span["name"] for span in wait_for_spans(captured, 2)]
    assert health.status_code == static.status_code == 200
    assert "traceresponse" not in health.headers and "traceresponse" not in static.headers
    assert names == ["lookup", "GET /items/{item_id}"] and "traceresponse" in traced.headers


def test_the_response_carries_the_trace_and_span_ids(server: str) -> None:
    """The traceresponse header (W3C Trace Context) names the request span in hex, and
    span_context() reads it back as export_span() gives it, ready for submit_evaluation()."""
    with capture() as captured:
        response = httpx.get(f"{server}/items/1")
        event = wait_for_span(captured, "GET /items/{item_id}")
    assert response.headers["traceresponse"] == \
        f"00-{event['trace_id']}-{int(event['span_id']):016x}-01"
    assert span_context(response.headers["traceresponse"]) == {
        "trace_id": event["trace_id"], "span_id": event["span_id"]}


@pytest.mark.parametrize("value", [
    None, "", "00-abc", f"00-{'0' * 32}-{'1' * 16}-01", f"00-{'1' * 32}-{'0' * 16}-01",
    f"ff-{'1' * 32}-{'1' * 16}-01", f"00-{'g' * 32}-{'1' * 16}-01", f"00-{'1' * 31}-{'1' * 17}-01"])
def test_span_context_refuses_a_malformed_traceresponse(value: str | None) -> None:
    assert span_context(value) is None


def test_span_context_takes_bytes_any_case_and_a_later_version() -> None:
    expected = {"trace_id": "ab" * 16, "span_id": str(0xCD * 0x0101010101010101)}
    assert span_context(f"00-{'AB' * 16}-{'CD' * 8}-01".encode()) == expected
    assert span_context(f"01-{'ab' * 16}-{'cd' * 8}-00-future") == expected


MALFORMED = [
    [("x-datadog-trace-id", "-5"), ("x-datadog-parent-id", "abc")],
    [("traceparent", "zz"), ("tracestate", "dd=;;;;"), ("baggage", "%%%,=,")],
    [("traceparent", f"00-{'0' * 32}-{'0' * 16}-01")],
    [("x-datadog-tags", "_dd.p.llmobs_parent_id=" + "9" * 600), ("x-datadog-trace-id", "1")],
    [("traceparent", f"00-{'ab' * 16}-{'cd' * 8}-01\u00e9".encode("latin-1"))],
    [("x-datadog-trace-id", b"\xff\xfe"), ("baggage", b"session.id=\xe9\xff")],
]


@pytest.mark.parametrize("headers", MALFORMED)
def test_malformed_trace_headers_give_a_root_span_and_a_normal_response(
        server: str, headers: list) -> None:
    """Garbage in the trace headers is ignored: the request is served and its span is a
    valid root (or continues only what is valid), with no library fault logged."""
    with capture() as captured:
        response = httpx.get(f"{server}/items/1", headers=headers)
        event = wait_for_span(captured, "GET /items/{item_id}")
    assert response.status_code == 200
    assert event["parent_id"] in ("undefined", "1") and int(event["trace_id"], 16) > 0


def test_duplicate_trace_headers_use_the_first(server: str) -> None:
    """When a header comes twice, the first occurrence is the one continued."""
    first, second = caller_headers(span_id=111), caller_headers(span_id=222)
    headers = [(name, first[name]) for name in first] + [(name, second[name]) for name in second]
    with capture() as captured:
        httpx.get(f"{server}/items/1", headers=headers)
        event = wait_for_span(captured, "GET /items/{item_id}")
    assert event["parent_id"] == "111"
