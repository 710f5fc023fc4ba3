"""llmobs: LLM observability in the shape of Datadog's LLM Observability SDK."""

from .api import LLMObs
from .context import ContextThreadPoolExecutor, bind_context
from .export.base import Sink
from .span import KINDS, LLMObsSpan

__all__ = ["ContextThreadPoolExecutor", "KINDS", "LLMObs", "LLMObsSpan", "Sink", "bind_context"]


def _enable_from_environment() -> None:
    """DD_LLMOBS_ENABLED=true enables llmobs at import, configured from the environment."""
    import os

    from ._log import log
    from .config import parse_bool

    try:
        if parse_bool(os.environ.get("DD_LLMOBS_ENABLED"), "DD_LLMOBS_ENABLED"):
            LLMObs.enable()
    except Exception as exc:  # a bad environment must not make the host's import fail
        log.error("llmobs: not enabled from the environment: %s", exc)


_enable_from_environment()
