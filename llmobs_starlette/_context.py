"""The request span, reached from whatever span is active below it."""

from __future__ import annotations

from llmobs_core._adapter import THIS_SPAN, LLMObsSpan, active_parent


def current_span() -> LLMObsSpan | None:
    """The span of the request being handled, even while a child span is active; None outside
    a traced request (llmobs disabled, an excluded path, or no LLMObsMiddleware)."""
    active = active_parent()
    if type(active) is not LLMObsSpan:
        return None
    unit = active.unit_span
    return active if unit is THIS_SPAN else unit
