"""One traced client call, and the wrapt wrappers that drive it.

A wrapper opens the call's span before the request (input, metadata, tool definitions), makes
it the active span while the client works, then reads the response (output, model, token
counts) or traces the stream it returned. The client's own result and exceptions reach the
caller unchanged; llmobs's own faults are caught by `capture_faults`, a response shape it does
not understand by `ShapeGuard`."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

from .._adapter import (
    LLMObsSpan,
    activate,
    active_parent,
    capture_faults,
    reading_stream,
    restore,
    stop_reading,
)
from ._streams import trace_stream
from ._values import ShapeGuard, set_metrics

OpenCall = Callable[[Any, dict[str, Any]], "Call | None"]


class Call:
    """Subclasses read one kind of call: `read_response` for a whole response, `take` for each
    streamed item (True hides the item from the caller), `read_stream` at the stream's end."""

    place = "llm"

    def __init__(self, span: LLMObsSpan, kwargs: dict[str, Any], proxy: bool = False) -> None:
        self.span = span
        self.kwargs = kwargs  # what the client is called with
        self.proxy = proxy
        self.started = perf_counter()
        self.first_item_at: float | None = None
        self.done = False
        self.reading: Any = None  # the token of reading_stream, once an item was handed out

    def is_stream(self, result: Any) -> bool:
        return bool(self.kwargs.get("stream") is True)

    def read_response(self, response: Any) -> None:
        return None

    def take(self, item: Any) -> bool:
        if self.first_item_at is None:
            self.first_item_at = perf_counter()
        with capture_faults(self.place):
            return self.take_item(item)
        return False

    def take_item(self, item: Any) -> bool:
        return False

    def hand_out(self) -> None:
        """An item goes to the caller's code: until the stream ends, annotate() there (with no
        span of the caller's opened since) targets this call's span."""
        if self.reading is None and not self.done:
            self.reading = reading_stream.set((self.span, active_parent()))

    def read_stream(self) -> None:
        return None

    def metrics(self, values: dict[str, Any]) -> None:
        if not self.proxy:  # the proxy's own trace counts the tokens
            set_metrics(self.span, values)

    def end(self, error: BaseException | None = None, streamed: bool = False) -> None:
        """Finish the span once, whichever exit path gets here first."""
        if self.done:
            return
        self.done = True
        stop_reading(self.reading)
        span = self.span
        if streamed:
            with ShapeGuard(self.place):
                self.read_stream()
            if self.first_item_at is not None:
                self.metrics({"time_to_first_token": self.first_item_at - self.started})
        if error is not None:
            span.set_exception(error)
        span.finish()


def _respond(call: Call, result: Any) -> Any:
    with capture_faults(call.place):
        if call.is_stream(result):
            return trace_stream(result, call)
        with ShapeGuard(call.place):
            call.read_response(result)
    call.end()
    return result


def sync_wrapper(place: str, open_call: OpenCall) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        call = None
        with capture_faults(place):
            call = open_call(instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = activate(call.span)
        try:
            result = wrapped(*args, **call.kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            restore(token)
        return _respond(call, result)

    return wrapper


def async_wrapper(place: str, open_call: OpenCall) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        call = None
        with capture_faults(place):
            call = open_call(instance, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = activate(call.span)
        try:
            result = await wrapped(*args, **call.kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            restore(token)
        return _respond(call, result)

    return wrapper
