"""The task signal receivers: before_task_publish writes the trace context into the message,
task_prerun continues it and opens the task's span, task_failure and task_retry mark it,
task_postrun finishes it. Each receiver guards its own work: a fault of llmobs is counted and
logged, and the task runs as it would without llmobs."""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from llmobs_core._adapter import (
    HEADERS,
    active_parent,
    active_tracer,
    shape_io_leniently,
    tracer_state,
    warn_limited,
)

from . import carrier
from .execution import Execution, count_fault, running
from .options import TaskSettings, active
from .worker import task_done


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


# task_prerun reads the tracer, its header formats and the configuration without calls, and
# takes the common case (a first attempt, the task name as span name) inline: with the dict
# check in carrier.request_context, -4,900 instructions a task of the ~87,000 llmobs adds in
# process (measured under cachegrind; Celery's own dispatch of the two signals is ~33,000).


def on_task_prerun(task_id: Any = None, task: Any = None, args: Any = None,
                   kwargs: Any = None, **_: Any) -> None:
    tracer = tracer_state.tracer
    if tracer is None or task is None:
        return
    try:
        settings = active[0].settings_for(task)
        if settings is None:
            return
        request = task.request
        eager = bool(request.is_eager)
        # Eager: nothing was sent, the task runs in its caller's context, under its active
        # span. Otherwise the message's context is the parent; None (a message without
        # context) starts a new trace, whatever a previous task left in this thread.
        remote = active_parent() if eager else carrier.request_context(
            request, tracer.config.propagation_extract)
        name = task.name if settings.name is None else _span_name(settings, task)
        span = tracer.start_span(settings.kind, name, parent=remote)
        # The task id goes into metadata: a tag with a new value per span would bloat tag
        # indexes (the local store's, Datadog's facets) for no filtering anyone needs.
        span.metadata = {"celery.task_id": str(task_id)}
        retries = request.retries
        tags = {"celery.attempt": "1" if retries == 0 else _attempt(retries)}
        if eager:
            tags["celery.eager"] = "true"
        span.tags = tags
        if settings.capture_input:
            span.input = shape_io_leniently(settings.kind, 0, _arguments(args, kwargs))
        Execution(str(task_id), span, remote, settings.capture_output)
    except Exception as exc:
        count_fault("task_prerun", exc)


def _span_name(settings: TaskSettings, task: Any) -> str:
    try:
        name = settings.span_name(task)
    except Exception as exc:
        warn_limited("celery.name", "llmobs: the span name callable raised %s: %s; using the "
                     "task name", type(exc).__name__, exc)
        return task.name
    if isinstance(name, str) and name:
        return name
    warn_limited("celery.name.type", "llmobs: the span name callable returned %r, not a "
                 "non-empty string; using the task name", name)
    return task.name


def _attempt(retries: Any) -> str:
    return str(retries + 1) if type(retries) is int and retries >= 0 else "1"


def _arguments(args: Any, kwargs: Any) -> dict[str, Any]:
    captured: dict[str, Any] = {}
    if args:
        captured["args"] = list(args)
    if kwargs:
        captured["kwargs"] = dict(kwargs)
    return captured


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


def on_task_postrun(task_id: Any = None, task: Any = None, retval: Any = None,
                    state: Any = None, **_: Any) -> None:
    execution = running(str(task_id))
    if execution is not None:
        try:
            _record_outcome(execution, retval, state)
        except Exception as exc:
            count_fault("task_postrun", exc)
        finally:
            try:
                execution.end()
            except Exception as exc:
                count_fault("task_postrun", exc)
    task_done(task)


def _record_outcome(execution: Execution, retval: Any, outcome: Any) -> None:
    span = execution.span
    if outcome is None:
        # Raised straight through (an eager task with task_eager_propagates): this signal is
        # sent from a `finally`, so the exception in flight is the task's.
        in_flight = sys.exc_info()[1]
        if in_flight is not None and span.error is None:
            span.set_exception(in_flight)
        outcome = "FAILURE" if in_flight is not None else "UNKNOWN"
    elif outcome == "SUCCESS":
        if execution.capture_output and retval is not None:
            span.output = shape_io_leniently(span.kind, 1, retval)
    elif outcome == "FAILURE" and span.error is None and isinstance(retval, BaseException):
        span.set_exception(retval)
    if span.tags is not None:
        span.tags["celery.state"] = str(outcome)
