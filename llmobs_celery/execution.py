"""One task execution's span and the context token it set, from its start to its end.

The execution running in this thread is the last of the thread's stack: an execution and the
signals it sends all run in the thread that runs it, nothing else runs in that thread
meanwhile (a task is synchronous; gevent and eventlet make threading.local per greenlet), and
eager executions nest. A thread-local list rather than a second ContextVar: setting and
resetting one costs each task ~3,500 instructions. The registry of open executions exists
for stats() and uninstall()."""

from __future__ import annotations

import threading
from typing import Any

from llmobs_core._adapter import (
    LLMObsSpan,
    activate,
    record_fault,
    restore,
)
from llmobs_core._adapter import faults as core_faults


class _Running(threading.local):
    def __init__(self) -> None:
        self.stack: list[Execution] = []


running_here = _Running()
open_executions: set[Execution] = set()
_MAX_OPEN = 100_000


class Execution:
    __slots__ = ("task_id", "span", "remote", "capture_output", "_token", "_stack")

    def __init__(self, task_id: str, span: LLMObsSpan, remote: Any,
                 capture_output: bool) -> None:
        self.task_id = task_id
        self.span = span
        self.remote = remote
        self.capture_output = capture_output
        self._token: Any = activate(span)
        self._stack = running_here.stack
        self._stack.append(self)
        if len(open_executions) >= _MAX_OPEN:
            count_fault("open", RuntimeError(f"{_MAX_OPEN} task spans open at once; "
                                             "their tasks are not ending"))
        else:
            open_executions.add(self)

    def end(self) -> None:
        """Finish the span, forget the execution, and restore the context it changed."""
        open_executions.discard(self)
        try:
            self.span.finish()
        finally:
            self.deactivate()

    def abandon(self) -> None:
        """Forget the execution without recording its span (the task never ran)."""
        open_executions.discard(self)
        self.deactivate()

    def deactivate(self) -> None:
        stack = self._stack
        if stack and stack[-1] is self:
            stack.pop()  # else ended already: by uninstall() from another thread, say
        token, self._token = self._token, None
        restore(token)


def running(task_id: Any) -> Execution | None:
    """The execution running in this thread if it is task `task_id`."""
    stack = running_here.stack
    if stack:
        execution = stack[-1]
        if execution.task_id == task_id:
            return execution
    return None


def count_fault(where: str, exc: BaseException) -> None:
    """A fault of llmobs's own (never the task's): counted and logged by the core's guard."""
    record_fault(f"celery.{where}", exc)


def faults_by_hook() -> dict[str, int]:
    return {place.removeprefix("celery."): count for place, count in core_faults.items()
            if place.startswith("celery.")}


def end_all() -> int:
    """Finish every open execution's span (for uninstall); returns how many there were."""
    executions = list(open_executions)
    for execution in executions:
        try:
            execution.end()
        except Exception as exc:
            count_fault("uninstall", exc)
    return len(executions)
