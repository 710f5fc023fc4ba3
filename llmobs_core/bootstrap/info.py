"""`llmobs-run --info`: the configuration a program would run with, read from the environment
as `LLMObs.enable()` reads it. Secrets are shown as set or not set, never their value."""

from __future__ import annotations

import os

from ..config import parse_bool, resolve
from ..export import default_exporters
from ..integration_settings import integrations_from_env
from ..integrations import _registry
from ..store.location import resolve_store_path


def describe() -> str:
    lines = ["llmobs-run: effective configuration"]
    try:
        enabled = parse_bool(os.environ.get("DD_LLMOBS_ENABLED"), "DD_LLMOBS_ENABLED")
        config = resolve({})
        chosen = integrations_from_env()
    except (ValueError, TypeError) as exc:
        return f"llmobs-run: the configuration is invalid: {exc}\n"
    sinks = config.exporter or default_exporters(config)
    names = [sinks] if isinstance(sinks, str) else list(sinks)
    lines += [
        f"  enabled:      {'no (DD_LLMOBS_ENABLED is false)' if enabled is False else 'yes'}",
        f"  ml_app:       {config.default_ml_app}",
        f"  service:      {config.service or '-'}",
        f"  env:          {config.env or '-'}",
        f"  version:      {config.version or '-'}",
        f"  sinks:        {', '.join(str(name) for name in names)}",
    ]
    if "local" in names:
        lines.append(f"  local store:  {resolve_store_path()}")
    if "datadog" in names:
        mode = "agentless" if config.agentless_enabled else "agent"
        lines.append(f"  datadog:      {mode}, site {config.site}, "
                     f"API key {'set' if config.api_key else 'not set'}")
    if config.otlp_endpoint:
        lines.append(f"  otlp:         {config.otlp_endpoint}")
    if config.instrumented_proxy_urls:
        lines.append(f"  proxy URLs:   {', '.join(config.instrumented_proxy_urls)}")
    lines.append("  integrations:")
    for name, state in _registry.status(chosen).items():
        found = f"{name} {state['version']} found" if state["version"] else f"{name} not found"
        lines.append(f"    {name:<10} {'on' if state['enabled'] else 'off'}  ({found})")
    return "\n".join(lines) + "\n"
