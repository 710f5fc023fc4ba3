"""The local SQLite trace store: its schema, how events are encoded in it, how batches are
written (`write`) and how the `llmobs` command and the viewer read it (`queries`). It knows
nothing of the writer or the sinks; export/local.py is the sink over it. docs/local-store.md
tells how traces are laid out and why."""
