"""`llmobs ui`: a local, read-only web viewer over the trace store, and the one-file HTML export
of a trace (`llmobs show TRACE_ID --html FILE`). Needs the `ui` extra (jinja2, starlette,
uvicorn); docs/viewer.md tells what it shows and how it keeps stored content harmless."""

from .app import create_app
from .export import render_trace_html

__all__ = ["create_app", "render_trace_html"]
