"""Streamed responses: proxies around the clients' stream objects that hand every item to the
call's recorder, hide the items the integration asked for on its own (OpenAI's usage chunk),
and end the span exactly once on every exit path: exhausted, an exception mid-stream (the
task's cancellation included), close(), the context manager's exit, or abandoned (`break`,
then garbage-collected). Everything else is the client's object, reached through wrapt's
ObjectProxy, so `stream.response`, `stream.close()` and the helpers' own methods still work."""

from __future__ import annotations

import contextvars
from typing import Any, Protocol

import wrapt

from .._adapter import activate, capture_faults, restore


class StreamedCall(Protocol):
    """What a stream needs of the call it belongs to (_calls.Call): the span, where faults
    are counted, each item handed over, and the end."""

    span: Any
    place: str

    def take(self, item: Any) -> bool: ...

    def hand_out(self) -> None: ...

    def end(self, error: BaseException | None = None, streamed: bool = False) -> None: ...

# While a helper's manager opens its stream, the traced streams opened under it are collected
# here, so the manager's exit can end them (the helpers close the HTTP response, not the
# stream they read).
opening: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "llmobs_opening_streams", default=None)


def trace_stream(stream: Any, call: StreamedCall) -> Any:
    """The traced proxy of a client's sync or async stream."""
    traced = (TracedAsyncStream if hasattr(stream, "__anext__") else TracedStream)(stream, call)
    collected = opening.get()
    if collected is not None:
        collected.append(traced)
    return traced


class TracedStream(wrapt.ObjectProxy):
    def __init__(self, stream: Any, call: StreamedCall) -> None:
        super().__init__(stream)
        self._self_call = call

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        call = self._self_call
        while True:
            try:
                item = self.__wrapped__.__next__()
            except StopIteration:
                call.end(streamed=True)
                raise
            except BaseException as exc:
                call.end(exc, streamed=True)
                raise
            if not call.take(item):
                call.hand_out()
                return item

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_call.end(streamed=True)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.end(streamed=True)

    def __del__(self) -> None:
        self._self_call.end(streamed=True)


class TracedAsyncStream(wrapt.ObjectProxy):
    def __init__(self, stream: Any, call: StreamedCall) -> None:
        super().__init__(stream)
        self._self_call = call

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        call = self._self_call
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                call.end(streamed=True)
                raise
            except BaseException as exc:  # CancelledError included: the task was cancelled
                call.end(exc, streamed=True)
                raise
            if not call.take(item):
                call.hand_out()
                return item

    async def __aenter__(self) -> TracedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_call.end(streamed=True)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.end(streamed=True)

    def __del__(self) -> None:
        self._self_call.end(streamed=True)


def _end_all(streams: list[Any]) -> None:
    for stream in streams:
        stream._self_call.end(streamed=True)


class TracedStreamManager(wrapt.ObjectProxy):
    """A helper's stream manager (`with client.chat.completions.stream(...) as stream`). The
    helper calls the traced `create(stream=True)` when entered; the streams it opened end when
    it exits. With `open_call`, for helpers that do not go through `create` (Anthropic's
    `messages.stream`), the manager opens the call itself and traces the stream it reads."""

    def __init__(self, manager: Any, open_call: Any = None) -> None:
        super().__init__(manager)
        self._self_open_call = open_call
        self._self_opened: list[Any] = []

    def _self_enter(self, enter: Any) -> Any:
        call = None
        if self._self_open_call is not None:
            with capture_faults("stream.open"):
                call = self._self_open_call()
        token = opening.set(self._self_opened)
        span_token = None if call is None else activate(call.span)
        try:
            stream = enter()
        except BaseException as exc:
            if call is not None:
                call.end(exc)
            raise
        finally:
            restore(span_token)
            opening.reset(token)
        if call is not None:
            _adopt(stream, call, self._self_opened)
        return stream

    def __enter__(self) -> Any:
        return self._self_enter(self.__wrapped__.__enter__)

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            _end_all(self._self_opened)

    async def __aenter__(self) -> Any:
        call = None
        if self._self_open_call is not None:
            with capture_faults("stream.open"):
                call = self._self_open_call()
        token = opening.set(self._self_opened)
        span_token = None if call is None else activate(call.span)
        try:
            stream = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            if call is not None:
                call.end(exc)
            raise
        finally:
            restore(span_token)
            opening.reset(token)
        if call is not None:
            _adopt(stream, call, self._self_opened)
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            _end_all(self._self_opened)


def _adopt(helper_stream: Any, call: StreamedCall, opened: list[Any]) -> None:
    """Trace the raw stream a helper's stream object reads from. The helper builds its reading
    generator lazily, so replacing its raw stream before the first read routes every read (its
    iteration, text_stream, until_done, get_final_message) through the proxy. If the helper
    has no raw stream to replace, the span still ends at the manager's exit, without output."""
    with capture_faults(call.place):
        raw = getattr(helper_stream, "_raw_stream", None)
        if raw is not None:
            token = opening.set(opened)
            try:
                helper_stream._raw_stream = trace_stream(raw, call)
            finally:
                opening.reset(token)
            return
    opened.append(_Ender(call))


class _Ender:
    __slots__ = ("_self_call",)

    def __init__(self, call: StreamedCall) -> None:
        self._self_call = call
