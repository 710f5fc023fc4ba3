"""What the Datadog and W3C header codecs share: id parsing, value checks and the size budget."""

from __future__ import annotations

import logging
import re
from typing import Final, NamedTuple, TypeVar

log = logging.getLogger("llmobs")

MAX_64 = 2**64 - 1
MAX_128 = 2**128 - 1
PRIORITY_MIN, PRIORITY_MAX = -255, 255
V = TypeVar("V")

# A NamedTuple made from all its fields in order, without the Python call of its generated
# __new__: what a traced caller's every request pays for each one it reads.
new_tuple: Final = tuple.__new__

_DECIMAL = re.compile(r"[0-9]{1,40}")
_PRIORITY = re.compile(r"-?[0-9]{1,3}")


class TraceHeaders(NamedTuple):
    """One format's reading: its trace and parent ids, priority, and propagated tags.

    Tag keys carry no format prefix: "_dd.p.llmobs_sid" and "t.llmobs_sid" are both "llmobs_sid".
    """

    trace_id: int
    parent_id: int
    sampling_priority: int | None
    tags: dict[str, str]


def parse_decimal(text: str | None, maximum: int) -> int | None:
    if text is None or not _DECIMAL.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= maximum else None


def parse_hex(text: str | None, digits: int) -> int | None:
    """A lowercase hex id of exactly `digits` digits, not all zero. int() also reads "A-F",
    "_", a sign, spaces, "0x" and other scripts' digits: the tests before it leave it only
    [0-9a-f], each a primitive of the compiled build (strip() with a set of characters looked
    each one up: twice the cost of a traceparent's regular expression)."""
    if (text is None or len(text) != digits or not text.isalnum() or "x" in text
            or len(text.encode()) != digits or text.lower() != text):
        return None
    try:
        return int(text, 16) or None
    except ValueError:  # a letter past "f"
        return None


# The priorities tracers send, read without the pattern (a fifth of its cost).
_USUAL_PRIORITIES = {"-1": -1, "0": 0, "1": 1, "2": 2}


def parse_priority(text: str | None) -> int | None:
    usual = _USUAL_PRIORITIES.get(text)  # type: ignore[arg-type]
    if usual is not None:
        return usual
    if text is None or not _PRIORITY.fullmatch(text):
        return None
    value = int(text)
    return value if PRIORITY_MIN <= value <= PRIORITY_MAX else None


def add_unique(into: dict[str, V], conflicts: set[str], key: str, value: V) -> None:
    """Add key=value; a key seen twice with different values is dropped as ambiguous."""
    if key in conflicts:
        return
    if into.setdefault(key, value) != value:
        del into[key]
        conflicts.add(key)
        log.debug("llmobs propagation: %r appears twice with different values; ignored", key)


def is_printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable()


def fit(
    required: list[str], optional: list[tuple[str, str]], sep: str, limit: int, header: str
) -> list[str]:
    """Keep every required item, then each optional (name, item) in order while the total fits."""
    kept = list(required)
    for name, item in optional:
        if len(sep.join([*kept, item])) <= limit:
            kept.append(item)
        else:
            log.debug("llmobs propagation: %s left out of %s to stay within %d characters",
                      name, header, limit)
    return kept
