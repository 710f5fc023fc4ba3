"""annotate(prompt=...) and annotate(tool_definitions=...): checked and reshaped into what
ddtrace 4.x sends (meta.input.prompt, meta.tool_definitions). A prompt is kept on llm spans only;
an llm span without one takes its parent's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._log import warn_limited
from ._values import clean_text, plain, safe_repr
from .annotations import Rejected, _dropped

if TYPE_CHECKING:
    from .span import LLMObsSpan

DEFAULT_PROMPT_NAME = "unnamed-prompt"
PROMPT_TAG = "prompt_tracking_instrumentation_method"
_STRING_KEYS = ("version", "label", "template", "prompt_uuid", "prompt_version_uuid")


def prompt_of(data: Any, ml_app: str) -> dict[str, Any]:
    """The wire form of a prompt dict: id (default "<ml_app>_unnamed-prompt"), ml_app,
    version, template or chat_template, variables, tags, and the RAG variable names under
    ddtrace's keys. Raises Rejected saying what is wrong."""
    if not issubclass(type(data), Mapping):
        raise Rejected(f"prompt must be a dict, not {type(data).__name__}")
    if data.get("template") and data.get("chat_template"):
        raise Rejected("give template or chat_template, not both")
    prompt: dict[str, Any] = {"id": _string(data, "id") or f"{ml_app}_{DEFAULT_PROMPT_NAME}",
                              "ml_app": ml_app}
    for key in _STRING_KEYS:
        value = _string(data, key)
        if value:
            prompt[key] = value
    chat_template = data.get("chat_template")
    if chat_template:
        prompt["chat_template"] = _chat_template(chat_template)
    variables = data.get("variables")
    if variables:
        prompt["variables"] = _string_keyed("variables", variables)
    tags = data.get("tags")
    if tags:
        checked = _string_keyed("tags", tags)
        if not all(type(value) is str for value in checked.values()):
            raise Rejected("prompt tags must map strings to strings")
        prompt["tags"] = checked
    prompt["_dd_context_variable_keys"] = _names(data, "rag_context_variables", "context")
    prompt["_dd_query_variable_keys"] = _names(data, "rag_query_variables", "question")
    return prompt


def _string(data: Mapping[Any, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not issubclass(type(value), str):
        raise Rejected(f"prompt {key} must be a string, not {type(value).__name__}")
    return clean_text(value)


def _string_keyed(what: str, value: Any) -> dict[str, Any]:
    if not issubclass(type(value), Mapping) or not all(issubclass(type(k), str) for k in value):
        raise Rejected(f"prompt {what} must be a dict with string keys")
    copied = plain(value)
    if type(copied) is not dict:
        raise Rejected(f"prompt {what} could not be read")
    return copied


def _names(data: Mapping[Any, Any], key: str, default: str) -> list[str]:
    value = data.get(key) or [default]
    if not issubclass(type(value), (list, tuple)) or not all(
            issubclass(type(item), str) for item in value):
        raise Rejected(f"prompt {key} must be a list of strings")
    return [clean_text(item) for item in value]


def _chat_template(value: Any) -> list[dict[str, str]]:
    if not issubclass(type(value), (list, tuple)):
        raise Rejected("chat_template must be a list of messages or placeholders")
    items = []
    for item in value:
        if not issubclass(type(item), Mapping):
            raise Rejected("each chat_template entry must be a dict")
        if item.get("type") == "placeholder":
            name = item.get("name")
            if not (issubclass(type(name), str) and name):
                raise Rejected("a chat_template placeholder needs a non-empty string name")
            items.append({"type": "placeholder", "name": clean_text(name)})
        elif "role" in item and "content" in item:
            items.append({"role": clean_text(str(item["role"])),
                          "content": clean_text(str(item["content"]))})
        else:
            raise Rejected("each chat_template message needs role and content")
    return items


def tool_definitions_of(data: Any) -> list[dict[str, Any]]:
    """Tool definitions {name, description?, schema?, version?}: a definition without a name is
    dropped, a field of the wrong type left out (as ddtrace does)."""
    if not issubclass(type(data), (list, tuple)):
        raise Rejected("tool_definitions must be a list of dicts")
    definitions = []
    for item in data:
        if not issubclass(type(item), Mapping):
            continue
        name = item.get("name")
        if not (issubclass(type(name), str) and name):
            continue
        definition: dict[str, Any] = {"name": clean_text(name)}
        description, schema, version = (item.get("description"), item.get("schema"),
                                        item.get("version"))
        if issubclass(type(description), str):
            definition["description"] = clean_text(description)
        if issubclass(type(schema), Mapping):
            definition["schema"] = plain(schema)
        if issubclass(type(version), str):
            definition["version"] = clean_text(version)
        definitions.append(definition)
    return definitions


def apply_prompt(span: LLMObsSpan, data: Any) -> None:
    """annotate(prompt=...): merged into the span's prompt; on a span that is not an llm span
    it is not sent, but the llm spans opened under it take it."""
    try:
        prompt = prompt_of(data, span.ml_app)
    except Exception as exc:  # Rejected, or a hostile object's own fault
        _dropped(span, "prompt", exc)
        return
    if span.kind != "llm":
        warn_limited("annotate.prompt_kind", "llmobs: a prompt is sent on llm spans only; on "
                     "%s span %s it is passed to the llm spans opened under it", span.kind,
                     safe_repr(span.name))
    extras = span.extras or {}
    current = extras.get("prompt")
    span.extras = {**extras, "prompt": {**current, **prompt} if current else prompt}
    if span.tags is None:
        span.tags = {PROMPT_TAG: "annotated"}
    else:
        span.tags[PROMPT_TAG] = "annotated"


def apply_tool_definitions(span: LLMObsSpan, data: Any) -> None:
    """annotate(tool_definitions=...): the tools offered to an llm span's model."""
    if span.kind != "llm":
        warn_limited("annotate.tool_definitions_kind", "llmobs: tool_definitions are kept on "
                     "llm spans only; dropped on %s span %s", span.kind, safe_repr(span.name))
        return
    try:
        span.tool_definitions = tool_definitions_of(data)
    except Exception as exc:
        _dropped(span, "tool_definitions", exc)
