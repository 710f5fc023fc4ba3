"""One traced request: its span, and the receive/send wrappers that end the span when the
response is complete. An instance lives for a single ASGI call; the middleware keeps none."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Final

from llmobs_core._adapter import LLMObsSpan, parse_traceparent, record_fault, warn_limited

from ._scope import route_template

# W3C Trace Context's response header: version-trace_id-span_id-flags, ids in hex. One header
# and not two: ASGI servers check and copy each header in Python (h11 and uvicorn spent about
# as much on a second header as the rest of the middleware's response handling).
RESPONSE_HEADER = "traceresponse"
_RESPONSE_HEADER: Final = RESPONSE_HEADER.encode("latin-1")

_CLOSED_FOR_ERROR: Final = 1011  # websocket close code for "internal error"
_STATUS_TEXT: Final = {code: str(code) for code in range(100, 600)}  # made once, not a request
_SPECS_BEFORE_2_4: Final = frozenset(("2.0", "2.1", "2.2", "2.3"))


def span_context(traceresponse: str | bytes | None) -> dict[str, str] | None:
    """The span a response's traceresponse header names, as LLMObs.export_span() gives it
    ({"trace_id": 32 hex digits, "span_id": decimal}) and LLMObs.submit_evaluation() takes it;
    None when the value is missing or malformed."""
    if isinstance(traceresponse, bytes):
        traceresponse = traceresponse.decode("latin-1")
    if not isinstance(traceresponse, str):
        return None
    parsed = parse_traceparent(traceresponse.strip().lower())
    if parsed is None:
        return None
    trace_id, span_id, _ = parsed
    return {"trace_id": f"{trace_id:032x}", "span_id": str(span_id)}


class RequestTrace:
    __slots__ = ("span", "scope", "http", "method", "add_ids", "status", "trailers", "last",
                 "root_path", "app_receive", "app_send", "send_may_raise")

    def __init__(self, span: LLMObsSpan, scope: dict[str, Any], method: str, add_ids: bool,
                 receive: Any, send: Any) -> None:
        self.span = span
        self.scope = scope
        self.http = scope["type"] == "http"  # read once: the app may change the scope
        self.method = method
        self.add_ids = add_ids
        self.status: int | None = None
        self.trailers = False
        self.last = False
        root_path = scope.get("root_path", "")
        self.root_path = root_path if isinstance(root_path, str) else ""
        self.app_receive = receive
        self.app_send = send
        # ASGI 2.4's send raises OSError for a client that went away; 2.3 and older (and a
        # server that names no version: 2.0) do not, and get send_now().
        asgi = scope.get("asgi")
        version = asgi.get("spec_version", "2.0") if type(asgi) is dict else "2.0"
        self.send_may_raise = not (type(version) is str and version in _SPECS_BEFORE_2_4)

    async def receive(self) -> Any:
        message = await self.app_receive()
        try:
            kind = message["type"]
        except Exception:  # not an ASGI message: the app gets it as it came
            return message
        if kind == "http.disconnect":
            if self.span.duration_ns is None:
                self.end(client_disconnected=True)
        elif kind == "websocket.disconnect" and self.span.duration_ns is None:
            self.status = message.get("code", 1005)
            self.end()
        return message

    def send_now(self, message: Any) -> Awaitable[None]:
        """send() for servers of ASGI spec 2.3 and older, whose send does not raise for a
        client that went away: the server's own awaitable, with no coroutine of ours around
        it (two fewer objects a request); the span ends as the last message is handed over."""
        message = self.outgoing(message)
        if self.last:
            self.response_done()
        return self.app_send(message)

    async def send(self, message: Any) -> None:
        """send() for ASGI 2.4 servers, whose send raises OSError once the client is gone: the
        span then says so."""
        message = self.outgoing(message)
        try:
            await self.app_send(message)
        except OSError:
            self.end(client_disconnected=True)
            raise
        if self.last:
            self.response_done()

    def outgoing(self, message: Any) -> Any:
        """The message for the server (with the trace ids, when asked for); notes the status,
        and sets self.last when the message completes the response."""
        try:  # a dict, as servers and frameworks send, is read as one (a typed, cheaper read)
            fields: dict[str, Any] = message if type(message) is dict else dict(message)
            kind = fields["type"]
        except Exception:  # not an ASGI message: the server says what is wrong with it
            return message
        if kind == "http.response.start":
            self.status = fields.get("status")
            self.trailers = bool(fields.get("trailers"))
            if self.add_ids:
                return self.with_ids(fields)
        elif kind == "http.response.body":
            self.last = not fields.get("more_body", False) and not self.trailers
        elif kind == "http.response.trailers":
            self.last = not fields.get("more_trailers", False)
        elif kind == "websocket.accept":
            if self.add_ids:
                return self.with_ids(fields)
        elif kind == "websocket.close":
            self.status = fields.get("code", 1000)
            self.last = True
        elif kind == "http.response.pathsend":
            self.last = True
        return message

    def response_done(self) -> None:
        status = self.status
        if not (self.http and type(status) is int and status >= 500):
            # A 5xx span ends when the app returns instead: wrapped around Starlette, the
            # exception that caused it (ServerErrorMiddleware re-raises it) comes after.
            self.end()

    def with_ids(self, message: dict[str, Any]) -> dict[str, Any]:
        span = self.span
        try:
            headers = [*message.get("headers", ()),
                       (_RESPONSE_HEADER, b"00-%032x-%016x-01" % (span.trace_id, span.span_id))]
        except Exception as exc:
            warn_limited("starlette.headers", "llmobs: could not add trace ids to the response "
                         "headers: %s: %s", type(exc).__name__, exc)
            return message
        message = message.copy()  # the app's own message is left as it was
        message["headers"] = headers
        return message

    def end(self, exc: BaseException | None = None, *, client_disconnected: bool = False,
            returned: bool = False) -> None:
        """Finish the span once, with its route, status and error. Never raises."""
        span = self.span
        if span.duration_ns is not None:  # ended already
            return
        try:  # capture_faults("asgi.end")'s work, without its two Python calls a request
            if exc is not None and self.status is None and self.http:
                self.status = 500  # what the server or framework answers for it
            self.describe(span, client_disconnected)
            if exc is not None:
                span.set_exception(exc)
            elif returned and self.status is None and self.http:
                span.error = ("IncompleteResponse",
                              "the application returned without starting a response", "")
        except Exception as fault:
            record_fault("asgi.end", fault)
        span.finish()

    def describe(self, span: LLMObsSpan, client_disconnected: bool) -> None:
        """The span's name from its route, and the request's tags: merged into annotate's dict
        when the app set tags, else kept as a tuple of keys and values (span.RECORD_FIELDS),
        which CPython reuses from a free list where a dict would count toward the next garbage
        collection for as long as the span waits in the writer's queue."""
        tags = span.tags
        facts: list[str] = []
        if self.method != "WEBSOCKET" and (tags is None or "http.method" not in tags):
            facts += ("http.method", self.method)
        route = route_template(self.scope, self.root_path)
        if route is not None:
            span.name = f"{self.method} {route}"
            facts += ("http.route", route)
        status = self.status
        if not self.http:
            if status is not None:
                facts += ("websocket.close_code", str(status))
                if status == _CLOSED_FOR_ERROR:
                    span.error = ("WebSocketClosed", "closed with code 1011", "")
        elif status is not None:
            facts += ("http.status_code", (_STATUS_TEXT.get(status) if type(status) is int
                                           else None) or str(status))
            if type(status) is int and status >= 500:
                span.error = ("HTTPServerError", f"response status {status}", "")
        if client_disconnected:
            facts += ("http.client_disconnected", "true")
        if tags is None:
            span.tags = tuple(facts)
        else:
            for index in range(0, len(facts), 2):
                tags[facts[index]] = facts[index + 1]
