"""Each task execution's span, opened and finished around the function Celery runs the task
through: the "tracer" that celery.app.trace.build_tracer builds once per task in a worker (and
for every eager call), which pushes the task's request, sends task_prerun, runs the task, stores
its result, sends its callbacks and the next step of its chain, and sends task_postrun.

Why not the task_prerun and task_postrun signals: Celery looks a signal's receivers up anew on
every send (a lock, the sender's id, weak references resolved, keyword arguments merged twice),
about 17,000 instructions a send beyond the receiver's own call, so the two cost a no-op task
~35,000 instructions (bench/celery_tasks.py --instructions; docs/celery.md, Cost). The wrapper
is one plain call, and it encloses everything the two signals did: the callbacks and the next
step of a chain are published inside the task span, so they are its children.

install() wraps build_tracer where Celery looks it up (celery.app.trace, read at each call by
Task.apply, prefork children and the lazy path; celery.worker.consumer.consumer, which imported
it) and the tracers already built (a worker started before install()); uninstall() puts back
what it replaced. A wrapper still held somewhere after uninstall() passes straight through."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from celery.app import trace as celery_trace
from celery.exceptions import Reject

from llmobs_core._adapter import active_parent, shape_io_leniently, tracer_state, warn_limited

from . import carrier
from .execution import Execution, count_fault
from .options import TaskSettings, active
from .worker import Recycling, task_done

_BUILDER_MODULES = ("celery.app.trace", "celery.worker.consumer.consumer")
_MARK = "llmobs_celery_traced"


def traced(task: Any, tracer: Callable[..., Any]) -> Callable[..., Any]:
    """Celery's tracer for `task`, running each execution in a task span."""
    if getattr(tracer, _MARK, False):
        return tracer

    def trace_in_span(uuid: Any, args: Any, kwargs: Any, request: Any = None) -> Any:
        llmobs = tracer_state.tracer
        if llmobs is None:
            return tracer(uuid, args, kwargs, request)
        execution = _start(llmobs, task, uuid, args, kwargs, request)
        try:
            result = tracer(uuid, args, kwargs, request)
        except BaseException as exc:
            if execution is not None:
                _end(execution, None, exc)
            raise
        else:
            if execution is not None:
                _end(execution, result, None)
        finally:
            if Recycling.in_child:
                task_done(request)
        return result

    trace_in_span.__wrapped__ = tracer  # type: ignore[attr-defined]
    setattr(trace_in_span, _MARK, True)
    return trace_in_span


def _start(llmobs: Any, task: Any, task_id: Any, args: Any, kwargs: Any,
           request: Any) -> Execution | None:
    try:
        settings = active[0].settings_for(task)
        if settings is None:
            return None
        if type(request) is not dict and not isinstance(request, Mapping):
            request = {}  # Celery passes a dict; a caller of its own may pass None
        eager = bool(request.get("is_eager"))
        # Eager: nothing was sent, the task runs in its caller's context, under its active
        # span. Otherwise the message's context is the parent; None (a message without
        # context) starts a new trace, whatever a previous task left in this thread.
        remote = active_parent() if eager else carrier.request_context(
            request, llmobs.config.propagation_extract)
        name = task.name if settings.name is None else _span_name(settings, task)
        span = llmobs.start_span(settings.kind, name, parent=remote)
        # The task id goes into metadata: a tag with a new value per span would bloat tag
        # indexes (the local store's, Datadog's facets) for no filtering anyone needs.
        span.metadata = {"celery.task_id": str(task_id)}
        retries = request.get("retries", 0)
        tags = {"celery.attempt": "1" if retries == 0 else _attempt(retries)}
        if eager:
            tags["celery.eager"] = "true"
        span.tags = tags
        if settings.capture_input:
            span.input = shape_io_leniently(settings.kind, 0, _arguments(args, kwargs))
        return Execution(str(task_id), span, remote, settings.capture_output)
    except Exception as exc:
        count_fault("task_start", exc)
        return None


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


def _end(execution: Execution, result: Any, raised: BaseException | None) -> None:
    try:
        ran = _record_outcome(execution, result, raised)
    except Exception as exc:
        count_fault("task_end", exc)
        ran = True
    try:
        if ran:
            execution.end()
        else:
            execution.abandon()
    except Exception as exc:
        count_fault("task_end", exc)


def _record_outcome(execution: Execution, result: Any, raised: BaseException | None) -> bool:
    """Record how the execution ended, from what the tracer returned (retval, info, runtime,
    retstr) or raised; False if the task never ran (Celery skipped a redelivered task that had
    already succeeded, or refused its request before it started): it leaves no span, as it
    sent no task_prerun."""
    span = execution.span
    if isinstance(raised, Reject):  # from on_success or after_return: Celery refuses it
        outcome: Any = "REJECTED"
    elif raised is not None:
        # Raised straight through: an eager task with task_eager_propagates (its own
        # exception), or an error Celery does not catch (MemoryError).
        if span.error is None:
            span.set_exception(raised)
        outcome = "FAILURE"
    else:
        retval, info, runtime = result[0], result[1], result[2]
        if info is None and runtime is None:
            return False
        outcome, value = ("SUCCESS", retval) if info is None else (info.state, info.retval)
        if outcome == "SUCCESS":
            if execution.capture_output and value is not None:
                span.output = shape_io_leniently(span.kind, 1, value)
        elif outcome == "FAILURE" and span.error is None and isinstance(value, BaseException):
            span.set_exception(value)
    if span.tags is not None:
        span.tags["celery.state"] = str(outcome)
    return True


def _wrap_builder(module: Any) -> None:
    build_tracer = getattr(module, "build_tracer", None)
    if build_tracer is None or getattr(build_tracer, _MARK, False):
        return

    def build_traced(name: Any, task: Any, *args: Any, **kwargs: Any) -> Any:
        return traced(task, build_tracer(name, task, *args, **kwargs))

    build_traced.__wrapped__ = build_tracer  # type: ignore[attr-defined]
    setattr(build_traced, _MARK, True)
    module.build_tracer = build_traced


def _unwrap(owner: Any, attribute: str) -> None:
    current: Any = getattr(owner, attribute, None)
    if getattr(current, _MARK, False):
        setattr(owner, attribute, current.__wrapped__)


def _built_tasks() -> Iterator[Any]:
    """Every task of every Celery app in this process that has its tracer built."""
    try:
        from celery._state import _get_active_apps  # private, but there since Celery 3

        apps = list(_get_active_apps())
    except Exception as exc:
        count_fault("install", exc)  # tracers built before install() stay untraced
        return
    for app in apps:
        for task in list(getattr(app, "_tasks", {}).values()):
            if getattr(task, "__dict__", {}).get("__trace__") is not None:
                yield task


def wrap_tracers() -> None:
    """Tracers built from now on, and those built already, run their tasks in spans."""
    _wrap_builder(celery_trace)
    consumer = sys.modules.get(_BUILDER_MODULES[1])
    if consumer is not None:
        _wrap_builder(consumer)
    for task in _built_tasks():
        task.__trace__ = traced(task, task.__trace__)


def unwrap_tracers() -> None:
    """Put back what wrap_tracers() replaced (where nobody has replaced it since)."""
    for name in _BUILDER_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            _unwrap(module, "build_tracer")
    for task in _built_tasks():
        _unwrap(task, "__trace__")
