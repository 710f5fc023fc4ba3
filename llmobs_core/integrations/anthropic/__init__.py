"""Auto-instrumentation of the `anthropic` client: messages, sync and async, streamed or not
(docs/integrations-anthropic.md). Enabled by `LLMObs.enable()`, `import llmobs_core.auto` or
`llmobs-run`; `patch()` / `unpatch()` by hand."""

from ._patching import patch, unpatch

__all__ = ["patch", "unpatch"]
