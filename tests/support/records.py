"""Hypothesis strategies for finished spans' records (RECORD_FIELDS), with hostile values in
every field: what the encoders that read records are held to their built events' bytes with.
The strategies draw a dict by field name (FLAT_FIELDS); record_of() nests it as record() does."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from llmobs_core.span import RARE_FIELDS, RECORD_FIELDS
from tests.support.hostile import made, values

# Every field by name, the rare ones where a record of older versions held them: flat.
FLAT_FIELDS = (*RECORD_FIELDS[:-1], *RARE_FIELDS)
KINDS = ("llm", "embedding", "retrieval", "workflow", "agent", "tool", "task")
# An iterator would be used up by the first encoding: the record is encoded three times.
anything = values.filter(lambda recipe: "iterator" not in repr(recipe))
texts = st.one_of(st.text(max_size=12), st.sampled_from(["ml.app", "é ✓ 漢", "lone \ud800"]))
ids = st.one_of(st.integers(1, (1 << 64) - 1), st.sampled_from([1, (1 << 64) - 1, 1 << 64]))
trace_ids = st.one_of(st.integers(0, (1 << 128) - 1), st.just(1 << 130))
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([2**70, -(2**63) - 1, math.nan,
                                                                 True]))
metric_keys = st.one_of(st.text(max_size=8), st.sampled_from(["a.b", "input_tokens", "x.y.z"]),
                        st.integers(-3, 3))
messages = st.lists(st.fixed_dictionaries({"role": texts, "content": texts}, optional={
    "tool_calls": st.lists(st.fixed_dictionaries({"name": texts, "arguments": anything},
                                                 optional={"tool_id": texts}), max_size=2),
    "tool_results": st.lists(st.fixed_dictionaries({"result": texts, "tool_id": texts}),
                             max_size=2)}), max_size=3)
documents = st.lists(st.fixed_dictionaries({"text": texts}, optional={
    "score": numbers, "id": texts, "name": texts}), max_size=2)


def _keys_and_values(pairs: list[tuple[str, str]]) -> tuple[str, ...]:
    """Tags as an adapter sets them: keys and values in turn."""
    return tuple(item for pair in pairs for item in pair)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


records = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS),
    "name": texts,
    "trace_id": trace_ids,
    "span_id": ids,
    "parent_id": _maybe(ids),
    "apm_trace_id": st.one_of(st.none(), trace_ids),  # None: the trace id itself
    "ml_app": texts,
    "session_id": _maybe(texts),
    "model_name": st.one_of(st.none(), texts, anything),
    "model_provider": st.one_of(st.none(), texts),
    "start_ns": numbers,
    "duration_ns": numbers,
    "error": _maybe(st.tuples(texts, texts, texts)),
    "input": st.one_of(st.none(), messages.map(tuple), messages, documents, texts, anything),
    "output": st.one_of(st.none(), messages.map(tuple), messages, documents, texts, anything),
    "metadata": st.one_of(st.none(), st.dictionaries(texts, numbers, max_size=3), anything),
    "metrics": st.one_of(st.none(), st.dictionaries(metric_keys, numbers, max_size=4)),
    "tags": _maybe(st.one_of(st.dictionaries(texts, st.one_of(texts, anything), max_size=3),
                             st.lists(st.one_of(texts, anything), max_size=5).map(tuple))),
    "tool_definitions": st.one_of(st.none(), anything),
    "sample_rate": st.one_of(st.just(1.0), st.floats(0, 1), st.just(math.nan)),
    "extras": _maybe(st.fixed_dictionaries({}, optional={"prompt": anything,
                                                         "tool": anything})),
    "pagent": _maybe(st.tuples(texts, _maybe(ids))),
})


# The common span: plain values, times of 64 bits, an annotated llm span's tuples of messages and
# metadata, the model's provider as a user spells it; what the encoders' fast paths take.
plain_records = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS),
    "name": texts,
    "trace_id": trace_ids,
    "span_id": ids,
    "parent_id": _maybe(ids),
    "apm_trace_id": st.none(),
    "ml_app": texts,
    "session_id": _maybe(texts),
    "model_name": _maybe(texts),
    "model_provider": st.one_of(st.none(), texts, st.sampled_from(["OpenAI", "Anthropic"])),
    "start_ns": st.integers(0, (1 << 63) - 1),
    "duration_ns": st.integers(0, 1 << 40),
    "error": st.one_of(st.none(), st.none(), st.tuples(texts, texts, texts)),
    "input": st.one_of(st.none(), messages.map(tuple), texts),
    "output": st.one_of(st.none(), messages.map(tuple), texts),
    "metadata": st.one_of(st.none(), st.dictionaries(texts, numbers, max_size=3)),
    "metrics": st.one_of(st.none(), st.dictionaries(
        st.sampled_from(["input_tokens", "output_tokens", "a.b"]), numbers, max_size=3)),
    "tags": st.one_of(st.none(), st.none(), st.dictionaries(texts, texts, max_size=2),
                      st.lists(st.tuples(texts, texts), max_size=3).map(_keys_and_values)),
    "tool_definitions": st.none(),
    "sample_rate": st.one_of(st.just(1.0), st.just(1.0), st.floats(0, 1)),
    "extras": st.none(),
    "pagent": st.none(),
})


def record_of(fields: dict[str, Any]) -> tuple[Any, ...]:
    fields = made(fields)
    if fields["apm_trace_id"] is None:
        fields["apm_trace_id"] = fields["trace_id"]
    return record_from_flat([fields[name] for name in FLAT_FIELDS])


def record_from_flat(values: Sequence[Any]) -> tuple[Any, ...]:
    """A record (RECORD_FIELDS) of the values of FLAT_FIELDS, in that order."""
    return (*values[:len(RECORD_FIELDS) - 1], tuple(values[len(RECORD_FIELDS) - 1:]))
