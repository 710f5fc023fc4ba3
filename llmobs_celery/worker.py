"""Worker processes: nothing recorded in a worker is lost when it exits.

Prefork children are forked from the worker's main process. The core writer already starts
afresh in a child (os.register_at_fork: empty queue, its thread started on the first span) and
the local store opens its own connection there; worker_process_init only drops execution
records inherited from the parent. Children leave through os._exit, which skips atexit, so
worker_process_shutdown (sent in the child as it exits, also when max_tasks_per_child recycles
it) drains the writer. worker_shutdown does the same in the main process, where the solo and
threads pools run tasks, after a warm shutdown has let running tasks finish."""

from __future__ import annotations

from typing import Any

from llmobs_core import LLMObs
from llmobs_core._log import warn_limited
from llmobs_core.tracer import state

from . import hooks
from .execution import count_fault, current_execution, open_executions


def on_worker_process_init(**_: Any) -> None:
    try:
        open_executions.clear()
        current_execution.set(None)
    except Exception as exc:
        count_fault("worker_process_init", exc)


def on_worker_process_shutdown(**_: Any) -> None:
    drain("worker process")


def on_worker_shutdown(**_: Any) -> None:
    drain("worker")


def drain(which: str) -> None:
    if state.tracer is None:
        return
    timeout = hooks.config.options.flush_timeout
    try:
        delivered = LLMObs.flush(timeout)
    except Exception as exc:
        count_fault(f"{which} shutdown", exc)
        return
    if not delivered:
        warn_limited("celery.drain", "llmobs: the %s exited before its spans were delivered "
                     "(flush_timeout=%ss); some may be lost", which, timeout)
