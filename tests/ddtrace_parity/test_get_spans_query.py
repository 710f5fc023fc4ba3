"""LLMObs.get_spans(query=...): Datadog's search syntax, answered from a real local store."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.span_search import compile_query


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two traces in a store file: a support agent whose llm call failed, and a search
    workflow with a retrieval and a cheap llm call; then llmobs is disabled again."""
    path = tmp_path_factory.mktemp("store") / "traces.db"
    LLMObs.enable(ml_app="shop", exporter=LocalStoreSink(path), integrations_enabled=False)
    try:
        with LLMObs.agent(name="support", session_id="s-1"):
            LLMObs.annotate(tags={"team": "care", "tier": "Gold"})
            try:
                with LLMObs.llm(model_name="gpt-4o", model_provider="openai", name="answer"):
                    LLMObs.annotate(input_data=[{"role": "user", "content": "Refund my order"}],
                                    metrics={"input_tokens": 120}, tags={"team": "care"})
                    raise TimeoutError("upstream")
            except TimeoutError:
                pass
        with LLMObs.workflow(name="search"):
            LLMObs.annotate(tags={"team": "search"}, input_data="red shoes")
            with LLMObs.retrieval(name="lookup"):
                LLMObs.annotate(output_data=[{"text": "Red running shoes", "score": 0.9}])
            with LLMObs.llm(model_name="gpt-4o-mini", name="rerank"):
                LLMObs.annotate(metrics={"input_tokens": 12})
        assert LLMObs.flush(10)
    finally:
        LLMObs.disable()
    return path


def _names(store: Path, query: str, **filters: object) -> list[str]:
    LLMObs.enable(ml_app="shop", exporter=LocalStoreSink(store), integrations_enabled=False)
    try:
        return sorted(s["name"] for s in LLMObs.get_spans(query=query, limit=100, **filters))
    finally:
        LLMObs.disable()


@pytest.mark.parametrize(("query", "expected"), [
    ("team:care", ["answer", "support"]),
    ("team:CA*", ["answer", "support"]),
    ("tier:gold", ["support"]),  # values match in any letter case
    ("status:error", ["answer"]),
    ("-status:error", ["lookup", "rerank", "search", "support"]),
    ("@meta.span.kind:llm", ["answer", "rerank"]),
    ("@meta.model_name:gpt-4o", ["answer"]),
    ("@meta.model_name:gpt-4o*", ["answer", "rerank"]),
    ("@metrics.input_tokens:>100", ["answer"]),
    ("@metrics.input_tokens:[10 TO 20]", ["rerank"]),
    ("@metrics.input_tokens:<=12", ["rerank"]),
    ("@duration:<1h", ["answer", "lookup", "rerank", "search", "support"]),
    ("@duration:>1h", []),
    ("refund", ["answer"]),  # free text: name, input and output
    ('"running shoes"', ["lookup"]),
    ("@meta.span.kind:llm AND -status:error", ["rerank"]),
    ("ml_app:shop @meta.span.kind:llm", ["answer", "rerank"]),
    ("@meta.span.kind:llm OR @meta.span.kind:retrieval", ["answer", "lookup", "rerank"]),
    ("(team:search OR tier:gold) -@meta.span.kind:agent", ["search"]),
    ("NOT session_id:s-1", ["lookup", "rerank", "search"]),
    ('@meta.error.type:"builtins.TimeoutError"', ["answer"]),
    ("@meta.error.message:upstream @name:ans?er", ["answer"]),
])
def test_a_query_selects_the_spans_datadogs_search_would(store: Path, query: str,
                                                         expected: list[str]) -> None:
    """Tags, status, event fields by @path (wildcards, comparisons, ranges, durations with
    units), free text and phrases, AND / OR / NOT / - and parentheses."""
    assert _names(store, query) == expected


def test_a_query_combines_with_the_other_filters(store: Path) -> None:
    """query narrows what the other arguments select, the ml_app (by default, enable()'s)
    included."""
    assert _names(store, "team:care", span_kind="llm") == ["answer"]
    assert _names(store, "@meta.span.kind:llm", span_name="rerank") == ["rerank"]
    assert _names(store, "@meta.span.kind:llm", ml_app="other") == []


@pytest.mark.parametrize("query", ["(team:care", "team:care)", "a OR", "AND b", "key:",
                                   "@metrics.input_tokens:>many", "@duration:>1parsec", "a AND",
                                   "@duration:>1y", "x" * 5000, "(" * 1500 + "a" + ")" * 1500,
                                   "NOT " * 101 + "a", "-(" * 60 + "a" + ")" * 60])
def test_a_query_that_cannot_be_read_raises(query: str) -> None:
    """As Datadog's API refuses a malformed query, so does get_spans, naming the problem;
    nothing is silently ignored."""
    with pytest.raises(ValueError, match="query"):
        compile_query(query)


def test_a_query_nested_as_deep_as_allowed_still_matches() -> None:
    """The nesting bound refuses before the parser recurses too deep, not what is usable."""
    keep = compile_query("(" * 50 + "NOT NOT team:care" + ")" * 50)
    assert keep({"tags": ["team:care"]}) and not keep({"tags": ["team:other"]})
