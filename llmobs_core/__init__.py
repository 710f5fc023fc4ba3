"""llmobs: LLM observability in the shape of Datadog's LLM Observability SDK."""

from .api import LLMObs
from .context import ContextThreadPoolExecutor, bind_context
from .export.base import Sink
from .span import KINDS, LLMObsSpan

__all__ = ["KINDS", "ContextThreadPoolExecutor", "LLMObs", "LLMObsSpan", "Sink", "bind_context"]
