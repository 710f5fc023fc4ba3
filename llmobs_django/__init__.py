"""llmobs for Django: a span per request that continues the caller's trace.

Add ``"llmobs_django"`` to INSTALLED_APPS and ``"llmobs_django.middleware.LLMObsMiddleware"`` to
MIDDLEWARE, and configure it with the ``LLMOBS`` settings dict (see docs/django.md).
"""

__all__: list[str] = []
