"""The httpx integration against a real local HTTP server that echoes the headers it receives."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from llmobs_core import LLMObs
from llmobs_core.context import current_parent
from llmobs_core.integrations import httpx as llmobs_httpx
from llmobs_core.propagation import HEADERS, extract_dict
from llmobs_core.testing import capture

ORIGINAL_INITS = (httpx.Client.__init__, httpx.AsyncClient.__init__)


class EchoHandler(BaseHTTPRequestHandler):
    """Any path answers with the request's header pairs; /redirect?to=URL answers 302."""

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = parse_qs(urlsplit(self.path).query).get("to")
        if urlsplit(self.path).path == "/redirect" and target:
            self.send_response(302)
            self.send_header("Location", target[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps([[k.lower(), v] for k, v in self.headers.items()]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _uninstrumented_after() -> Iterator[None]:
    yield
    llmobs_httpx.uninstrument()


def received(response: httpx.Response) -> list[tuple[str, str]]:
    return [tuple(pair) for pair in response.json()]


def trace_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in received(response) if k in HEADERS}


def test_instrumented_sync_client_sends_the_active_span_context(port: int) -> None:
    """A client built after instrument() carries the active span's ids, ml_app and session."""
    llmobs_httpx.instrument()
    with capture(ml_app="caller-app"), LLMObs.workflow("w", session_id="s-1") as span:
        with httpx.Client() as client:
            response = client.get(f"http://127.0.0.1:{port}/echo")
    context = extract_dict(trace_headers(response))
    assert (context.parent_id, context.trace_id) == (span.span_id, span.trace_id)
    assert (context.ml_app, context.session_id) == ("caller-app", "s-1")
    assert {"x-datadog-tags", "traceparent", "tracestate", "baggage"} <= set(
        trace_headers(response))


def test_instrumented_async_client_sends_the_active_span_context(port: int) -> None:
    """An AsyncClient built after instrument() carries the context of the task's active span."""
    llmobs_httpx.instrument()

    async def call() -> tuple[int, httpx.Response]:
        with LLMObs.tool("t") as span:
            async with httpx.AsyncClient() as client:
                return span.span_id, await client.post(f"http://127.0.0.1:{port}/echo")

    with capture():
        span_id, response = asyncio.run(call())
    assert extract_dict(trace_headers(response)).parent_id == span_id


def test_module_level_functions_are_covered(port: int) -> None:
    """httpx.get() builds its own client, which instrument() covers too."""
    llmobs_httpx.instrument()
    with capture(), LLMObs.task("t") as span:
        response = httpx.get(f"http://127.0.0.1:{port}/echo")
    assert extract_dict(trace_headers(response)).parent_id == span.span_id


def test_no_active_span_or_disabled_llmobs_sends_no_headers(port: int) -> None:
    """Without an active span, or with llmobs disabled, requests go out untouched."""
    llmobs_httpx.instrument()
    with httpx.Client() as client:
        with capture():
            assert trace_headers(client.get(f"http://127.0.0.1:{port}/")) == {}
        with LLMObs.task("untraced"):
            assert trace_headers(client.get(f"http://127.0.0.1:{port}/")) == {}


def test_instrument_is_idempotent_and_uninstrument_restores(port: int) -> None:
    """instrument() twice adds one hook; uninstrument() restores the constructors and silences
    the clients it covered."""
    llmobs_httpx.instrument()
    llmobs_httpx.instrument()
    client = httpx.Client(event_hooks={"request": [lambda request: None]})
    assert len(client.event_hooks["request"]) == 2
    llmobs_httpx.uninstrument()
    llmobs_httpx.uninstrument()
    assert (httpx.Client.__init__, httpx.AsyncClient.__init__) == ORIGINAL_INITS
    with capture(), LLMObs.task("t"):
        assert trace_headers(client.get(f"http://127.0.0.1:{port}/")) == {}
        with httpx.Client() as fresh:
            assert fresh.event_hooks["request"] == []
    client.close()


def test_instrument_client_covers_one_sync_or_async_client(port: int) -> None:
    """instrument_client() instruments only the given client, once however often it is called,
    and uninstrument_client() takes it back."""
    url = f"http://127.0.0.1:{port}/"
    with capture(), LLMObs.task("t") as span, httpx.Client() as plain:
        chosen = llmobs_httpx.instrument_client(llmobs_httpx.instrument_client(httpx.Client()))
        assert len(chosen.event_hooks["request"]) == 1
        assert extract_dict(trace_headers(chosen.get(url))).parent_id == span.span_id
        assert trace_headers(plain.get(url)) == {}
        llmobs_httpx.uninstrument_client(chosen)
        assert trace_headers(chosen.get(url)) == {}
        chosen.close()

        async def call() -> httpx.Response:
            async with llmobs_httpx.instrument_client(httpx.AsyncClient()) as client:
                return await client.get(url)

        assert extract_dict(trace_headers(asyncio.run(call()))).parent_id == span.span_id
    with pytest.raises(TypeError):
        llmobs_httpx.instrument_client(object())


def test_propagate_to_by_host_and_host_port(port: int) -> None:
    """Hosts listed in propagate_to get the headers; other hosts (same server) do not."""
    with capture(), LLMObs.task("t"):
        for allowed in (["127.0.0.1"], [f"127.0.0.1:{port}"], ["LOCALHOST", "127.0.0.1"]):
            llmobs_httpx.instrument(propagate_to=allowed)
            with httpx.Client() as client:
                assert trace_headers(client.get(f"http://127.0.0.1:{port}/"))
                local = trace_headers(client.get(f"http://localhost:{port}/"))
                assert bool(local) == ("LOCALHOST" in allowed)
        llmobs_httpx.instrument(propagate_to=["127.0.0.1:1"])
        with httpx.Client() as client:
            assert trace_headers(client.get(f"http://127.0.0.1:{port}/")) == {}


def test_propagate_to_by_url_prefix(port: int) -> None:
    """A URL prefix matches its own path and the paths below it, on the same scheme, host and
    port; an empty list sends headers nowhere."""
    base = f"http://127.0.0.1:{port}"
    with capture(), LLMObs.task("t"):
        client = llmobs_httpx.instrument_client(httpx.Client(), propagate_to=[f"{base}/llm/"])
        assert trace_headers(client.get(f"{base}/llm"))
        assert trace_headers(client.get(f"{base}/llm/chat?x=1"))
        assert trace_headers(client.get(f"{base}/llmx")) == {}
        assert trace_headers(client.get(f"http://localhost:{port}/llm/chat")) == {}
        llmobs_httpx.instrument_client(client, propagate_to=[])
        assert trace_headers(client.get(f"{base}/llm/chat")) == {}
        client.close()
    with pytest.raises(TypeError):
        llmobs_httpx.instrument(propagate_to="127.0.0.1")


def test_redirect_to_a_destination_outside_propagate_to_drops_our_headers(port: int) -> None:
    """httpx copies headers onto a redirect; a hop to an unlisted host loses the ones we wrote
    but keeps the application's own baggage members."""
    llmobs_httpx.instrument(propagate_to=["127.0.0.1"])
    target = f"http://localhost:{port}/final"
    with capture(), LLMObs.task("t"), httpx.Client(follow_redirects=True) as client:
        response = client.get(f"http://127.0.0.1:{port}/redirect", params={"to": target},
                              headers={"baggage": "user.id=7"})
    assert response.history and str(response.url) == target
    assert trace_headers(response) == {"baggage": "user.id=7"}


def test_existing_headers_are_replaced_not_duplicated(port: int) -> None:
    """Earlier propagation headers, in any letter case and repeated, give way to exactly one of
    each of ours; other vendors' tracestate members and the application's baggage stay."""
    llmobs_httpx.instrument()
    stale = [("X-Datadog-Trace-Id", "1"), ("x-datadog-trace-id", "2"),
             ("Traceparent", f"00-{'1' * 32}-{'2' * 16}-01"),
             ("tracestate", "dd=s:1;p:0000000000000002,congo=t61rcWkgMzE"),
             ("Baggage", "user.id=7,session.id=old"), ("x-datadog-tags", "_dd.p.llmobs_sid=old")]
    with capture(), LLMObs.task("t", session_id="new") as span, httpx.Client() as client:
        response = client.get(f"http://127.0.0.1:{port}/", headers=stale)
    names = [name for name, _ in received(response) if name in HEADERS]
    assert sorted(names) == sorted(HEADERS)
    sent = trace_headers(response)
    assert sent["x-datadog-parent-id"] == str(span.span_id)
    assert sent["tracestate"].startswith("dd=")
    assert sent["tracestate"].endswith(",congo=t61rcWkgMzE")
    assert sent["baggage"].endswith(",user.id=7") and "session.id=new" in sent["baggage"]
    context = extract_dict(sent)
    assert (context.parent_id, context.session_id) == (span.span_id, "new")


def test_task_span_is_tagged_ml_proxy_for_any_destination_without_proxy_urls(port: int) -> None:
    """With no proxy URLs configured, a task span that sends a request is tagged ml-proxy:custom,
    the workflow around it is not."""
    llmobs_httpx.instrument()
    with capture() as captured, LLMObs.workflow("run-chat"), httpx.Client() as client:
        client.get(f"http://127.0.0.1:{port}/")
        with LLMObs.task("chat-proxy"):
            client.post(f"http://127.0.0.1:{port}/chat")
    assert "ml-proxy:custom" in captured.by_name("chat-proxy")["tags"]
    assert "ml-proxy:custom" not in captured.by_name("run-chat")["tags"]


def test_with_proxy_urls_only_requests_to_them_tag_the_task(port: int) -> None:
    """With instrumented_proxy_urls, a task calling elsewhere still propagates but is not tagged;
    a task calling a listed proxy is."""
    llmobs_httpx.instrument()
    proxy = f"http://localhost:{port}/proxy"
    with capture(instrumented_proxy_urls=[proxy]) as captured, httpx.Client() as client:
        with LLMObs.task("elsewhere"):
            assert trace_headers(client.get(f"http://127.0.0.1:{port}/proxy"))
        with LLMObs.task("to-proxy"):
            assert trace_headers(client.get(f"{proxy}/v1/chat"))
    assert "ml-proxy:custom" not in captured.by_name("elsewhere")["tags"]
    assert "ml-proxy:custom" in captured.by_name("to-proxy")["tags"]


class HttpSink:
    """A sink that, like a future Datadog sink, sends HTTP from the writer thread, even with a
    span wrongly active there."""

    def __init__(self, url: str) -> None:
        self.url, self.span = url, None
        self.responses: list[httpx.Response] = []
        self.thread_names: list[str] = []

    def send_spans(self, events: list[dict]) -> None:
        token = current_parent.set(self.span)
        try:
            with httpx.Client() as client:
                self.responses.append(client.post(self.url, json=len(events)))
            self.thread_names.append(threading.current_thread().name)
        finally:
            current_parent.reset(token)

    def send_evaluations(self, events: list[dict]) -> None:
        pass

    def shutdown(self) -> None:
        pass


def test_the_writer_threads_own_requests_carry_no_trace_headers(port: int) -> None:
    """HTTP sent by a sink on the llmobs writer thread is never given trace headers."""
    llmobs_httpx.instrument()
    sink = HttpSink(f"http://127.0.0.1:{port}/intake")
    LLMObs.enable(exporter=sink)
    sink.span = LLMObs.task("leaked")
    with LLMObs.task("t"):
        pass
    assert LLMObs.flush(10)
    assert sink.thread_names == ["llmobs-writer"]
    assert trace_headers(sink.responses[0]) == {}


def test_a_wrapper_stacked_on_ours_survives_uninstrument(port: int) -> None:
    """When another library wraps Client.__init__ after instrument(), uninstrument() leaves its
    wrapper in place and ours inert; instrument() again revives ours without a second hook."""
    llmobs_httpx.instrument()
    ours = httpx.Client.__init__
    built: list[httpx.Client] = []

    def theirs(self: httpx.Client, *args: object, **kwargs: object) -> None:
        ours(self, *args, **kwargs)
        built.append(self)

    httpx.Client.__init__ = theirs  # type: ignore[method-assign]
    try:
        llmobs_httpx.uninstrument()
        assert httpx.Client.__init__ is theirs
        with capture(), LLMObs.task("t"):
            with httpx.Client() as client:
                assert trace_headers(client.get(f"http://127.0.0.1:{port}/")) == {}
            llmobs_httpx.instrument()
            with httpx.Client() as client:
                assert len(client.event_hooks["request"]) == 1
                assert trace_headers(client.get(f"http://127.0.0.1:{port}/"))
        assert len(built) == 2
    finally:
        llmobs_httpx.uninstrument()
        httpx.Client.__init__ = ORIGINAL_INITS[0]  # type: ignore[method-assign]
