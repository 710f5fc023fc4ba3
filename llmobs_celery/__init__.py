"""llmobs for Celery: every task execution becomes a span, the child of the span that was
active where the task was published, in the same trace, ml_app and session.

    from llmobs_core import LLMObs
    import llmobs_celery

    LLMObs.enable(ml_app="my-app")
    llmobs_celery.install(app)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery, signals

from . import hooks, tracing, worker
from .execution import end_all, faults_by_hook, open_executions
from .options import CeleryOptions, Configuration, configure

__all__ = ["install", "stats", "uninstall"]

_RECEIVERS = (
    (signals.before_task_publish, hooks.on_before_task_publish),
    (signals.task_failure, hooks.on_task_failure),
    (signals.task_retry, hooks.on_task_retry),
    (signals.worker_init, worker.on_worker_init),
    (signals.worker_process_init, worker.on_worker_process_init),
    (signals.worker_process_shutdown, worker.on_worker_process_shutdown),
    (signals.worker_shutdown, worker.on_worker_shutdown),
)


def _uid(receiver: Callable[..., Any]) -> str:
    return f"llmobs_celery.{receiver.__name__}"


def install(
    app: Celery | None = None,
    *,
    kind: str = "task",
    name: str | Callable[[Any], str] | None = None,
    capture_input: bool = False,
    capture_output: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    builtin_tasks: bool = False,
    flush_timeout: float = 5.0,
) -> None:
    """Trace Celery tasks: those of `app`, or of every app in the process when None. Spans
    are recorded while llmobs is enabled (LLMObs.enable), in publishers and workers alike.

    kind: the span kind of task executions. name: the span name, or a callable taking the
    task (default: the task name). capture_input / capture_output: record the task's
    arguments / return value (off by default: task payloads often hold personal data).
    overrides: per task name, any of enabled, kind, name, capture_input, capture_output.
    builtin_tasks: also trace Celery's own tasks (celery.chord_unlock, ...). flush_timeout:
    how long, in seconds, a worker process waits at exit for its spans to be delivered.

    Calling it again replaces the configuration; the signal receivers stay connected once,
    and Celery's task tracers stay wrapped once (docs/celery.md, "How a task gets its span").
    A wrong option raises ValueError or TypeError."""
    if app is not None and not isinstance(app, Celery):
        raise TypeError(f"app must be a celery.Celery application or None, "
                        f"not {type(app).__name__}")
    options = CeleryOptions(
        kind=kind, name=name, capture_input=capture_input, capture_output=capture_output,
        overrides={} if overrides is None else overrides, builtin_tasks=builtin_tasks,
        flush_timeout=flush_timeout,
    )
    configure(Configuration(app, options))
    for signal, receiver in _RECEIVERS:
        signal.connect(receiver, weak=False, dispatch_uid=_uid(receiver))
    tracing.wrap_tracers()


def uninstall() -> None:
    """Disconnect every receiver install() connected and unwrap Celery's task tracers. Spans
    still open are finished."""
    for signal, receiver in _RECEIVERS:
        signal.disconnect(receiver, dispatch_uid=_uid(receiver))
    tracing.unwrap_tracers()
    end_all()
    configure(Configuration())


def stats() -> dict[str, Any]:
    """This process's task spans open now, and the faults of llmobs's own hooks by hook."""
    return {"open_spans": len(open_executions), "faults": faults_by_hook()}
