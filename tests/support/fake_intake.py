"""A fake Datadog LLM Observability intake: a real HTTP server on 127.0.0.1 that checks every
request's path, headers and body against docs/wire-formats.md, records what it accepted, and
can be told to misbehave (answer a status with Retry-After, stall, reset connections, refuse them).

    with FakeIntake(mode="agentless", api_key="k") as intake:
        LLMObs.enable(..., override_origin=intake.url)
        intake.inject(Fault.status(503), times=2)

Run as a script (`python tests/support/fake_intake.py [--no-validate] [--delay=SECONDS]`) it
serves until stdin closes, after printing its URL: the benchmarks use it from another process.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingUnixStreamServer
from typing import Any

if __package__:
    from tests.support.wire_checks import check_evaluation_body, check_span_body
else:  # run as a script (see above): its folder is on sys.path, the repository root is not
    from wire_checks import check_evaluation_body, check_span_body

SPANS_PATH = "/api/v2/llmobs"
EVALUATIONS_PATH = "/api/intake/llm-obs/v2/eval-metric"
EVP_PREFIX = "/evp_proxy/v2"
MAX_BODY_BYTES = 5 << 20


@dataclass(frozen=True)
class Fault:
    """What the intake does instead of accepting: answer `status` (with `retry_after`), stall
    for `stall` seconds before answering, or `reset` the connection after reading the body."""

    status: int | None = None
    retry_after: str | None = None
    stall: float = 0.0
    reset: bool = False
    message: str = "injected"

    @staticmethod
    def answer(status: int, retry_after: str | None = None, message: str = "injected") -> Fault:
        return Fault(status=status, retry_after=retry_after, message=message)

    @staticmethod
    def stalled(seconds: float) -> Fault:
        return Fault(stall=seconds)

    @staticmethod
    def connection_reset() -> Fault:
        return Fault(reset=True)


@dataclass
class Received:
    """One request as the intake saw it, whatever it answered."""

    path: str
    headers: dict[str, str]
    size: int
    at: float
    peer: Any = None
    answer: int | str = 0
    problems: list[str] = field(default_factory=list)


class FakeIntake:
    def __init__(self, mode: str = "agentless", api_key: str = "test-api-key",
                 validate: bool = True, port: int = 0, unix_path: str | None = None,
                 delay: float = 0.0, keep_unchecked: bool = False) -> None:
        """`unix_path` serves on a Unix domain socket instead, as an Agent may; `delay` makes
        it a slow intake, answering each request that many seconds late."""
        if mode not in ("agentless", "agent"):
            raise ValueError("mode is 'agentless' or 'agent'")
        self.mode, self.api_key, self.validate = mode, api_key, validate
        self.keep_unchecked = keep_unchecked  # without validation, still record what came
        self.port = port
        self.unix_path = unix_path
        self.delay = delay
        self.spans: list[dict[str, Any]] = []
        self.evaluations: list[dict[str, Any]] = []
        self.requests: list[Received] = []
        self.problems: list[str] = []
        self.span_count = 0
        self._faults: deque[Fault] = deque()
        self._outage: Fault | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    # -- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"unix://{self.unix_path}" if self.unix_path else f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeIntake:
        if self.unix_path:
            server: Any = ThreadingUnixStreamServer(self.unix_path, _handler_for(self))
        else:
            server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
            self.port = server.server_address[1]
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._stopping.clear()
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True,
                         name="fake-intake").start()
        return self

    def stop(self) -> None:
        """Stop listening and cut open connections (a later start() reuses the port)."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self.unix_path:
            os.unlink(self.unix_path)
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> FakeIntake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def inject(self, fault: Fault, times: int = 1) -> None:
        """The next `times` requests meet `fault`."""
        with self._lock:
            self._faults.extend([fault] * times)

    def outage(self, fault: Fault | None) -> None:
        """Every request meets `fault` until outage(None)."""
        with self._lock:
            self._outage = fault

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.span_count >= count, timeout)

    # -- the server's side ----------------------------------------------------------------------

    def _route(self, path: str) -> str | None:
        prefix = EVP_PREFIX if self.mode == "agent" else ""
        return {prefix + SPANS_PATH: "spans", prefix + EVALUATIONS_PATH: "evaluations"}.get(path)

    def _header_problems(self, kind: str, headers: dict[str, str]) -> list[str]:
        problems = []
        if headers.get("content-type") != "application/json":
            problems.append(f"Content-Type is {headers.get('content-type')!r}")
        if self.mode == "agentless":
            if headers.get("dd-api-key") != self.api_key:
                problems.append("DD-API-KEY is missing or wrong")
        else:
            expected = "llmobs-intake" if kind == "spans" else "api"
            if headers.get("x-datadog-evp-subdomain") != expected:
                problems.append(f"X-Datadog-EVP-Subdomain is not {expected!r}")
            if "dd-api-key" in headers:
                problems.append("DD-API-KEY sent to the Agent")
        return problems

    def _accept(self, kind: str, body: bytes, record: Received) -> None:
        if not self.validate and self.keep_unchecked:
            document = json.loads(body)
            items = ([span for envelope in (document if isinstance(document, list) else
                                            [document]) for span in envelope["spans"]]
                     if kind == "spans" else document["data"]["attributes"]["metrics"])
            with self._changed:
                (self.spans if kind == "spans" else self.evaluations).extend(items)
                self._changed.notify_all()
            return
        if not self.validate:
            with self._changed:
                self.span_count += body.count(b'"event_type":"span"')
                self._changed.notify_all()
            return
        try:
            document = json.loads(body)
        except ValueError as exc:
            record.problems.append(f"body is not JSON: {exc}")
            return
        check = check_span_body if kind == "spans" else check_evaluation_body
        items = check(document, record.problems)
        if record.problems:
            return
        with self._changed:
            (self.spans if kind == "spans" else self.evaluations).extend(items)
            self.span_count = len(self.spans)
            self._changed.notify_all()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        body = handler.rfile.read(int(headers.get("content-length") or 0))
        record = Received(handler.path, headers, len(body), time.monotonic(),
                          handler.client_address)
        with self._lock:
            self.requests.append(record)
            fault = self._faults.popleft() if self._faults else self._outage
        if fault is not None:
            record.answer = self._misbehave(handler, fault)
            return
        if self.delay:
            self._stopping.wait(self.delay)
        kind = self._route(handler.path)
        if handler.command != "POST" or kind is None:
            record.problems.append(f"{handler.command} {handler.path} is not an intake path")
        else:
            record.problems += self._header_problems(kind, headers)
            if len(body) > MAX_BODY_BYTES:
                record.problems.append(f"body of {len(body)} bytes is over 5 MiB")
            if not record.problems:
                try:
                    self._accept(kind, body, record)
                except Exception as exc:  # a bug in the checks must show, not drop the link
                    record.problems.append(f"the intake could not check the body: {exc!r}")
        if record.problems:
            with self._lock:
                self.problems += [f"{handler.path}: {p}" for p in record.problems]
            record.answer = 400
            _reply(handler, 400, "Bad Request", {"errors": record.problems})
        else:
            record.answer = 202
            _reply(handler, 202, "Accepted", {})

    def _misbehave(self, handler: BaseHTTPRequestHandler, fault: Fault) -> int | str:
        if fault.stall:
            self._stopping.wait(fault.stall)
        if fault.reset:
            handler.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.request.close()
            handler.close_connection = True
            return "reset"
        status = fault.status or 503
        extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        _reply(handler, status, "Injected fault", {"errors": [fault.message]}, extra)
        return status

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(connection)


def _reply(handler: BaseHTTPRequestHandler, status: int, reason: str, payload: Any,
           extra: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    try:
        handler.send_response(status, reason)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        handler.close_connection = True


def _handler_for(intake: FakeIntake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30
        disable_nagle_algorithm = not intake.unix_path  # headers and body are separate writes

        def setup(self) -> None:
            super().setup()
            intake.track(self.request, True)

        def finish(self) -> None:
            intake.track(self.request, False)
            try:
                super().finish()
            except OSError:
                pass

        def do_POST(self) -> None:
            intake.handle(self)

        do_GET = do_PUT = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def main() -> None:
    delay = next((float(arg.split("=", 1)[1]) for arg in sys.argv if arg.startswith("--delay=")),
                 0.0)
    intake = FakeIntake(mode="agentless", validate="--no-validate" not in sys.argv,
                        delay=delay).start()
    print(intake.url, flush=True)
    try:
        while sys.stdin.readline():
            print(intake.span_count, flush=True)
    finally:
        intake.stop()


if __name__ == "__main__":
    main()
