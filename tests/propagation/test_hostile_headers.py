"""Hostile input to extract: broken ids, bad members of each format, oversized headers, and
getters or mappings that return junk or raise give no context or drop only the bad field."""

from __future__ import annotations

import pytest

from llmobs_core.propagation import extract, extract_dict
from tests.propagation.helpers import APM_TRACE, MAX_64, SPAN, make

GOOD_TP = f"00-{APM_TRACE:032x}-{SPAN:016x}-01"


@pytest.mark.parametrize("headers", [
    {"traceparent": "ff" + GOOD_TP[2:]},
    {"traceparent": GOOD_TP.upper()},
    {"traceparent": GOOD_TP[:-1]},
    {"traceparent": GOOD_TP + "-extra"},
    {"traceparent": GOOD_TP.replace("-", "_")},
    {"traceparent": f"00-{0:032x}-{SPAN:016x}-01"},
    {"traceparent": f"00-{APM_TRACE:032x}-{0:016x}-01"},
    {"traceparent": f"{GOOD_TP}, {GOOD_TP}"},
    {"traceparent": GOOD_TP + "\n"},
    {"traceparent": "٠٠" + GOOD_TP[2:]},
    {"x-datadog-trace-id": "-5", "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "0", "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": str(2**64), "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "1", "x-datadog-parent-id": str(2**64)},
    {"x-datadog-trace-id": "1", "x-datadog-parent-id": "0"},
    {"x-datadog-trace-id": "1"},
    {"x-datadog-trace-id": "١٢٣", "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "1e5", "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "9" * 5000, "x-datadog-parent-id": "1"},
    {"x-datadog-trace-id": "", "x-datadog-parent-id": ""},
    {"x-datadog-tags": f"_dd.p.llmobs_parent_id={SPAN}", "tracestate": "dd=s:1"},
    {"baggage": "ml_app=a"},
], ids=lambda h: repr(h)[:60])
def test_broken_trace_ids_give_no_context(headers):
    """Malformed, zero, negative, overflowing or missing ids give None, never an exception."""
    assert extract_dict(headers) is None


DD_BASE = {"x-datadog-trace-id": "7", "x-datadog-parent-id": "8"}


@pytest.mark.parametrize("tags, parent_id, trace_id, ml_app", [
    ("_dd.p.llmobs_parent_id=0", None, 7, None),
    ("_dd.p.llmobs_parent_id=-3", None, 7, None),
    (f"_dd.p.llmobs_parent_id={2**64}", None, 7, None),
    ("_dd.p.llmobs_parent_id= 5 ", 5, 7, None),
    (f"_dd.p.llmobs_trace_id={2**128}", None, 7, None),
    ("_dd.p.llmobs_trace_id=0", None, 7, None),
    ("_dd.p.tid=0000000000000000", None, 7, None),
    ("_dd.p.tid=6B01347200000000", None, 7, None),
    ("_dd.p.tid=6b013472", None, 7, None),
    ("_dd.p.llmobs_ml_app=a,_dd.p.llmobs_ml_app=b", None, 7, None),
    ("_dd.p.llmobs_ml_app=a,_dd.p.llmobs_ml_app=a", None, 7, "a"),
    ("_dd.p.llmobs_ml_app=é,_dd.p.llmobs_parent_id=5", 5, 7, None),
    ("garbage,,=,_dd.p.llmobs_ml_app=ok,_dd.p.x y=z", None, 7, "ok"),
    ("_dd.p.llmobs_ml_app=" + "x" * 600, None, 7, None),
    ("_dd.p.llmobs_ml_app=\x00", None, 7, None),
])
def test_bad_datadog_tags_drop_only_the_bad_field(tags, parent_id, trace_id, ml_app):
    """A bad member of x-datadog-tags is dropped alone; the trace context itself survives."""
    ctx = extract_dict({**DD_BASE, "x-datadog-tags": tags})
    assert (ctx.parent_id, ctx.trace_id, ctx.apm_trace_id, ctx.ml_app) == (
        parent_id, trace_id, 7, ml_app)


@pytest.mark.parametrize("tracestate, ml_app, priority", [
    ("dd=s:2;t.llmobs_ml_app:a", "a", 2),
    ("dd=s:2;t.llmobs_ml_app:a,dd=s:1", None, 1),
    ("dd=s:2;t.llmobs_ml_app:a, dd=s:2;t.llmobs_ml_app:a", "a", 2),
    ("dd=s:x;t.llmobs_ml_app:a~b", None, 1),  # "a=b" is no valid ml_app
    ("dd=s:2;t.llmobs_ml_app:é", None, 2),
    ("dd=s:2;t.llmobs_ml_app:a=b", None, 2),
    ("dd=s:2;t.llmobs_ml_app:a;t.llmobs_ml_app:b", None, 2),
    ("dd=;;;:::,foo=bar", None, 1),
    ("other=1,dd=s:99999", None, 1),
])
def test_bad_tracestate_drops_only_the_bad_field(tracestate, ml_app, priority):
    """Duplicated, non-ASCII or malformed tracestate items are dropped; traceparent still counts."""
    ctx = extract_dict({"traceparent": GOOD_TP, "tracestate": tracestate})
    assert (ctx.apm_trace_id, ctx.ml_app, ctx.sampling_priority) == (APM_TRACE, ml_app, priority)


@pytest.mark.parametrize("baggage, session", [
    ("session.id=a%20b", "a b"),
    ("session.id=a+b", "a+b"),
    ("session.id = a ;prop=1, other=2", "a"),
    ("session.id=%E6%97%A5", "日"),
    ("session.id=%FF", None),
    ("session.id=%", "%"),
    ("session.id=a,session.id=b", None),
    ("session.id=é", None),
    ("session.id=", None),
    ("=x,,;,session.id", None),
])
def test_baggage_decoding(baggage, session):
    """Baggage is percent-decoded UTF-8, "+" literal; bad or ambiguous members are dropped."""
    ctx = extract_dict({"traceparent": GOOD_TP, "baggage": baggage})
    assert ctx.session_id == session


def test_oversized_headers_are_ignored_whole():
    """A header over its length cap is ignored, not truncated: without _dd.p.tid, W3C conflicts."""
    headers = make()
    headers["x-datadog-tags"] += "," + "_dd.p.x=" + "y" * 600
    headers["tracestate"] += "," + "v=" + "w" * 9000
    headers["baggage"] = "x=" + "y" * 9000
    ctx = extract_dict(headers)
    assert (ctx.apm_trace_id, ctx.parent_id, ctx.ml_app) == (APM_TRACE & MAX_64, None, None)


class Weird:
    def __eq__(self, other):
        raise RuntimeError("no comparing")

    def __hash__(self):
        raise RuntimeError("no hashing")


@pytest.mark.parametrize("value", [5, ["1"], None, object(), Weird(), memoryview(b"1"), 3.0])
def test_non_text_getter_values_are_absent(value):
    """A getter returning non-text values is treated as having no headers."""
    assert extract(lambda name: value) is None


def test_getter_that_raises_is_absent():
    """A getter that raises makes that header absent without escaping extract."""
    def getter(name):
        if name == "x-datadog-tags":
            raise KeyError(name)
        return {"x-datadog-trace-id": "7", "x-datadog-parent-id": "8"}.get(name)

    assert extract(getter).apm_trace_id == 7


class JunkItems:
    def items(self):
        return [(Weird(), "1"), (5, "2"), (b"traceparent", GOOD_TP)]


@pytest.mark.parametrize("headers", [None, 5, {"traceparent": Weird()}, [1, 2]])
def test_extract_dict_on_junk_never_raises(headers):
    """extract_dict on non-mappings or values that refuse comparison returns None."""
    assert extract_dict(headers) is None


def test_extract_dict_skips_junk_keys_and_reads_bytes_keys():
    """Keys that are not text are skipped; a bytes key naming a header is read."""
    assert extract_dict(JunkItems()).apm_trace_id == APM_TRACE
