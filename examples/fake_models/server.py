"""A deterministic fake model server that speaks the real OpenAI and Anthropic HTTP APIs.

The genuine `openai` and `anthropic` clients talk to it over a real socket, so their own
parsing of JSON bodies and server-sent events runs. Endpoints (matched by path suffix, so any
prefix works: base_url "http://127.0.0.1:P/openai/v1" makes ddtrace see an "openai" URL):

    POST .../chat/completions   JSON or SSE; tool_calls; n choices; usage chunk only when
                                stream_options.include_usage is true (choices: [])
    POST .../responses          JSON or SSE (response.created ... response.completed)
    POST .../embeddings         float or base64 (float32 little-endian)
    POST .../messages           Anthropic Messages, JSON or SSE
    GET/DELETE /_fake/requests  the request bodies received so far / forget them

Behaviour is chosen by directives written anywhere in the last user message (or the embedding
input, or an `x-fake` header), e.g. "what is the weather? fake:tool fake:cached=3":

    fake:tool               call the first tool (unless the last message is a tool result)
    fake:reasoning          reasoning_content / reasoning item / thinking block
    fake:error=429          HTTP 400/401/403/404/429/500/529 with the provider's error body
    fake:slow=2.5           wait before answering (for client timeouts)
    fake:break=3            streams: drop the connection after 3 events
    fake:stream_error=2     streams: emit the provider's error event after 2 events
    fake:chunk_delay=0.05   streams: pause between events
    fake:cached=N  fake:cache_write=N   cached / cache-write prompt tokens in usage
    fake:odd                chat completions: a body whose "choices" is not a list

Or by a script: FakeModelServer(chat_reply=fn) asks fn(request body) for each chat completion's
answer, {"content": text} or {"tool": {"name": ..., "arguments": {...}}} (None: the default
answer), and sends it as JSON or SSE like any other (the demo's assistant model does this).

It needs only the standard library and knows nothing of llmobs: the tests, the demo
(examples/assistant.py) and bench/llm_clients.py use it.

In code:   with FakeModelServer() as fake: OpenAI(base_url=fake.openai_base_url, ...)
Or run it: python -m fake_models --port 8765     (from examples/)

The endpoint bodies live in openai_api.py and anthropic_api.py, shared helpers in common.py.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .anthropic_api import anthropic_error, anthropic_events, anthropic_message
from .common import Event, directives, openai_prompt
from .openai_api import (
    chat_completion,
    chat_completion_events,
    embeddings,
    openai_error,
    response_events,
    response_input,
    response_object,
)

ChatReply = Callable[[dict], "dict | None"]

# path suffix -> (JSON body, SSE events, error body, mid-stream error event, prompt of request)
ROUTES = {
    "/chat/completions": (chat_completion, chat_completion_events, openai_error,
                          lambda: (None, openai_error(500)),
                          lambda b: openai_prompt(b.get("messages"))),
    "/responses": (response_object, response_events, openai_error,
                   lambda: ("error", {"type": "error", "code": "server_error", "param": None,
                                      "message": "The server had an error.", "sequence_number": 0}),
                   lambda b: response_input(b)[0]),
    "/embeddings": (embeddings, None, openai_error, None, lambda b: json.dumps(b.get("input"))),
    "/messages": (anthropic_message, anthropic_events, anthropic_error,
                  lambda: ("error", anthropic_error(529)),
                  lambda b: openai_prompt(b.get("messages"))),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes: with Nagle's algorithm, the client's delayed ACK
    # holds the body back about 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path.endswith("/_fake/requests"):
            with self.server.lock:
                self._send_json(200, list(self.server.received))
        else:
            self._send_json(404, openai_error(404))

    def do_DELETE(self) -> None:
        with self.server.lock:
            self.server.received.clear()
        self._send_json(200, [])

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.loads(raw or b"{}")
        path = self.path.split("?")[0]
        with self.server.lock:
            self.server.received.append({"path": path, "body": body,
                                         "headers": {k.lower(): v for k, v in self.headers.items()
                                                     if k.lower() != "authorization"}})
        route = next((r for suffix, r in ROUTES.items() if path.endswith(suffix)), None)
        if route is None:
            return self._send_json(404, openai_error(404))
        make_json, make_events, make_error, stream_error, prompt_of = route
        fx: dict[str, Any] = directives(prompt_of(body) + " " + self.headers.get("x-fake", ""))
        if path.endswith("/chat/completions") and self.server.chat_reply is not None:
            fx["reply"] = self.server.chat_reply(body)
        time.sleep(float(fx.get("slow") or 0))
        if "error" in fx:
            return self._send_json(int(fx["error"] or 500), make_error(int(fx["error"] or 500)))
        if body.get("stream") and make_events:
            return self._send_events(make_events(body, fx), fx, stream_error)
        self._send_json(200, make_json(body, fx))

    def _headers(self, status: int, content_type: str, extra: dict) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        headers = {"x-request-id": "req_fake", "request-id": "req_fake",
                   "openai-organization": "fake-org", "openai-processing-ms": "1"}
        if status == 429 or status >= 500:
            headers["retry-after-ms"] = "10"
        for key, value in {**headers, **extra}.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self._headers(status, "application/json", {"content-length": str(len(data))})
        self.wfile.write(data)

    def _send_events(self, events: Iterator[Event], fx: dict, stream_error: Any) -> None:
        self._headers(200, "text/event-stream; charset=utf-8", {"transfer-encoding": "chunked",
                                                                 "cache-control": "no-cache"})
        cut = int(fx["break"] or 1) if "break" in fx else None
        fail = int(fx["stream_error"] or 2) if "stream_error" in fx else None
        try:
            for n, (name, data) in enumerate(events):
                if n == cut:  # close mid-body: the client sees an incomplete chunked response
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if n == fail:
                    name, data = stream_error()
                self._write_event(name, data)
                if n == fail:
                    break
                time.sleep(float(fx.get("chunk_delay") or 0))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client went away (break, timeout)
            self.close_connection = True

    def _write_event(self, name: str | None, data: Any) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
        payload = frame.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hang up on purpose
            super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], chat_reply: ChatReply | None) -> None:
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.chat_reply = chat_reply


class FakeModelServer:
    """The fake server on 127.0.0.1, in a background thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 chat_reply: ChatReply | None = None) -> None:
        self._server = _Server((host, port), chat_reply)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-models")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def requests(self) -> list[dict]:
        """Every POST received so far: {"path", "body", "headers"} (no authorization header)."""
        with self._server.lock:
            return list(self._server.received)

    def bodies(self, suffix: str) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"].endswith(suffix)]

    def clear(self) -> None:
        with self._server.lock:
            self._server.received.clear()

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    server = FakeModelServer(args.host, args.port)
    print(f"fake models listening on {server.url}", flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
