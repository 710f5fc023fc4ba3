"""Starting and stopping: what LLMObs.enable() and disable() do once their arguments are
gathered."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ._log import log, warn_limited
from .config import parse_bool, resolve
from .export import sinks_for
from .export.writer import Writer
from .integration_settings import integrations_from_env
from .tracer import Tracer, install, state, uninstall


def start(settings: dict[str, Any], integrations_enabled: bool) -> None:
    """Install a tracer for `settings` (Config's fields by name), unless DD_LLMOBS_ENABLED is
    false or one is installed already: as in ddtrace, the first configuration stays."""
    if parse_bool(os.environ.get("DD_LLMOBS_ENABLED"), "DD_LLMOBS_ENABLED") is False:
        log.info("llmobs: DD_LLMOBS_ENABLED is false; enable() does nothing")
        return
    if state.tracer is not None:
        log.info("llmobs: already enabled; this enable() call is ignored and the first "
                 "configuration kept (call LLMObs.disable() first to change it)")
        return
    config = resolve(settings)
    integrations = integrations_from_env() if integrations_enabled else ()
    writer = Writer(sinks_for(config), config.static_tags(), config.span_processor)
    install(Tracer(config, writer))
    # -- LLM client integrations (llmobs_core/integrations/) --
    from .integrations import _registry

    _registry.apply(integrations)


def stop() -> None:
    from .integrations import _registry

    _registry.unpatch_all()
    tracer = uninstall()
    if tracer is not None:
        tracer.shutdown()


def register_processor(processor: Callable[[Any], Any] | None) -> None:
    """LLMObs.register_processor(): replace the running configuration's processor."""
    tracer = state.tracer
    if tracer is None:
        warn_limited("register_processor", "llmobs: register_processor() before enable() "
                     "has no effect; pass span_processor= to enable() or call it after")
        return
    if processor is not None and not callable(processor):
        raise TypeError(f"processor must be callable, not {type(processor).__name__}")
    tracer.writer.set_processor(processor)
