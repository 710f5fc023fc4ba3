"""annotate(): per-kind normalisation as wire-formats.md gives it, and junk that never escapes."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core import LLMObs
from llmobs_core.testing import capture


def test_llm_messages_keep_roles_tool_calls_and_tool_results() -> None:
    """llm input/output become messages; a bare string is one message; tool data is kept."""
    call = {"name": "weather", "arguments": {"city": "Paris"}, "tool_id": "t1",
            "type": "function"}
    with capture() as captured, LLMObs.llm(model_name="m") as span:
        LLMObs.annotate(span, input_data=[
            {"role": "system", "content": "be brief"},
            "plain string",
            {"role": "tool", "tool_results": [{"result": "sunny", "tool_id": "t1"}]},
        ], output_data={"role": "assistant", "content": None, "tool_calls": [call]})
    meta = captured.spans[0]["meta"]
    assert meta["input"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"content": "plain string"},
        {"content": "", "role": "tool", "tool_results": [{"result": "sunny", "tool_id": "t1"}]},
    ]
    assert meta["output"]["messages"] == [{"content": "", "role": "assistant",
                                           "tool_calls": [call]}]


def test_documents_for_embedding_input_and_retrieval_output() -> None:
    """Embedding input and retrieval output are documents; the other side is a value."""
    with capture() as captured:
        with LLMObs.embedding(name="embed") as e:
            LLMObs.annotate(e, input_data=["a", {"text": "b", "id": 7}], output_data="2 vectors")
        with LLMObs.retrieval(name="search") as r:
            LLMObs.annotate(r, input_data="query", output_data=[
                {"text": "doc", "name": "n", "id": "1", "score": 0.5}])
    embed, search = captured.by_name("embed")["meta"], captured.by_name("search")["meta"]
    assert embed["input"] == {"documents": [{"text": "a"}, {"text": "b", "id": "7"}]}
    assert embed["output"] == {"value": "2 vectors"}
    assert search["input"] == {"value": "query"}
    assert search["output"] == {"documents": [{"text": "doc", "name": "n", "id": "1",
                                               "score": 0.5}]}


def test_values_metadata_metrics_and_tags() -> None:
    """Non-string values are JSON-encoded, metric keys lose their dots, tags become k:v, and a
    session_id tag sets the span's session."""

    class Opaque:
        def __repr__(self):
            return "<opaque>"

    with capture() as captured, LLMObs.task("t") as span:
        LLMObs.annotate(span, input_data={"when": Opaque(), "n": [1, 2]}, output_data=3.5,
                        metadata={"temperature": 0.1}, metrics={"input.tokens": 5},
                        tags={"team": "search", "session_id": "sess-7"})
        LLMObs.annotate(metadata={"top_p": 1}, metrics={"output_tokens": 2})
    event = captured.spans[0]
    assert json.loads(event["meta"]["input"]["value"]) == {"when": "<opaque>", "n": [1, 2]}
    assert event["meta"]["output"] == {"value": "3.5"}
    assert event["meta"]["metadata"] == {"temperature": 0.1, "top_p": 1}
    assert event["metrics"] == {"input_tokens": 5, "output_tokens": 2}
    assert "team:search" in event["tags"] and "session_id:sess-7" in event["tags"]
    assert event["session_id"] == "sess-7"


def test_bad_fields_are_dropped_one_by_one_with_a_warning(caplog) -> None:
    """A bad field is dropped with a warning while the good fields of the same call are kept."""
    with capture() as captured, LLMObs.llm(name="l") as span:
        LLMObs.annotate(span, input_data=42, output_data="fine", metadata="not a dict",
                        metrics={"ok": 1, "bad": "x", "nan": math.nan}, tags=["not", "a", "dict"])
    meta = captured.spans[0]["meta"]
    assert "input" not in meta and "metadata" not in meta
    assert meta["output"] == {"messages": [{"content": "fine"}]}
    assert captured.spans[0]["metrics"] == {"ok": 1}
    for field in ("input_data", "metadata", "tags"):
        assert f"annotate({field}=...) dropped" in caplog.text
    assert "metric 'bad' dropped" in caplog.text


def test_numbers_that_are_not_finite_leave_the_flat_fast_path() -> None:
    """A flat dict with inf or nan is not copied as it is: metadata writes them as text,
    metrics drop them, and the finite values beside them are kept as numbers."""
    with capture() as captured, LLMObs.llm(name="l") as span:
        LLMObs.annotate(span, metadata={"a": math.inf, "b": -math.inf, "c": math.nan, "d": 0.5},
                        metrics={"x": math.inf, "y": 2.5, "z": -math.inf, "n": 7})
    event = captured.spans[0]
    assert event["meta"]["metadata"] == {"a": "inf", "b": "-inf", "c": "nan", "d": 0.5}
    assert event["metrics"] == {"y": 2.5, "n": 7}


def test_finished_span_and_missing_span_are_warned_about(caplog) -> None:
    """Annotating a finished span or with no active span changes nothing and warns."""
    with capture() as captured:
        with LLMObs.task("done") as span:
            pass
        LLMObs.annotate(span, output_data="late")
        LLMObs.annotate(output_data="nowhere")
    assert "output" not in captured.spans[0]["meta"]
    assert "finished span" in caplog.text and "no active span" in caplog.text


class _Hostile:
    def __repr__(self):
        raise RuntimeError("repr fails")

    def __str__(self):
        raise RuntimeError("str fails")

    def __eq__(self, other):
        raise RuntimeError("eq fails")

    __hash__ = object.__hash__


_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
    | st.builds(_Hostile) | st.builds(object),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=5) | st.integers() | st.builds(_Hostile), inner, max_size=4)
    | st.tuples(inner, inner),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(kind=st.sampled_from(["llm", "embedding", "retrieval", "workflow"]), inp=_junk,
       out=_junk, metadata=_junk, metrics=_junk, tags=_junk)
def test_junk_never_escapes_annotate_or_export(kind, inp, out, metadata, metrics, tags) -> None:
    """Whatever is passed, annotate() never raises and the exported event is JSON-encodable."""
    with capture() as captured:
        with LLMObs.trace(kind, "junk") as span:
            LLMObs.annotate(span, input_data=inp, output_data=out, metadata=metadata,
                            metrics=metrics, tags=tags)
        (event,) = captured.spans
        assert sum(LLMObs.stats()["dropped"].values()) == 0
    encoded = json.loads(json.dumps(event))
    assert encoded["meta"]["span"]["kind"] == kind
    if "metadata" in encoded["meta"]:
        assert isinstance(encoded["meta"]["metadata"], dict)
