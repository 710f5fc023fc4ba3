"""A deterministic fake model server speaking the OpenAI and Anthropic HTTP APIs (server.py)."""

from .server import FakeModelServer

__all__ = ["FakeModelServer"]
