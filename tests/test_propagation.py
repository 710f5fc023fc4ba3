from __future__ import annotations

import logging
import re
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.propagation import RemoteContext, extract, extract_dict, inject, inject_dict

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


def test_inject_writes_the_documented_headers():
    """inject writes every header of WIRE.md with the exact documented values."""
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


# --- size budget -------------------------------------------------------------------------------

@pytest.mark.parametrize("ml_len, sid_len, ml_kept, sid_kept", [
    (30, 30, (True, True), (True, True)),
    (30, 200, (True, True), (True, False)),
    (30, 400, (True, True), (False, False)),
    (250, 30, (True, False), (True, True)),
    (400, 30, (False, False), (True, True)),
    (300, 300, (True, False), (False, False)),
    (5000, 5000, (False, False), (False, False)),
])
def test_size_budget_sheds_session_then_ml_app_and_keeps_ids(ml_len, sid_len, ml_kept, sid_kept):
    """Over budget, a format keeps ml_app before the session; ids stay; 512/256 never exceeded.

    ml_kept and sid_kept say (in x-datadog-tags, in tracestate).
    """
    ml_app, session = "m" * ml_len, "s" * sid_len
    headers = make(ml_app=ml_app, session_id=session)
    tags, member = dd_tags(headers), dd_member(headers)
    assert len(headers["x-datadog-tags"]) <= 512 and len(headers["tracestate"]) <= 256
    assert (("_dd.p.llmobs_ml_app" in tags), ("t.llmobs_ml_app" in member)) == ml_kept
    assert (("_dd.p.llmobs_sid" in tags), ("t.llmobs_sid" in member)) == sid_kept
    for names in (DATADOG, W3C):
        ctx = extract_dict(only(headers, *names))
        assert (ctx.trace_id, ctx.parent_id, ctx.apm_trace_id) == (TRACE, SPAN, APM_TRACE)
    ctx = extract_dict(headers)
    assert ctx.ml_app == (ml_app if ml_len <= 4000 else None)
    assert ctx.session_id == (session if sid_len <= 4000 else None)


def test_budget_is_met_with_the_largest_ids():
    """The longest possible ids still leave every header within its limit."""
    headers = make(trace_id=MAX_128, span_id=MAX_64, apm_trace_id=MAX_128,
                   ml_app="m" * 1000, session_id="s" * 1000, sampling_priority=-255)
    assert len(headers["x-datadog-tags"]) <= 512 and len(headers["tracestate"]) <= 256
    assert extract_dict(only(headers, *DATADOG)).trace_id == MAX_128
    assert extract_dict(only(headers, *W3C)).parent_id == MAX_64


def test_shedding_is_logged():
    """Leaving a value out for size says so in a debug log on the "llmobs" logger."""
    with llmobs_logs() as records:
        make(session_id="s" * 600)
    messages = [r.getMessage() for r in records]
    assert any("llmobs_sid left out of x-datadog-tags" in m for m in messages)
    assert any("llmobs_sid left out of tracestate" in m for m in messages)


# --- special characters ------------------------------------------------------------------------

SPECIAL = ["a,b", "a=b", "a;b", "a:b", "a b", "a~b", " lead", "trail ", "é", "日本",
           "%41", "a+b", "tab\tx", "new\nline", '"q"', "back\\slash", "emoji 😀"]


@pytest.mark.parametrize("value", SPECIAL)
def test_special_characters_never_corrupt_headers(value):
    """Every format stays well formed and carries the value exactly or not at all."""
    headers = make(ml_app=value, session_id=value)
    dd_tags(headers)
    dd_member(headers)
    assert re.fullmatch(r"[!#-+\--:<-\[\]-~]+(,[!#-+\--:<-\[\]-~]+)*", headers["baggage"])
    for names in (DATADOG, W3C):
        ctx = extract_dict(only(headers, *names))
        assert ctx.ml_app in (value, None) and ctx.session_id in (value, None)
        assert ctx.parent_id == SPAN
    ctx = extract_dict(headers)
    assert (ctx.ml_app, ctx.session_id) == (value, value)


@pytest.mark.parametrize("value, in_datadog, in_w3c", [
    ("a=b", True, True), ("a:b", True, True), ("a b", True, True), ("a,b", False, False),
    ("a;b", True, False), ("a~b", True, False), ("é", False, False), (" lead", False, False),
])
def test_which_format_carries_which_characters(value, in_datadog, in_w3c):
    """Each format carries exactly the values its grammar (and ddtrace's reading) allows."""
    headers = make(session_id=value)
    assert (extract_dict(only(headers, *DATADOG)).session_id == value) is in_datadog
    assert (extract_dict(only(headers, *W3C)).session_id == value) is in_w3c


def test_unencodable_text_is_dropped_not_raised():
    """A session id holding a lone surrogate is left out of every format; inject does not raise."""
    headers = make(session_id="bad\ud800")
    assert extract_dict(headers).session_id is None


# --- hostile input -----------------------------------------------------------------------------

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
    ("dd=s:x;t.llmobs_ml_app:a~b", "a=b", 1),
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


# --- property-based ----------------------------------------------------------------------------

NAMES = st.sampled_from([*DATADOG, *W3C, "baggage", "other"])
VALID_DD = make()
NEAR_VALID = st.builds(
    lambda name, cut, junk: VALID_DD[name][:cut] + junk + VALID_DD[name][cut:],
    st.sampled_from(list(VALID_DD)), st.integers(0, 300), st.text(max_size=5),
)
VALUES = st.one_of(
    st.text(), st.text(alphabet="0123456789abcdef-,;:=~_.p dst", max_size=80), st.binary(),
    NEAR_VALID, st.integers(), st.none(), st.just("9" * 10_000), st.just(b"\xff" * 9000),
)


def assert_valid(ctx: RemoteContext | None) -> None:
    if ctx is None:
        return
    assert 0 < ctx.trace_id <= MAX_128 and 0 < ctx.apm_trace_id <= MAX_128
    assert 0 < ctx.apm_parent_id <= MAX_64
    assert ctx.parent_id is None or 0 < ctx.parent_id <= MAX_64
    assert ctx.ml_app is None or (isinstance(ctx.ml_app, str) and ctx.ml_app)
    assert ctx.session_id is None or (isinstance(ctx.session_id, str) and ctx.session_id)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(NAMES, st.text(max_size=20)), VALUES, max_size=8),
       st.booleans())
def test_fuzz_extract_never_raises(headers, upper):
    """Arbitrary header dicts never raise, never yield an invalid id, never trip the guard."""
    if upper:
        headers = {k.upper(): v for k, v in headers.items()}
    with llmobs_logs() as records:
        ctx = extract_dict(headers)
    assert_valid(ctx)
    assert not [r for r in records if "unreadable" in r.getMessage()]


@settings(max_examples=100)
@given(st.dictionaries(NAMES, NEAR_VALID, max_size=8))
def test_fuzz_mutated_valid_headers(mutations):
    """Valid headers with one spot mutated still never raise or yield an invalid id."""
    headers = {**VALID_DD, **{k: v for k, v in mutations.items() if k in VALID_DD}}
    with llmobs_logs() as records:
        assert_valid(extract_dict(headers))
    assert not [r for r in records if "unreadable" in r.getMessage()]


TEXT = st.one_of(st.none(), st.text(max_size=300), st.text(alphabet="ab=,;:~ é", max_size=40))


@settings(max_examples=200)
@given(st.integers(1, MAX_128), st.integers(1, MAX_64), st.integers(1, MAX_128), TEXT, TEXT,
       st.integers(-255, 255))
def test_fuzz_round_trip(trace_id, span_id, apm_trace_id, ml_app, session_id, priority):
    """inject then extract returns the ids exactly and each value exactly or, if shed, None."""
    headers = inject_dict({}, trace_id=trace_id, span_id=span_id, apm_trace_id=apm_trace_id,
                          ml_app=ml_app, session_id=session_id, sampling_priority=priority)
    assert len(headers.get("x-datadog-tags", "")) <= 512 and len(headers["tracestate"]) <= 256
    full = extract_dict(headers)
    assert full == RemoteContext(trace_id, span_id, apm_trace_id, span_id, priority,
                                 ml_app or None, session_id or None)
    subsets = [W3C] + ([DATADOG] if apm_trace_id & MAX_64 else [])
    for names in subsets:
        ctx = extract_dict(only(headers, *names))
        assert (ctx.trace_id, ctx.parent_id, ctx.apm_trace_id, ctx.apm_parent_id) == (
            trace_id, span_id, apm_trace_id, span_id)
        assert ctx.sampling_priority == priority
        assert ctx.ml_app in (ml_app, None) and ctx.session_id in (session_id, None)
        if ml_app and ml_app.isascii() and ml_app.isprintable() and len(ml_app) <= 60 and \
                not set(ml_app) & set(",;~") and ml_app == ml_app.strip():
            assert ctx.ml_app == ml_app


def test_baggage_encodes_plus_and_space():
    """Baggage percent-encodes "+" and space, so readers that take "+" as a space agree."""
    assert make(session_id="a+b c")["baggage"].endswith("session.id=a%2Bb%20c")
