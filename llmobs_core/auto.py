"""`import llmobs_core.auto`, first thing in a program: enable llmobs from the environment
(DD_LLMOBS_ML_APP, DD_API_KEY, ... as `LLMObs.enable()` reads them) and patch the installed
LLM clients, as the `llmobs-run` launcher does (docs/launcher.md)."""

from __future__ import annotations

from .api import LLMObs

if not LLMObs.enabled():
    LLMObs.enable()
