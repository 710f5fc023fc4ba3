"""Reading the LLM clients' arguments and responses, whatever their form: dicts (what users
pass) or the clients' pydantic models (what they return). Nothing here encodes JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .._adapter import warn_limited

_SENTINELS = frozenset(("Omit", "NotGiven"))


def given(value: Any) -> bool:
    """False for None and for the clients' "argument not given" sentinels (Omit, NotGiven)."""
    return value is not None and type(value).__name__ not in _SENTINELS


def get(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key] for a mapping, obj.key for a model; `default` when absent or not given."""
    value = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
    return value if given(value) else default


def metadata_from(kwargs: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The allow-listed request options that were given. A class (a pydantic response_format)
    is recorded by its name; other values are kept as they are, for the writer to encode."""
    metadata = {}
    for key in keys:
        value = kwargs.get(key)
        if given(value):
            metadata[key] = value.__name__ if isinstance(value, type) else value
    return metadata


def json_value(text: Any) -> Any:
    """Tool-call arguments: the parsed JSON value, or the text as it is when it is not JSON."""
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def text_of(content: Any, separator: str = "\n") -> str:
    """A message's content as text: strings as they are, content parts joined (text parts by
    their text, other parts by a marker such as "[image_url]")."""
    if content is None or not given(content):
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        return separator.join(_part_text(part) for part in content)
    return _part_text(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    for key in ("text", "refusal", "thinking"):
        value = get(part, key)
        if isinstance(value, str):
            return value
    return f"[{get(part, 'type', type(part).__name__)}]"


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """[{name, description, schema}] from OpenAI chat tools ({"type": "function", "function":
    {...}}), Responses tools (flat) or Anthropic tools (input_schema)."""
    if not given(tools):
        return None
    definitions = []
    for tool in tools:
        function = get(tool, "function") or tool
        name = get(function, "name")
        if name is None:
            continue
        definition: dict[str, Any] = {"name": name, "description": get(function, "description")
                                      or ""}
        schema = get(function, "parameters") or get(function, "input_schema")
        if schema is not None:
            definition["schema"] = schema
        definitions.append(definition)
    return definitions or None


def set_metrics(span: Any, metrics: Mapping[str, Any]) -> None:
    """Merge token counts into the span, keeping only numbers (a missing count stays absent)."""
    values = {key: value for key, value in metrics.items()
              if isinstance(value, (int, float)) and not isinstance(value, bool)}
    if not values:
        return
    if span.metrics is None:
        span.metrics = values
    else:
        span.metrics.update(values)


def set_metadata(span: Any, metadata: Mapping[str, Any]) -> None:
    """Merge metadata into the span; what the user annotated wins over what was read."""
    if not metadata:
        return
    if span.metadata is None:
        span.metadata = dict(metadata)
    else:
        span.metadata = {**metadata, **span.metadata}


class ShapeGuard:
    """`with ShapeGuard("openai.chat"):` around reading one part of a response: a shape the
    integration does not understand costs that part only, with one rate-limited warning (it is
    the response's oddity, not a fault of llmobs's)."""

    __slots__ = ("place",)

    def __init__(self, place: str) -> None:
        self.place = place

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        warn_limited("shape." + self.place,
                     "llmobs: could not read part of a %s response (%s: %s); the span keeps "
                     "what could be read", self.place, type(exc).__name__, exc)
        return True


def proxy_match(base_url: str, proxy_urls: Iterable[str]) -> bool:
    """Whether a client's base URL is one of the instrumented proxies: equal to one, or below
    it, trailing slashes ignored ("http://proxy:4000" matches ".../v1" and ".../v1/")."""
    base = base_url.rstrip("/")
    for url in proxy_urls:
        url = url.rstrip("/")
        if url and (base == url or base.startswith(url + "/")):
            return True
    return False
