"""llmobs for ASGI applications (Starlette, FastAPI, any ASGI app): LLMObsMiddleware gives
each request a span that continues the caller's trace; current_span() reaches it."""

from ._context import current_span
from ._request import RESPONSE_HEADER, span_context
from ._scope import request_header
from .middleware import LLMObsMiddleware

__all__ = ["LLMObsMiddleware", "RESPONSE_HEADER", "current_span", "request_header",
           "span_context"]
