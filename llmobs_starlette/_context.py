"""The request span, kept in a ContextVar of its own so it stays reachable while a child span is
the active one."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

from llmobs_core import LLMObsSpan

request_span_var: Final[ContextVar[LLMObsSpan | None]] = ContextVar(
    "llmobs_starlette_request_span", default=None
)


def current_span() -> LLMObsSpan | None:
    """The span of the request being handled, even while a child span is active; None outside
    a traced request (llmobs disabled, an excluded path, or no LLMObsMiddleware)."""
    return request_span_var.get()
