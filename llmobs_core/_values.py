"""Values from the host's code, checked where they enter: ids and names made plain strings (or
refused), annotation data snapshotted into plain JSON values. Nothing here raises on a value or
calls more of the value's own code than reading it needs: a value that cannot be read becomes a
stand-in text, so one bad value costs at most its own field.

Snapshotting at entry, not at export, is deliberate: an object read later on the writer thread
may have changed, or may only be readable where it was made (a request-bound proxy such as
werkzeug's LocalProxy)."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

MAX_TEXT: Final = 1_000_000  # characters kept of one object's repr
MAX_DEPTH: Final = 64  # nesting levels kept; deeper values become a stand-in text
MAX_ITEMS: Final = 100_000  # container items kept in one snapshot; the rest is cut
# What every sink carries as a JSON integer. One Final a line: an unpacking cannot be Final.
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
_PRIMITIVE_KEYS: Final = {True: "true", False: "false", None: "null"}
TRUNCATED: Final = "...[truncated]"
_SURROGATE: Final = re.compile(f"[{chr(0xD800)}-{chr(0xDFFF)}]")  # no surrogate literal: mypyc
# str.isascii called as a function: the compiled build pays half of what text.isascii() costs.
is_ascii: Final = str.isascii


def clean_text(text: str) -> str:
    """`text` as an exact str that UTF-8 can encode: lone surrogates become U+FFFD."""
    if type(text) is not str:
        text = str.__str__(text)
    if is_ascii(text):
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def safe_repr(value: Any, limit: int = 200) -> str:
    """repr(value), clipped to `limit` characters, or a stand-in when repr() raises."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} whose repr() failed>"
    if len(text) > limit:
        text = text[:limit] + TRUNCATED
    return clean_text(text)


def as_name(value: Any) -> str | None:
    """An id or a name as a plain, non-empty string: strings as they are (made encodable),
    integers, finite floats and UUIDs written out; None for anything else (the caller warns)."""
    kind = type(value)
    if kind is str:
        return (value if is_ascii(value) else clean_text(value)) or None
    if issubclass(kind, str):
        return clean_text(value) or None
    if issubclass(kind, int) and not issubclass(kind, bool):
        return _int_text(value)
    if issubclass(kind, float):
        return float.__repr__(value) if math.isfinite(value) else None
    if kind is uuid.UUID:
        return str(value)
    return None


def _int_text(value: int) -> str | None:
    try:
        return int.__repr__(value)
    except ValueError:  # over sys.get_int_max_str_digits()
        return None


def plain(value: Any) -> Any:
    """A snapshot of `value` made only of str, int, float, bool, None, lists and dicts with
    string keys: containers copied (cycles, depth and size cut with a marker), every other
    object replaced by its repr. Never raises."""
    kind = type(value)
    if kind is str:
        return value if is_ascii(value) else clean_text(value)
    if kind is bool or value is None:
        return value
    if kind is int:
        return value if _INT_MIN <= value <= _INT_MAX else _int_text(value) or "<int>"
    if kind is float:
        return value if math.isfinite(value) else float.__repr__(value)
    if kind is dict:  # the common case, a flat dict of plain values, copied in one call
        flat: dict[Any, Any] = value  # typed: the compiled build iterates it as a dict
        for key, item in flat.items():
            item_type = type(item)
            if type(key) is not str or not is_ascii(key) or not (
                    (item_type is str and is_ascii(item)) or item_type is bool or item is None
                    or (item_type is int and _INT_MIN <= item <= _INT_MAX)
                    # math.isfinite() without a call (a Python call when compiled): a finite
                    # float less itself is 0.0, inf or nan less itself is nan
                    or (type(item) is float and item - item == 0.0)):
                break
        else:
            return flat.copy()
    return _Snapshot().take(value, 0)


class _Snapshot:
    __slots__ = ("items", "path")

    def __init__(self) -> None:
        self.items = 0
        self.path: set[int] = set()  # ids of the containers being copied, to find cycles

    def take(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is bool or value is None:
            return value
        if issubclass(kind, str):
            return clean_text(value)
        if issubclass(kind, int):
            value = int.__index__(value)
            return value if _INT_MIN <= value <= _INT_MAX else _int_text(value) or "<int>"
        if issubclass(kind, float):
            value = float.__float__(value)
            return value if math.isfinite(value) else float.__repr__(value)
        container = issubclass(kind, (dict, list, tuple, set, frozenset)) or (
            issubclass(kind, Mapping))
        if not container:
            return safe_repr(value, MAX_TEXT)
        if depth >= MAX_DEPTH:
            return f"<{kind.__name__} nested over {MAX_DEPTH} levels>"
        key = id(value)
        if key in self.path:
            return f"<cycle: {kind.__name__}>"
        self.path.add(key)
        try:
            if issubclass(kind, (dict, Mapping)):
                return self._mapping(value, kind, depth)
            return self._sequence(value, kind, depth)
        except Exception:  # a container whose own iteration raises
            return f"<{kind.__name__} that could not be read>"
        finally:
            self.path.discard(key)

    def _mapping(self, value: Any, kind: type, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in (dict.items(value) if issubclass(kind, dict) else value.items()):
            if self.items >= MAX_ITEMS:
                out[TRUNCATED] = TRUNCATED
                break
            self.items += 1
            out[self.key(key)] = self.take(item, depth + 1)
        return out

    def _sequence(self, value: Any, kind: type, depth: int) -> list[Any]:
        out = []
        iterate = list.__iter__ if issubclass(kind, list) else (
            tuple.__iter__ if issubclass(kind, tuple) else iter)
        for item in iterate(value):
            if self.items >= MAX_ITEMS:
                out.append(TRUNCATED)
                break
            self.items += 1
            out.append(self.take(item, depth + 1))
        return out

    @staticmethod
    def key(key: Any) -> str:
        """A key as JSON writes it: strings kept, numbers written out, anything else its repr."""
        kind = type(key)
        if kind is str:
            return key if is_ascii(key) else clean_text(key)
        if kind is bool or key is None:
            return _PRIMITIVE_KEYS[key]
        name = as_name(key)
        return name if name is not None else safe_repr(key)


def as_text(value: Any) -> str:
    """Any object as a string: strings as they are, everything else as JSON where it can be,
    and as its repr (or a placeholder) where it cannot. Never raises."""
    if isinstance(value, str):
        return value
    try:
        text = json.dumps(value, default=repr_or_stand_in, ensure_ascii=False)
    except Exception:  # circular references, hostile __repr__, mutation while encoding
        text = repr_or_stand_in(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + TRUNCATED


def repr_or_stand_in(value: Any) -> str:
    """repr(value), or a stand-in when repr() raises."""
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
