"""Datadog's x-datadog-* headers.

x-datadog-tags follows ddtrace's tagset grammar: comma-separated key=value, keys printable ASCII
without space, "," or "=", values printable ASCII without ",", surrounding spaces trimmed; ddtrace
rejects the whole header when it is longer than 512 characters or has one bad character.
"""

from __future__ import annotations

from collections.abc import Callable

from .common import (
    MAX_64,
    TraceHeaders,
    add_unique,
    fit,
    is_printable_ascii,
    log,
    new_tuple,
    parse_decimal,
    parse_hex,
    parse_priority,
)

TRACE_ID = "x-datadog-trace-id"
PARENT_ID = "x-datadog-parent-id"
SAMPLING_PRIORITY = "x-datadog-sampling-priority"
TAGS = "x-datadog-tags"
TAGS_MAX = 512
_PREFIX = "_dd.p."


def can_carry(value: str) -> bool:
    return is_printable_ascii(value) and "," not in value and value == value.strip(" ")


def encode(
    apm_trace_id: int,
    span_id: int,
    sampling_priority: int,
    required: dict[str, str],
    optional: list[tuple[str, str]],
) -> dict[str, str]:
    low = apm_trace_id & MAX_64
    if not low:
        log.debug("llmobs propagation: trace id %032x has zero low bits; Datadog headers skipped",
                  apm_trace_id)
        return {}
    extra = []
    for key, value in optional:
        if can_carry(value):
            extra.append((key, f"{_PREFIX}{key}={value}"))
        else:
            log.debug("llmobs propagation: %s has characters %s cannot carry; left out", key, TAGS)
    items = [f"{_PREFIX}{key}={value}" for key, value in required.items()]
    return {
        TRACE_ID: str(low),
        PARENT_ID: str(span_id),
        SAMPLING_PRIORITY: str(sampling_priority),
        TAGS: ",".join(fit(items, extra, ",", TAGS_MAX, TAGS)),
    }


def decode(get: Callable[[str], str | None]) -> TraceHeaders | None:
    low_text = get(TRACE_ID)
    if low_text is None:  # most requests: no Datadog headers at all
        return None
    low = parse_decimal(low_text, MAX_64)
    parent_id = parse_decimal(get(PARENT_ID), MAX_64)
    if low is None or parent_id is None:
        return None
    tags = decode_tags(get(TAGS))
    high = parse_hex(tags.get("tid"), 16)
    trace_id = high << 64 | low if high else low
    priority = parse_priority(get(SAMPLING_PRIORITY))
    return new_tuple(TraceHeaders, (trace_id, parent_id, priority, tags))


def decode_tags(header: str | None) -> dict[str, str]:
    """The _dd.p.* members, prefix removed; malformed members are skipped one by one."""
    tags: dict[str, str] = {}
    if not header:
        return tags
    conflicts: set[str] = set()
    for member in header.split(","):
        key, sep, value = member.partition("=")
        value = value.strip(" ")
        if not (sep and key.startswith(_PREFIX) and value):
            continue
        if " " in key or not is_printable_ascii(key) or not is_printable_ascii(value):
            log.debug("llmobs propagation: malformed %s member skipped", TAGS)
            continue
        add_unique(tags, conflicts, key[len(_PREFIX):], value)
    return tags
