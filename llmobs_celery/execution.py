"""One task execution's span and the context tokens it set, from its start to its end.

The execution running in the current context is found through a ContextVar (an execution
and the signals it sends all run in one thread, and eager executions nest); the registry of
open executions, keyed by task id and a per-execution number (a retried task keeps its id, and
its next attempt may start before this one ends), exists for stats() and uninstall()."""

from __future__ import annotations

import contextvars
import itertools
from typing import Any

from llmobs_core._adapter import (
    LLMObsSpan,
    activate,
    record_fault,
    restore,
)
from llmobs_core._adapter import faults as core_faults

current_execution: contextvars.ContextVar[Execution | None] = contextvars.ContextVar(
    "llmobs_celery_execution", default=None
)
open_executions: dict[tuple[str, int], Execution] = {}
_numbers = itertools.count(1)
_MAX_OPEN = 100_000


class Execution:
    __slots__ = ("key", "task_id", "span", "remote", "capture_output", "_tokens")

    def __init__(self, task_id: str, span: LLMObsSpan, remote: Any,
                 capture_output: bool) -> None:
        self.key = (task_id, next(_numbers))
        self.task_id = task_id
        self.span = span
        self.remote = remote
        self.capture_output = capture_output
        self._tokens: tuple[Any, Any] = (activate(span), current_execution.set(self))
        if len(open_executions) >= _MAX_OPEN:
            count_fault("open", RuntimeError(f"{_MAX_OPEN} task spans open at once; "
                                             "task_postrun is not reaching llmobs"))
        else:
            open_executions[self.key] = self

    def end(self) -> None:
        """Finish the span, forget the execution, and restore the context it changed."""
        open_executions.pop(self.key, None)
        try:
            self.span.finish()
        finally:
            self.deactivate()

    def abandon(self) -> None:
        """Forget the execution without recording its span (the task never ran)."""
        open_executions.pop(self.key, None)
        self.deactivate()

    def deactivate(self) -> None:
        span_token, execution_token = self._tokens
        self._tokens = (None, None)
        if execution_token is not None:
            try:
                current_execution.reset(execution_token)
            except ValueError:
                pass  # ended from another context (uninstall): that context keeps its own values
        restore(span_token)


def running(task_id: Any) -> Execution | None:
    """The execution in the current context if it is task `task_id`."""
    execution = current_execution.get()
    return execution if execution is not None and execution.task_id == task_id else None


def count_fault(where: str, exc: BaseException) -> None:
    """A fault of llmobs's own (never the task's): counted and logged by the core's guard."""
    record_fault(f"celery.{where}", exc)


def faults_by_hook() -> dict[str, int]:
    return {place.removeprefix("celery."): count for place, count in core_faults.items()
            if place.startswith("celery.")}


def end_all() -> int:
    """Finish every open execution's span (for uninstall); returns how many there were."""
    executions = list(open_executions.values())
    for execution in executions:
        try:
            execution.end()
        except Exception as exc:
            count_fault("uninstall", exc)
    return len(executions)
