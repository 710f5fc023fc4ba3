"""The one ContextVar that says what the current parent is: a live span, a remote context
extracted from headers, or nothing."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

current_parent: Final[contextvars.ContextVar[Any]] = contextvars.ContextVar(
    "llmobs_current_parent", default=None
)

# The auto-instrumented LLM span whose stream this context is reading, with the parent that was
# active when the stream handed out its first item: (span, parent) or None. Until the stream
# ends, LLMObs.current_span() (so annotate() and export_span()) gives that span while the same
# parent is active; it is never the parent of new spans. See docs/integrations-openai.md.
reading_stream: Final[contextvars.ContextVar[tuple[Any, Any] | None]] = contextvars.ContextVar(
    "llmobs_reading_stream", default=None
)

# The annotation contexts entered in this context, outermost first (annotation_context.py).
annotation_contexts: Final[contextvars.ContextVar[tuple[Any, ...]]] = contextvars.ContextVar(
    "llmobs_annotation_contexts", default=()
)

T = TypeVar("T")


def restore(token: contextvars.Token[Any] | None) -> None:
    """Undo a `current_parent.set` from any context. A token from another context (a span
    handed between tasks) is ignored: that context never saw it active, so there is nothing
    to restore."""
    if token is None:
        return
    try:
        current_parent.reset(token)
    except ValueError:
        pass


def stop_reading(token: contextvars.Token[Any] | None) -> None:
    """Undo a `reading_stream.set`; from another context (a stream ended by the garbage
    collector elsewhere) there is nothing to undo."""
    if token is None:
        return
    try:
        reading_stream.reset(token)
    except ValueError:
        pass


def bind_context(fn: Callable[..., T]) -> Callable[..., T]:
    """Return `fn` bound to a copy of the caller's context, so the active span (and every other
    contextvar) follows it into a thread that does not copy context itself, such as
    ``ThreadPoolExecutor.submit`` or ``threading.Thread(target=...)``."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return run_in_context


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitter's context, so spans opened
    in them are children of the span that was active at submit time."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(bind_context(fn), *args, **kwargs)
