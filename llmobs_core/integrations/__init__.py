"""Integrations with third-party libraries. Each module imports its library at the top, so
import only the one you use: ``from llmobs_core.integrations import httpx as llmobs_httpx``."""
