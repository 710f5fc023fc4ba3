"""The ids, header names and helpers the propagation tests share: headers made by inject_dict,
and parsers that fail on anything ddtrace or the W3C grammar would reject."""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

from llmobs_core.config import ml_app_problem
from llmobs_core.propagation import RemoteContext, inject_dict

TRACE = 142233651563154449743858526398531601255
APM_TRACE = 0x6B01347200000000DC6C3BC238B9A864
SPAN = 11826142180378097004
DATADOG = ("x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
           "x-datadog-tags")
W3C = ("traceparent", "tracestate")
MAX_64, MAX_128 = 2**64 - 1, 2**128 - 1


def make(**overrides) -> dict[str, str]:
    fields = dict(trace_id=TRACE, span_id=SPAN, apm_trace_id=APM_TRACE, ml_app="caller-app",
                  session_id="session-1")
    return inject_dict({}, **{**fields, **overrides})


def only(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in names}


def dd_tags(headers: dict[str, str]) -> dict[str, str]:
    """Parse x-datadog-tags with ddtrace's grammar, failing on anything ddtrace would reject."""
    tags = {}
    for member in headers["x-datadog-tags"].split(","):
        key, _, value = member.partition("=")
        assert re.fullmatch(r"_dd\.p\.[!-+\--<>-~]+", key), member
        assert re.fullmatch(r"[ -+\--~]+", value) and value == value.strip(), member
        tags[key] = value
    return tags


def dd_member(headers: dict[str, str]) -> dict[str, str]:
    """Parse the tracestate dd= member, failing on anything the W3C grammar or ddtrace rejects."""
    (member,) = headers["tracestate"].split(",")
    assert member.startswith("dd=") and len(member) <= 256
    value = member[3:]
    assert re.fullmatch(r"[ -+\--<>-~]*[!-+\--<>-~]", value), value
    return dict(item.split(":", 1) for item in value.split(";"))


@contextmanager
def llmobs_logs():
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("llmobs")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


EXPECTED = RemoteContext(trace_id=TRACE, parent_id=SPAN, apm_trace_id=APM_TRACE,
                         apm_parent_id=SPAN, sampling_priority=1, ml_app="caller-app",
                         session_id="session-1")


def as_read(ml_app: str | None) -> str | None:
    """What a receiver makes of a propagated ml_app: the value if it is a valid ml_app (as an
    explicit one must be), else None."""
    return ml_app if ml_app and ml_app_problem(ml_app) is None else None
