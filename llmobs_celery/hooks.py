"""The task signal receivers: before_task_publish writes the trace context into the message;
task_failure and task_retry mark the span of the execution that failed (opened and finished
around the task by tracing.py). Each receiver guards its own work: a fault of llmobs is
counted and logged, and the task runs as it would without llmobs."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from llmobs_core._adapter import (
    HEADERS,
    active_parent,
    active_tracer,
)

from . import carrier
from .execution import count_fault, running


def on_before_task_publish(sender: Any = None, body: Any = None, headers: Any = None,
                           **_: Any) -> None:
    if active_tracer() is None or not isinstance(headers, MutableMapping):
        return
    try:
        _write_message_context(headers, body)
    except Exception as exc:
        count_fault("before_task_publish", exc)


def _write_message_context(headers: MutableMapping[str, Any], body: Any) -> None:
    execution = running(headers.get("id"))
    if execution is not None:
        # A retry (or replace) of the running task: the next attempt belongs under the
        # original parent, not under this attempt's span. Without a parent to name, the
        # headers Celery copied from the original message (foreign ones, or none) stay.
        original = carrier.context_headers(execution.remote)
        if original:
            carrier.replace_context(headers, original)
        return
    source = active_parent()
    if source is None or carrier.carries_context(headers):
        # Headers the caller gave explicitly, or a chord body's publisher context, win.
        context: Mapping[str, Any] = {name: headers[name] for name in HEADERS if name in headers}
    else:
        context = carrier.context_headers(source)
        carrier.replace_context(headers, context)
    carrier.stash_for_chord_body(body, context)


def on_task_failure(task_id: Any = None, exception: Any = None, **_: Any) -> None:
    execution = running(str(task_id))
    if execution is None or not isinstance(exception, BaseException):
        return
    try:
        if not _is_wrapper(exception):  # the original reaches task_postrun as its retval
            execution.span.set_exception(exception)
    except Exception as exc:
        count_fault("task_failure", exc)


def _is_wrapper(exception: BaseException) -> bool:
    return type(exception).__name__ == "UnpickleableExceptionWrapper"


def on_task_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    execution = running(str(getattr(request, "id", None)))
    if execution is None:
        return
    try:
        cause = getattr(reason, "exc", None)
        if isinstance(cause, BaseException) and not _is_wrapper(cause):
            execution.span.set_exception(cause)
    except Exception as exc:
        count_fault("task_retry", exc)
