"""Ending a streaming response's span when the response is closed (see the middleware's
docstring for why close() is the hook), with the span active while the body is produced."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from llmobs_core._adapter import LLMObsSpan, activate, deactivate


def finish_when_closed(response: Any, span: LLMObsSpan) -> None:
    if getattr(response, "file_to_stream", None) is None:
        if response.is_async:
            response.streaming_content = _active_async_stream(response.streaming_content, span)
        else:
            response.streaming_content = _active_stream(response.streaming_content, span)
    close = response.close

    def close_and_finish() -> None:
        try:
            close()
        finally:
            span.finish()

    response.close = close_and_finish
    weakref.finalize(response, span.finish).atexit = False


def _active_stream(chunks: Iterator[bytes], span: LLMObsSpan) -> Iterator[bytes]:
    """The response's chunks, pulled with the request's span active."""
    try:
        while True:
            token = activate(span)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                deactivate(token)
            yield chunk
    except BaseException as exc:
        _stream_stopped(span, exc)
        raise


async def _active_async_stream(chunks: AsyncIterator[bytes],
                               span: LLMObsSpan) -> AsyncIterator[bytes]:
    try:
        while True:
            token = activate(span)
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            finally:
                deactivate(token)
            yield chunk
    except BaseException as exc:
        _stream_stopped(span, exc)
        raise


def _stream_stopped(span: LLMObsSpan, exc: BaseException) -> None:
    """A body that raised marks the span; one abandoned (closed early, or cancelled when the
    client went away) just ends it, since close() may never come."""
    if isinstance(exc, Exception):
        span.set_exception(exc)
    span.finish()
