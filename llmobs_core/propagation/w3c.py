"""W3C traceparent, the tracestate dd= member, and baggage.

The dd= member follows ddtrace: "s:<priority>;p:<span hex>;t.<key>:<value>...", where t. stands
for _dd.p. and "=" in a value is written "~". ddtrace rewrites ",", ";", "~" and non-ASCII to "_"
(lossy); llmobs leaves such a value out instead. Baggage values are percent-encoded UTF-8 and
decoded with "+" as a literal plus, as the W3C spec says (OpenTelemetry Python reads "+" as a
space, but never receives one from here: "+" is always encoded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from urllib.parse import quote, unquote

from .._native import native
from .common import (
    TraceHeaders,
    add_unique,
    fit,
    is_printable_ascii,
    log,
    new_tuple,
    parse_hex,
    parse_priority,
)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
BAGGAGE = "baggage"
DD_MEMBER_MAX = 256
BAGGAGE_MAX = 8192
BAGGAGE_MEMBER_MAX = 4096

# traceparent: "version-trace id-parent id-flags" in lowercase hex, 2-32-16-2 digits; a later
# version may add "-..." after the flags.
_LENGTH: Final = 55
_BYTES: Final = {f"{n:02x}": n for n in range(256)}  # a version or flags field -> its value


def can_carry(value: str) -> bool:
    return (
        is_printable_ascii(value)
        and not any(c in value for c in ",;~")
        and value == value.strip(" ")
    )


def encode_trace_context(
    apm_trace_id: int,
    span_id: int,
    sampling_priority: int,
    required: dict[str, str],
    optional: list[tuple[str, str]],
) -> dict[str, str]:
    flags = "01" if sampling_priority > 0 else "00"
    extra = []
    for key, value in optional:
        if can_carry(value):
            extra.append((key, f"t.{key}:{value.replace('=', '~')}"))
        else:
            log.debug("llmobs propagation: %s has characters tracestate cannot carry", key)
    items = [f"s:{sampling_priority}", f"p:{span_id:016x}"]
    items += [f"t.{key}:{value}" for key, value in required.items()]
    dd = fit(items, extra, ";", DD_MEMBER_MAX - len("dd="), "tracestate dd member")
    return {
        TRACEPARENT: f"00-{apm_trace_id:032x}-{span_id:016x}-{flags}",
        TRACESTATE: "dd=" + ";".join(dd),
    }


# The readers' C fast paths (_w3c_native.c), None in the pure-Python build: each takes the
# usual shape of its header and hands back (None) any other, which the Python reader reads.
_NATIVE_TRACEPARENT: Final = native("llmobs_core.propagation._w3c_native", "traceparent")
_NATIVE_DD_MEMBER: Final = native("llmobs_core.propagation._w3c_native", "dd_member")


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a traceparent value, or of a traceresponse, which has the
    same form; None when it breaks W3C Trace Context's rules."""
    if _NATIVE_TRACEPARENT is not None:
        parsed: tuple[int, int, int] | None = _NATIVE_TRACEPARENT(value)
        if parsed is not None:
            return parsed
    return python_parse_traceparent(value)


def python_parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """parse_traceparent(), in Python."""
    # Slices, a lookup for the two-digit fields and parse_hex() for the ids: a regular
    # expression cost half as much again, on every request a traced caller sends
    # (tests/propagation/test_w3c_readers.py holds this to it).
    if (len(value) < _LENGTH or value[2] != "-" or value[35] != "-" or value[52] != "-"
            or (len(value) > _LENGTH and (value[55] != "-" or "\n" in value))):
        return None
    version, flags = _BYTES.get(value[:2]), _BYTES.get(value[53:55])
    if version is None or flags is None or version == 255 or (
            version == 0 and len(value) > _LENGTH):
        return None
    trace_id, span_id = parse_hex(value[3:35], 32), parse_hex(value[36:52], 16)
    if trace_id is None or span_id is None:
        return None
    return trace_id, span_id, flags


def decode_trace_context(get: Callable[[str], str | None],
                         with_state: bool = True) -> TraceHeaders | None:
    parsed = parse_traceparent(get(TRACEPARENT) or "")
    if parsed is None:
        return None
    trace_id, span_id, flags = parsed
    sampled = flags & 1
    state_priority, tags = _decode_dd_member(get(TRACESTATE)) if with_state else (None, {})
    return new_tuple(TraceHeaders, (trace_id, span_id, _priority(sampled, state_priority), tags))


def _priority(sampled: int, state_priority: int | None) -> int:
    """ddtrace's rule: tracestate's s: counts only when its sign agrees with the sampled flag."""
    if state_priority is not None and (state_priority > 0) == bool(sampled):
        return state_priority
    return sampled


def _decode_dd_member(header: str | None) -> tuple[int | None, dict[str, str]]:
    if _NATIVE_DD_MEMBER is not None:
        decoded: tuple[int | None, dict[str, str]] | None = _NATIVE_DD_MEMBER(header)
        if decoded is not None:
            return decoded
    return python_decode_dd_member(header)


def python_decode_dd_member(header: str | None) -> tuple[int | None, dict[str, str]]:
    """The priority and tags of tracestate's dd= member, in Python."""
    if not header or "dd=" not in header:
        return None, {}
    if header.startswith("dd=") and header.find("dd=", 3) == -1:
        # The usual shape, dd first and alone: what the loop below finds, in fewer calls.
        member = header.partition(",")[0]
        if member[-1:] in (" ", "\t"):
            member = member.rstrip(" \t")
        member = member[3:]
    else:
        dd = set()  # the distinct dd members, "dd=" removed
        for member in header.split(","):
            member = member.strip(" \t")
            if member.startswith("dd="):
                dd.add(member[3:])
        if len(dd) != 1:
            if dd:
                log.debug("llmobs propagation: %d different tracestate dd members ignored",
                          len(dd))
            return None, {}
        (member,) = dd
    printable = is_printable_ascii(member)  # then so is each of its items
    fields: dict[str, str] = {}
    conflicts: set[str] | None = None  # keys seen twice, made when one is
    for item in member.split(";"):
        key, sep, value = item.partition(":")
        if (sep and key and value and (printable or is_printable_ascii(item))
                and "=" not in item):
            if key in fields or conflicts:  # a key seen before: add_unique sorts it out
                if conflicts is None:
                    conflicts = set()
                add_unique(fields, conflicts, key, value)
            else:
                fields[key] = value
    tags = {}
    for key, value in fields.items():  # a loop, not a comprehension: 3.11 calls one
        if key[:2] == "t.":  # startswith() costs three times as much
            tags[key[2:]] = value.replace("~", "=")
    return parse_priority(fields.get("s")), tags


def encode_baggage(optional: list[tuple[str, str]]) -> dict[str, str]:
    """Members key=value, each at most 4,096 characters (OpenTelemetry's limit), 8,192 in all."""
    items = []
    for key, value in optional:
        try:
            item = f"{key}={quote(value, safe=':/')}"
        except UnicodeEncodeError:
            log.debug("llmobs propagation: %s left out of baggage: not valid Unicode", key)
            continue
        if len(item) <= BAGGAGE_MEMBER_MAX:
            items.append((key, item))
        else:
            log.debug("llmobs propagation: %s left out of baggage: over %d characters encoded",
                      key, BAGGAGE_MEMBER_MAX)
    members = fit([], items, ",", BAGGAGE_MAX, BAGGAGE)
    return {BAGGAGE: ",".join(members)} if members else {}


def decode_baggage(header: str | None) -> dict[str, str]:
    """Members as decoded key -> value; members with bad characters or encoding are skipped."""
    found: dict[str, str] = {}
    if not header:
        return found
    conflicts: set[str] = set()
    for member in header.split(","):
        key, sep, value = member.split(";", 1)[0].partition("=")
        key, value = key.strip(" \t"), value.strip(" \t")
        if not (sep and key and value and is_printable_ascii(key + value)):
            continue
        try:
            key = unquote(key, errors="strict")
            value = unquote(value, errors="strict")
        except UnicodeDecodeError:
            log.debug("llmobs propagation: baggage member with invalid percent-encoding skipped")
            continue
        add_unique(found, conflicts, key, value)
    return found
