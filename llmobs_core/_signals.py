"""Draining on SIGTERM. A process killed by a signal skips atexit, so what the writer still
holds would be lost. When SIGTERM has its default action, llmobs takes it over: drain within
the shutdown timeout, then die of SIGTERM exactly as before. A handler the host (or its server:
uvicorn, gunicorn, Celery) installed is never replaced."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any


def install_sigterm_drain(drain: Callable[[], None]) -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False

        def drain_then_terminate(signum: int, frame: Any) -> None:
            try:
                drain()
            finally:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        drain_then_terminate.llmobs_drain = True  # type: ignore[attr-defined]
        signal.signal(signal.SIGTERM, drain_then_terminate)
    except (ValueError, OSError):  # no signals here (an embedded interpreter, a sandbox)
        return False
    return True


def uninstall_sigterm_drain() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if getattr(signal.getsignal(signal.SIGTERM), "llmobs_drain", False):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass
