"""The process-wide state while llmobs is enabled: its configuration and its writer, and the
function every span-opening path goes through."""

from __future__ import annotations

import atexit
from functools import lru_cache
from typing import Any

from ._log import warn_limited
from ._signals import install_sigterm_drain, uninstall_sigterm_drain
from .config import Config, ml_app_problem
from .context import current_parent
from .export.writer import Writer
from .span import LLMObsSpan

ACTIVE: Any = object()  # start_span's default parent: the one active in the current context


class Tracer:
    def __init__(self, config: Config, writer: Writer) -> None:
        self.config = config
        self.writer = writer
        self.default_ml_app = config.default_ml_app
        self.enqueue = writer.enqueue

    def start_span(
        self,
        kind: str,
        name: str,
        session_id: str | None = None,
        ml_app: str | None = None,
        model_name: str | None = None,
        model_provider: str | None = None,
        parent: Any = ACTIVE,
    ) -> LLMObsSpan:
        """Open a span under `parent`: a span, a remote context, None for a new trace, or, by
        default, whatever is active in the current context."""
        if parent is ACTIVE:
            parent = current_parent.get()
        if parent is None:
            inherited_app = self.default_ml_app
            session_id = session_id or None
        else:
            inherited_app = parent.ml_app or self.default_ml_app
            session_id = session_id or parent.session_id
        if ml_app is not None and not (isinstance(ml_app, str) and _valid_ml_app(ml_app)):
            warn_limited("span.ml_app", "llmobs: ml_app %r is invalid (%s); using %r",
                         ml_app, ml_app_problem(ml_app), inherited_app)
            ml_app = None
        return LLMObsSpan(kind, name, parent, ml_app or inherited_app, session_id,
                          self.enqueue, model_name, model_provider)

    def shutdown(self) -> None:
        self.writer.shutdown(self.config.shutdown_timeout)


@lru_cache(maxsize=256)
def _valid_ml_app(name: Any) -> bool:
    return ml_app_problem(name) is None


class _Global:
    """Holds the one active tracer; None means disabled."""

    tracer: Tracer | None = None
    atexit_registered = False


state = _Global()


def install(tracer: Tracer) -> None:
    state.tracer = tracer
    if not state.atexit_registered:
        atexit.register(_drain_at_exit)
        state.atexit_registered = True
    install_sigterm_drain(_drain_at_exit)


def uninstall() -> Tracer | None:
    tracer, state.tracer = state.tracer, None
    uninstall_sigterm_drain()
    return tracer


def _drain_at_exit() -> None:
    tracer = state.tracer
    if tracer is not None:
        tracer.shutdown()
