"""A span's error as ddtrace records it, (type, message, stack), read from an exception that
may misbehave: whatever its __str__ or traceback does, the span gets its type at least."""

from __future__ import annotations

import traceback
from typing import Final

from ._values import clean_text

_MAX_STACK_CHARS: Final = 8000


def error_of(exc: BaseException) -> tuple[str, str, str]:
    return (_qualified_name(type(exc)), _message(exc), _stack(exc))


def _qualified_name(cls: type) -> str:
    """ddtrace's error type, module-qualified (builtins.ValueError), with the class's
    qualified name (Outer.Error, where ddtrace writes Error)."""
    try:
        module, qualname = cls.__module__, cls.__qualname__
        if type(module) is not str or type(qualname) is not str:  # rewritten by a metaclass
            return clean_text(type.__repr__(cls))
    except Exception:
        return "<unreadable exception type>"
    return clean_text(f"{module}.{qualname}")


def _message(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() failed>"
    return message if type(message) is str and message.isascii() else clean_text(message)


def _stack(exc: BaseException) -> str:
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        return f"<the traceback of {type(exc).__name__} could not be formatted>"
    return clean_text(stack[-_MAX_STACK_CHARS:])
