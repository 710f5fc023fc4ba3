"""FastAPI dependency for the request span: ``async def chat(span: RequestSpan): ...``.
This is the only module of llmobs_starlette that imports FastAPI."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from llmobs_core._adapter import NOOP_SPAN, LLMObsSpan, NoopSpan

from ._context import current_span

__all__ = ["RequestSpan", "request_span"]


async def request_span() -> LLMObsSpan | NoopSpan:
    """The request's span; a no-op span (that annotate() ignores) when the request is not
    traced, so endpoint code runs the same with llmobs disabled."""
    span = current_span()
    return NOOP_SPAN if span is None else span


RequestSpan = Annotated[LLMObsSpan | NoopSpan, Depends(request_span)]
