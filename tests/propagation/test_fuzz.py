"""Property-based checks of extract and of inject-then-extract over arbitrary headers."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.propagation import RemoteContext, extract_dict, inject_dict
from tests.propagation.helpers import (
    DATADOG,
    MAX_64,
    MAX_128,
    W3C,
    as_read,
    llmobs_logs,
    make,
    only,
)

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
ML_APPS = st.one_of(TEXT, st.from_regex(r"[a-z0-9:./-]{1,80}", fullmatch=True))


@settings(max_examples=200)
@given(st.integers(1, MAX_128), st.integers(1, MAX_64), st.integers(1, MAX_128), ML_APPS, TEXT,
       st.integers(-255, 255))
def test_fuzz_round_trip(trace_id, span_id, apm_trace_id, ml_app, session_id, priority):
    """inject then extract returns the ids exactly and each value exactly or, if shed, None."""
    headers = inject_dict({}, trace_id=trace_id, span_id=span_id, apm_trace_id=apm_trace_id,
                          ml_app=ml_app, session_id=session_id, sampling_priority=priority)
    assert len(headers.get("x-datadog-tags", "")) <= 512 and len(headers["tracestate"]) <= 256
    full = extract_dict(headers)
    assert full == RemoteContext(trace_id, span_id, apm_trace_id, span_id, priority,
                                 as_read(ml_app), session_id or None)
    subsets = [W3C] + ([DATADOG] if apm_trace_id & MAX_64 else [])
    for names in subsets:
        ctx = extract_dict(only(headers, *names))
        assert (ctx.trace_id, ctx.parent_id, ctx.apm_trace_id, ctx.apm_parent_id) == (
            trace_id, span_id, apm_trace_id, span_id)
        assert ctx.sampling_priority == priority
        assert ctx.ml_app in (ml_app, None) and ctx.session_id in (session_id, None)
        if as_read(ml_app) and len(ml_app) <= 60:
            assert ctx.ml_app == ml_app
