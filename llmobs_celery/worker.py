"""Worker processes: nothing recorded in a worker is lost when it exits.

Prefork children are forked from the worker's main process. The core writer already starts
afresh in a child (os.register_at_fork: empty queue, its thread started on the first span) and
the local store opens its own connection there; worker_process_init only drops execution
records inherited from the parent. Children leave through os._exit, which skips atexit, so
worker_process_shutdown (sent in the child as it exits) drains the writer, and worker_shutdown
does the same in the main process, where the solo and threads pools run tasks, once a warm
shutdown has let running tasks finish.

A child recycled by max_tasks_per_child drains right after its last task instead, before it
reports the task done: the parent may hand a new job to a child it still believes alive, and
that job waits until the child is gone, so the child's exit must stay as short as Celery's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmobs_core import LLMObs
from llmobs_core._adapter import (
    active_tracer,
    warn_limited,
)

from .execution import count_fault, open_executions, running_here
from .options import configuration


class Recycling:
    """max_tasks_per_child as the worker's main process read it (children inherit it through
    fork), and the tasks this child has run."""

    limit: int | None = None
    in_child = False
    executed = 0


def on_worker_init(sender: Any = None, **_: Any) -> None:
    limit = getattr(sender, "max_tasks_per_child", None)
    Recycling.limit = limit if isinstance(limit, int) and limit > 0 else None


def on_worker_process_init(**_: Any) -> None:
    try:
        Recycling.in_child, Recycling.executed = True, 0
        open_executions.clear()
        running_here.stack.clear()
    except Exception as exc:
        count_fault("worker_process_init", exc)


def task_done(request: Any) -> None:
    """After each task (`request`: the request dict Celery ran it with): drain now if this
    prefork child is about to be recycled."""
    if not Recycling.in_child or Recycling.limit is None:
        return
    try:
        if isinstance(request, Mapping) and request.get("is_eager"):
            return  # run inside another task: not a job of the pool's
        Recycling.executed += 1
        if Recycling.executed >= Recycling.limit:
            drain("recycled worker process")
    except Exception as exc:
        count_fault("task_done", exc)


def on_worker_process_shutdown(**_: Any) -> None:
    drain("worker process")


def on_worker_shutdown(**_: Any) -> None:
    drain("worker")


def drain(which: str) -> None:
    if active_tracer() is None:
        return
    timeout = configuration().options.flush_timeout
    try:
        delivered = LLMObs.flush(timeout)
    except Exception as exc:
        count_fault(f"{which} shutdown", exc)
        return
    if not delivered:
        warn_limited("celery.drain", "llmobs: the %s exited before its spans were delivered "
                     "(flush_timeout=%ss); some may be lost", which, timeout)
