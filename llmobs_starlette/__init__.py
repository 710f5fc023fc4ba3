"""llmobs for ASGI applications (Starlette, FastAPI, any ASGI app): LLMObsMiddleware gives
each request a span that continues the caller's trace; current_span() reaches it."""

from ._context import current_span
from ._request import SPAN_ID_HEADER, TRACE_ID_HEADER
from ._scope import request_header
from .middleware import LLMObsMiddleware

__all__ = ["LLMObsMiddleware", "SPAN_ID_HEADER", "TRACE_ID_HEADER", "current_span",
           "request_header"]
