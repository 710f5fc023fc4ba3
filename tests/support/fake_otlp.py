"""A local OTLP/HTTP receiver on 127.0.0.1: it decodes each POST /v1/traces body with the
official opentelemetry-proto messages and keeps the spans as plain dicts, with their resource
attributes and the request headers.

Run as a script (`python tests/support/fake_otlp.py`) it prints its URL and serves until stdin
closes; each line read on stdin is answered with the number of spans received so far.
"""

from __future__ import annotations

import gzip
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

_OK_BODY = ExportTraceServiceResponse().SerializeToString()


def _value(any_value: Any) -> Any:
    field = any_value.WhichOneof("value")
    if field == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, field) if field else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


class FakeOTLPReceiver:
    """`decode=False` only counts spans (for the benchmark); otherwise each is kept."""

    def __init__(self, decode: bool = True) -> None:
        self.decode = decode
        self.spans: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.span_count = 0
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeOTLPReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeOTLPReceiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.span_count >= count, timeout)

    def receive(self, body: bytes, headers: dict[str, str]) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        spans = [_span(span, resource_spans) for resource_spans in request.resource_spans
                 for scope_spans in resource_spans.scope_spans
                 for span in scope_spans.spans] if self.decode else []
        count = len(spans) if self.decode else sum(
            len(scope.spans) for resource in request.resource_spans
            for scope in resource.scope_spans)
        with self._changed:
            self.spans += spans
            self.headers.append(headers)
            self.span_count += count
            self._changed.notify_all()


def _span(span: Any, resource_spans: Any) -> dict[str, Any]:
    return {
        "trace_id": int.from_bytes(span.trace_id, "big"),
        "span_id": int.from_bytes(span.span_id, "big"),
        "parent_id": int.from_bytes(span.parent_span_id, "big") or None,
        "name": span.name,
        "kind": span.kind,
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "status": (span.status.code, span.status.message),
        "attributes": _attributes(span.attributes),
        "events": [(e.name, _attributes(e.attributes)) for e in span.events],
        "resource": _attributes(resource_spans.resource.attributes),
    }


def _handler_for(receiver: FakeOTLPReceiver) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            status = 404
            if self.path == "/v1/traces":
                receiver.receive(body, {k.lower(): v for k, v in self.headers.items()})
                status = 200
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(_OK_BODY)))
            self.end_headers()
            self.wfile.write(_OK_BODY)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def main() -> None:
    receiver = FakeOTLPReceiver(decode=False).start()
    print(receiver.url, flush=True)
    try:
        while sys.stdin.readline():
            print(receiver.span_count, flush=True)
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
