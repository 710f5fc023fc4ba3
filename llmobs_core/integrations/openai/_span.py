"""Opening the span of an OpenAI call: its name and provider from the client's base URL (as
Datadog's SDK does), a workflow span instead when the base URL is an instrumented proxy."""

from __future__ import annotations

from typing import Any

from ..._adapter import LLMObsSpan, active_tracer, instrumented_proxy_urls, start_span
from .._values import get, proxy_match

# (substring of the base URL, model_provider, span name prefix), checked in this order.
PROVIDERS = (
    ("azure", "azure_openai", "AzureOpenAI"),
    ("deepseek", "deepseek", "Deepseek"),
    ("openai", "openai", "OpenAI"),
)
UNKNOWN = ("unknown", "OpenAI")


def base_url_of(resource: Any) -> str:
    client = getattr(resource, "_client", None)
    return str(getattr(client, "base_url", "") or "")


def provider_of(resource: Any, base_url: str) -> tuple[str, str]:
    """(model_provider, span name prefix). An Azure client is Azure whatever its URL; other
    hosts are matched by name; a host none of them names gives "unknown", as Datadog's SDK."""
    if "Azure" in type(getattr(resource, "_client", None)).__name__:
        return PROVIDERS[0][1:]
    lowered = base_url.lower()
    for needle, provider, prefix in PROVIDERS:
        if needle in lowered:
            return provider, prefix
    return UNKNOWN


def open_span(resource: Any, kind: str, operation: str,
              kwargs: dict[str, Any]) -> tuple[LLMObsSpan, bool] | None:
    """The call's span and whether it goes through a proxy; None while llmobs is disabled."""
    if active_tracer() is None:
        return None
    base_url = base_url_of(resource)
    provider, prefix = provider_of(resource, base_url)
    proxy = proxy_match(base_url, instrumented_proxy_urls())
    model = get(kwargs, "model")
    span = start_span("workflow" if proxy else kind, f"{prefix}.{operation}",
                      model_name=model if isinstance(model, str) else None,
                      model_provider=provider)
    return (span, proxy) if isinstance(span, LLMObsSpan) else None
