"""The library's logger, rate-limited so a fault in a hot loop cannot flood the host's logs."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("llmobs")

_INTERVAL_S = 60.0
_last_logged: dict[str, float] = {}
_suppressed: dict[str, int] = {}


def warn_limited(key: str, message: str, *args: object, level: int = logging.WARNING) -> None:
    """Log `message` at most once a minute per `key`, saying how many were held back."""
    now = time.monotonic()
    last = _last_logged.get(key)
    if last is not None and now - last < _INTERVAL_S:
        _suppressed[key] = _suppressed.get(key, 0) + 1
        return
    _last_logged[key] = now
    held_back = _suppressed.pop(key, 0)
    if held_back:
        message += " (%d similar messages were suppressed)"
        args = (*args, held_back)
    log.log(level, message, *args)


def reset_rate_limits() -> None:
    _last_logged.clear()
    _suppressed.clear()
