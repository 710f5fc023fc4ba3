"""The one guard around library-side work: a fault of llmobs's own is caught, logged at ERROR
(rate-limited) and counted by place in `LLMObs.stats()["faults"]`; the host's exceptions never
pass through it, since it wraps only llmobs's own work. In the manner of Sentry's
capture_internal_exceptions."""

from __future__ import annotations

import logging
from types import TracebackType

from ._log import warn_limited

faults: dict[str, int] = {}


def record_fault(place: str, exc: BaseException) -> None:
    """Count and log a fault of llmobs's own caught at `place` (e.g. "asgi.start")."""
    faults[place] = faults.get(place, 0) + 1
    warn_limited("fault." + place, "llmobs: internal fault in %s: %s: %s", place,
                 type(exc).__name__, safe_str(exc), level=logging.ERROR)


def safe_str(value: object) -> str:
    """str(value), or a stand-in when its __str__ raises."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} whose str() failed>"


class capture_faults:  # noqa: N801 (used like a function: `with capture_faults("place"):`)
    """`with capture_faults("django.open"): ...` runs the block; an Exception raised in it is
    recorded and swallowed, and execution goes on after the block. BaseExceptions (cancellation,
    KeyboardInterrupt, SystemExit) pass through."""

    __slots__ = ("place",)

    def __init__(self, place: str) -> None:
        self.place = place

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        record_fault(self.place, exc)
        return True


def reset_faults() -> None:
    faults.clear()
