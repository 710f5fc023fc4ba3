"""Which LLM client integrations to patch, read from the environment as ddtrace reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .config import parse_bool

INTEGRATIONS = ("anthropic", "openai")


def integrations_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The integrations to patch, as ddtrace reads its settings: all of them, less any turned off
    by DD_TRACE_<NAME>_ENABLED=false or by DD_PATCH_MODULES ("openai:false,anthropic:true");
    DD_PATCH_MODULES wins where both are set. A value that is not a boolean raises."""
    env = os.environ if environ is None else environ
    chosen = {name: parse_bool(env.get(f"DD_TRACE_{name.upper()}_ENABLED"),
                               f"DD_TRACE_{name.upper()}_ENABLED") is not False
              for name in INTEGRATIONS}
    for entry in (env.get("DD_PATCH_MODULES") or "").split(","):
        if not entry.strip():
            continue
        name, _, value = entry.partition(":")
        enabled = parse_bool(value, f"DD_PATCH_MODULES entry {entry.strip()!r}")
        if name.strip().lower() in chosen and enabled is not None:
            chosen[name.strip().lower()] = enabled
    return tuple(name for name in INTEGRATIONS if chosen[name])
