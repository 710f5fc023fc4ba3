"""Helpers shared by the fake OpenAI and Anthropic endpoints (see server.py)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

_DIRECTIVE = re.compile(r"fake:(\w+)(?:=([\w.]+))?")
Event = tuple[str | None, Any]  # (SSE event name or None, data: dict or raw str)


def directives(text: str) -> dict[str, str]:
    return {name: value or "" for name, value in _DIRECTIVE.findall(text or "")}


def count_tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text or ""))


def reply_text(prompt: str, index: int = 0) -> str:
    words = " ".join(_DIRECTIVE.sub("", prompt).split()[:12])
    suffix = f" (choice {index})" if index else ""
    return f"Fake answer to: {words}{suffix}"


def reasoning_text(prompt: str) -> str:
    return "Let me think about: " + " ".join(_DIRECTIVE.sub("", prompt).split()[:12])


def pieces(text: str, size: int = 3) -> list[str]:
    """Split text into stream deltas of about `size` words (joined they give the text back)."""
    words = re.findall(r"\S+\s*", text)
    return ["".join(words[i:i + size]) for i in range(0, len(words), size)] or [""]


def sample_json(schema: dict, defs: dict | None = None) -> Any:
    """A deterministic value that satisfies a simple JSON schema (tool arguments, parse())."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return sample_json(defs[schema["$ref"].split("/")[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample_json(options[0], defs)
    kind = schema.get("type", "object")
    if kind == "object":
        return {k: sample_json(v, defs) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample_json(schema.get("items", {}), defs)]
    return {"string": "Paris", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


def fake_id(prefix: str, *parts: Any) -> str:
    return prefix + hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


def vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    return [round((seed[i % 32] - 128) / 128 + i / (10 * dims), 6) for i in range(dims)]


def openai_prompt(messages: list) -> str:
    texts = [text_of(m.get("content")) for m in messages or []
             if isinstance(m, dict) and m.get("role") == "user"]
    return next((t for t in reversed(texts) if t), "")


def text_of(content: Any) -> str:
    """Text of a message content: a string or a list of parts/blocks with "text"."""
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def pick_tool(tools: list, last: dict | None, fx: dict) -> dict | None:
    """The tool to call: fake:tool, tools given, and the last turn is not a tool result."""
    if "tool" not in fx or not tools or not isinstance(last, dict):
        return None
    if last.get("role") == "tool" or last.get("type") == "function_call_output":
        return None
    if isinstance(last.get("content"), list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"]):
        return None
    tool = tools[0]
    spec = tool.get("function", tool)  # chat {"type","function":{...}}; responses/anthropic flat
    schema = spec.get("parameters") or spec.get("input_schema") or {}
    return {"name": spec.get("name", "tool"), "arguments": sample_json(schema)}
