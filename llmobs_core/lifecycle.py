"""Starting and stopping: what LLMObs.enable() and disable() do once their arguments are
gathered."""

from __future__ import annotations

import os
from typing import Any

from ._log import log
from .config import integrations_from_env, parse_bool, resolve
from .export import sinks_for
from .export.writer import Writer
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
