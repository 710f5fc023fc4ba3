"""inject and extract: the documented headers of each format, which format wins when they
disagree, the sampling priority, argument checks, and headers of any case."""

from __future__ import annotations

import pytest

from llmobs_core.propagation import extract, extract_dict, inject, inject_dict
from tests.propagation.helpers import (
    APM_TRACE,
    DATADOG,
    EXPECTED,
    MAX_64,
    SPAN,
    TRACE,
    W3C,
    dd_member,
    dd_tags,
    make,
    only,
)


def test_inject_writes_the_documented_headers():
    """inject writes every header of wire-formats.md with the exact documented values."""
    headers = make(session_id="s 1=x")
    assert headers == {
        "x-datadog-trace-id": str(APM_TRACE & MAX_64),
        "x-datadog-parent-id": str(SPAN),
        "x-datadog-sampling-priority": "1",
        "x-datadog-tags": f"_dd.p.tid=6b01347200000000,_dd.p.llmobs_parent_id={SPAN},"
        f"_dd.p.llmobs_trace_id={TRACE},_dd.p.llmobs_ml_app=caller-app,_dd.p.llmobs_sid=s 1=x",
        "traceparent": f"00-{APM_TRACE:032x}-{SPAN:016x}-01",
        "tracestate": f"dd=s:1;p:{SPAN:016x};t.tid:6b01347200000000;t.llmobs_parent_id:{SPAN};"
        f"t.llmobs_trace_id:{TRACE};t.llmobs_ml_app:caller-app;t.llmobs_sid:s 1~x",
        "baggage": "ml_app=caller-app,session.id=s%201%3Dx",
    }


def test_inject_calls_the_setter_once_per_header():
    """inject writes through the setter, each header once and named in lowercase."""
    calls: list[tuple[str, str]] = []
    inject(lambda k, v: calls.append((k, v)), trace_id=TRACE, span_id=SPAN,
           apm_trace_id=APM_TRACE, ml_app=None, session_id=None)
    names = [name for name, _ in calls]
    assert names == [*DATADOG, *W3C] and all(n == n.lower() for n in names)


@pytest.mark.parametrize("names", [DATADOG, W3C, DATADOG + W3C, DATADOG + W3C + ("baggage",)],
                         ids=["datadog", "w3c", "both", "all"])
def test_round_trip_each_format(names):
    """Each format alone, and all together, carries every id, the priority, ml_app and session."""
    assert extract_dict(only(make(), *names)) == EXPECTED


def test_baggage_carries_ml_app_and_session_when_tracestate_has_none():
    """With traceparent and baggage only, ml_app and session come from baggage."""
    headers = only(make(), "traceparent", "baggage")
    ctx = extract_dict(headers)
    assert (ctx.ml_app, ctx.session_id) == ("caller-app", "session-1")
    assert ctx.parent_id is None and ctx.apm_parent_id == SPAN and ctx.trace_id == APM_TRACE


def test_baggage_alone_is_no_remote_parent():
    """Baggage without trace ids gives None: it names no parent to continue."""
    assert extract_dict(only(make(), "baggage")) is None


def test_no_headers_is_no_remote_parent():
    """An empty carrier gives None."""
    assert extract(lambda name: None) is None
    assert extract_dict({}) is None


def test_datadog_tags_beat_tracestate_and_baggage():
    """llmobs keys in x-datadog-tags win over different ones in tracestate and baggage."""
    headers = make()
    other = make(trace_id=7, span_id=SPAN, ml_app="other", session_id="other")
    headers["tracestate"], headers["baggage"] = other["tracestate"], other["baggage"]
    ctx = extract_dict(headers)
    assert (ctx.trace_id, ctx.ml_app, ctx.session_id) == (TRACE, "caller-app", "session-1")


def test_tracestate_fills_llmobs_keys_missing_from_datadog_tags():
    """With plain Datadog headers beside a full tracestate, the llmobs keys come from tracestate."""
    headers = make()
    headers["x-datadog-tags"] = "_dd.p.tid=6b01347200000000"
    assert extract_dict(headers) == EXPECTED


def test_tracestate_beats_baggage():
    """ml_app and session in tracestate win over baggage."""
    headers = only(make(), *W3C)
    headers["baggage"] = "ml_app=other,session.id=other"
    assert extract_dict(headers) == EXPECTED


def test_conflicting_trace_ids_prefer_datadog_and_ignore_w3c():
    """When the Datadog and W3C trace ids differ, Datadog wins and nothing of W3C is used."""
    headers = only(make(ml_app=None, session_id=None), *DATADOG)
    headers["x-datadog-tags"] = "_dd.p.tid=6b01347200000000"
    w3c = make(apm_trace_id=APM_TRACE + 1, span_id=99, trace_id=5)
    headers.update(only(w3c, *W3C))
    ctx = extract_dict(headers)
    assert (ctx.apm_trace_id, ctx.apm_parent_id, ctx.trace_id) == (APM_TRACE, SPAN, APM_TRACE)
    assert (ctx.parent_id, ctx.ml_app, ctx.session_id) == (None, None, None)


def test_a_64_bit_datadog_trace_id_conflicts_with_a_128_bit_traceparent():
    """Without _dd.p.tid the Datadog trace id is 64-bit and, as in ddtrace, differs from W3C's."""
    headers = make()
    headers["x-datadog-tags"] = f"_dd.p.llmobs_parent_id={SPAN}"
    ctx = extract_dict(headers)
    assert ctx.apm_trace_id == APM_TRACE & MAX_64 and ctx.trace_id == APM_TRACE & MAX_64


def test_traceparent_parent_wins_when_trace_ids_agree():
    """As in ddtrace, the traceparent span id is the APM parent when both formats share a trace."""
    headers = make()
    headers["traceparent"] = f"00-{APM_TRACE:032x}-{12345:016x}-01"
    ctx = extract_dict(headers)
    assert ctx.apm_parent_id == 12345 and ctx.parent_id == SPAN


def test_undefined_llmobs_parent_and_missing_llmobs_trace_id():
    """An "undefined" llmobs parent gives parent_id None; no llmobs trace id means the APM one."""
    headers = only(make(), *DATADOG)
    headers["x-datadog-tags"] = "_dd.p.tid=6b01347200000000,_dd.p.llmobs_parent_id=undefined"
    ctx = extract_dict(headers)
    assert ctx.parent_id is None and ctx.apm_parent_id == SPAN
    assert ctx.trace_id == ctx.apm_trace_id == APM_TRACE


def test_hex_llmobs_trace_id_is_accepted_like_ddtrace():
    """A 32-hex _dd.p.llmobs_trace_id that cannot be decimal is read as hex, as ddtrace does."""
    headers = only(make(), *DATADOG)
    headers["x-datadog-tags"] = f"_dd.p.llmobs_trace_id={TRACE:032x}"
    assert extract_dict(headers).trace_id == TRACE


@pytest.mark.parametrize("priority, flags", [(2, "01"), (1, "01"), (0, "00"), (-1, "00")])
def test_sampling_priority_round_trips(priority, flags):
    """The priority survives each format and sets the traceparent sampled flag by its sign."""
    headers = make(sampling_priority=priority)
    assert headers["traceparent"].endswith(flags)
    for names in (DATADOG, W3C):
        assert extract_dict(only(headers, *names)).sampling_priority == priority


def test_traceparent_flag_overrides_a_disagreeing_tracestate_priority():
    """A tracestate s: whose sign disagrees with the sampled flag yields the flag, as in ddtrace."""
    headers = only(make(sampling_priority=2), *W3C)
    headers["traceparent"] = headers["traceparent"][:-2] + "00"
    assert extract_dict(headers).sampling_priority == 0


def test_64_bit_apm_trace_id_has_no_tid():
    """A 64-bit APM trace id is written without _dd.p.tid (ddtrace flags an all-zero tid)."""
    headers = make(apm_trace_id=12345)
    assert "_dd.p.tid" not in dd_tags(headers) and "t.tid" not in dd_member(headers)
    for names in (DATADOG, W3C):
        assert extract_dict(only(headers, *names)).apm_trace_id == 12345


def test_zero_low_bits_skip_datadog_headers_only():
    """An APM trace id with zero low 64 bits skips the Datadog headers; W3C still carries it."""
    headers = make(apm_trace_id=1 << 64)
    assert not set(DATADOG) & set(headers)
    assert extract_dict(headers).apm_trace_id == 1 << 64


@pytest.mark.parametrize("field, value", [
    ("trace_id", 0), ("trace_id", 2**128), ("span_id", 0), ("span_id", 2**64),
    ("apm_trace_id", -1), ("span_id", True), ("trace_id", "1"), ("sampling_priority", 256),
    ("ml_app", 5), ("session_id", b"x"),
])
def test_inject_rejects_invalid_arguments_before_writing(field, value):
    """inject raises ValueError for an out-of-range id or a wrong type and writes nothing."""
    headers: dict[str, str] = {}
    with pytest.raises(ValueError):
        inject_dict(headers, **{"trace_id": TRACE, "span_id": SPAN, "apm_trace_id": APM_TRACE,
                                "ml_app": "a", "session_id": "s", field: value})
    assert headers == {}


def test_inject_dict_replaces_headers_of_any_case():
    """inject_dict removes stale propagation headers of another case and keeps unrelated ones."""
    headers = {"Traceparent": "stale", "X-Datadog-Tags": "stale", "Baggage": "x=1", "Accept": "*/*"}
    inject_dict(headers, trace_id=TRACE, span_id=SPAN, apm_trace_id=APM_TRACE, ml_app=None,
                session_id=None)
    assert "Traceparent" not in headers and "Baggage" not in headers and "baggage" not in headers
    assert headers["Accept"] == "*/*" and headers["traceparent"].startswith("00-")


def test_extract_dict_is_case_insensitive_and_reads_bytes():
    """extract_dict finds headers in any case and accepts bytes values."""
    headers = {k.upper(): v.encode() for k, v in make().items()}
    assert extract_dict(headers) == EXPECTED


def test_extract_dict_ignores_a_header_given_twice_with_different_values():
    """Two spellings of one header with different values make that header absent."""
    headers = only(make(), *DATADOG)
    headers["X-Datadog-Parent-Id"] = "5"
    assert extract_dict(headers) is None
    headers["X-Datadog-Parent-Id"] = str(SPAN)
    assert extract_dict(headers) is not None
