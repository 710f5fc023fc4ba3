"""Auto-instrumentation of the `openai` client: chat completions, the Responses API and
embeddings, sync and async, streamed or not (docs/integrations-openai.md). Enabled by
`LLMObs.enable()`, `import llmobs_core.auto` or `llmobs-run`; `patch()` / `unpatch()` by hand."""

from ._patching import patch, unpatch

__all__ = ["patch", "unpatch"]
