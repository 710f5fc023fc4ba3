"""The inbox: span records stored as the writer hands them over, settled into traces by the
next reader, give every reader the very events the direct path (events built on the writer
thread, then stored) gives, whatever the records hold."""

from __future__ import annotations

import enum
import itertools
import math
import random
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from llmobs_core.export.base import SpanEvents
from llmobs_core.export.delivery import Delivery, Tally
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.span_events import EventBuilder
from llmobs_core.store import queries
from llmobs_core.store.settle import dropped_when_settled, settle
from tests.support.hostile import made, values
from tests.support.records import FLAT_FIELDS, record_from_flat


class KindOfThing(enum.Enum):
    SPOON = 1


KINDS = ("llm", "workflow", "embedding", "retrieval", "tool", "agent", "task")
STATIC_TAGS = ["language:python", "service:svc", "env:test"]
texts = st.text(max_size=8)
optional_texts = st.none() | texts
# Plain JSON values, and values that JSON changes (NaN, tuples, ints past 64 bits, enums...).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6)
changed_by_json = st.sampled_from([math.nan, -math.inf, (1, "two"), 2**70, -(2**64),
                                   KindOfThing.SPOON, uuid.UUID(int=7), "lone \ud800"])
user_values = st.none() | texts | json_values | changed_by_json | values  # annotated fields
ids = st.integers(1, 2**64 - 1)
messages = st.lists(st.fixed_dictionaries({"role": texts, "content": texts}), max_size=3)


# Where a record's recipe holds the application's values (positions in FLAT_FIELDS).
NAME, SESSION, INPUT, OUTPUT, METADATA, METRICS, TAGS, TOOLS, EXTRAS = (
    1, 7, 13, 14, 15, 16, 17, 18, 20)


def plain_fields(draw: Any, kind: str) -> dict[int, Any]:
    """Values of the application's fields as annotate() leaves them: plain JSON."""
    inputs = (messages.map(tuple) | messages if kind == "llm" else
              st.lists(st.dictionaries(texts, json_values, max_size=2), max_size=2)
              if kind in ("embedding", "retrieval") else texts | json_values)
    return {NAME: draw(texts), SESSION: draw(optional_texts), INPUT: draw(st.none() | inputs),
            OUTPUT: draw(st.none() | inputs),
            METADATA: draw(st.none() | st.dictionaries(texts, json_values, max_size=3)),
            METRICS: draw(st.none() | st.dictionaries(texts, st.integers() | st.floats(),
                                                      max_size=3)),
            TAGS: draw(st.none() | st.dictionaries(texts, texts | st.integers(), max_size=3)
                       | st.lists(texts, max_size=3).map(lambda keys: (*keys, *keys))),
            TOOLS: draw(st.none() | st.lists(json_values, max_size=2)),
            EXTRAS: draw(st.none() | st.fixed_dictionaries({"prompt": json_values}))}


def spiced(draw: Any, fields: dict[int, Any]) -> dict[int, Any]:
    """A few of the fields, or values inside them, replaced by ones JSON would change or that
    break code trusting them."""
    for position in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        odd = draw(changed_by_json | values)
        value = fields[position]
        if type(value) is dict and value and draw(st.booleans()):
            value[draw(st.sampled_from(sorted(value)))] = odd
        elif type(value) is list and value and draw(st.booleans()):
            value[0] = odd
        else:
            fields[position] = odd
    return fields


@st.composite
def records(draw: Any) -> list[Any]:
    """Recipes of the records of one trace, as span.py's record() gives them, with plain
    values where the application's values go and, here and there, hostile ones."""
    trace_id = draw(ids) | time.time_ns() // 10**9 << 96  # 128 bits
    parent, spans = None, []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(KINDS))
        span_id = draw(ids)
        fields = spiced(draw, plain_fields(draw, kind))
        spans.append([
            kind, fields[NAME], trace_id, span_id, parent, trace_id, draw(texts),
            fields[SESSION], draw(optional_texts), draw(optional_texts),
            time.time_ns() - draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9)),
            draw(st.none() | st.tuples(texts, texts, texts)), fields[INPUT], fields[OUTPUT],
            fields[METADATA], fields[METRICS], fields[TAGS], fields[TOOLS],
            draw(st.sampled_from((1.0, 0.25))), fields[EXTRAS],
            draw(st.none() | st.just(("planner", 12345))),
        ])
        parent = parent or span_id
    return spans


def _stored_events(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        rows = queries.list_spans(path, limit=1_000)
    except FileNotFoundError:
        return {}
    return {(row["trace_id"], row["span_id"]): row["event"] for row in rows}


def _holds_a_set(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind in (set, frozenset) or depth > 50:
        return kind in (set, frozenset)
    if kind is dict:
        return any(_holds_a_set(key, depth + 1) or _holds_a_set(item, depth + 1)
                   for key, item in value.items())
    if kind in (list, tuple):
        return any(_holds_a_set(item, depth + 1) for item in value)
    return False


def _mutate(record: tuple[Any, ...]) -> None:
    """What an application may do to its values once the span has been handed over."""
    for value in (*record[:-1], *record[-1]):
        try:
            if type(value) in (dict, list):
                value.clear()
        except Exception:
            pass


_example_ids = itertools.count(1)


def one_span(kind: str = "task", **fields: Any) -> list[list[Any]]:
    """The recipe of a one-span trace, plain but for `fields` (by FLAT_FIELDS name)."""
    trace_id = next(_example_ids) | time.time_ns() // 10**9 << 96
    record: list[Any] = [kind, "n", trace_id, next(_example_ids), None, trace_id, "app", None,
                         None, None, time.time_ns(), 1, None, None, None, None, None, None,
                         None, 1.0, None, None]
    for name, value in fields.items():
        record[FLAT_FIELDS.index(name)] = value
    return [record]


@example([one_span(tags={"nan": math.nan}), one_span(tags={"pair": (1, 2)}),
           one_span(tags={"big": 2**70}), one_span(tags={"e": KindOfThing.SPOON})])
@example([one_span(input=uuid.UUID(int=3)), one_span(output=[math.inf]),
          one_span(metadata={"e": KindOfThing.SPOON}), one_span(metrics={"x": math.nan}),
          one_span(name="lone \ud800"), one_span(tool_definitions=[(1, 2)])])
@example([one_span("llm", input=({"role": "user", "content": 1},)),
          one_span("llm", output=[{"content": (1,)}]),
          one_span("retrieval", output=[{"text": math.nan, "score": math.nan}]),
          one_span("embedding", input=[{"text": uuid.UUID(int=1)}])])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(recipes=st.lists(records(), min_size=1, max_size=3))
def test_a_reader_gets_the_events_the_direct_path_stores(tmp_path: Path,
                                                         recipes: list[Any]) -> None:
    """For any records, the events a reader gets from the inbox after settling are those that
    building them on the writer thread and storing the events gives, even when the
    application changes its values after handing the spans over. Sets aside: JSON has none,
    the event holds a set as its repr, and marshal may give back its members in another
    order (docs/local-store.md). One difference, by design:
    a record marshal takes whose event cannot be built or stored is counted by the writer as
    sent, and dropped with a warning by the reader that settles it (docs/local-store.md)."""
    build = EventBuilder(STATIC_TAGS).build
    batch = [record_from_flat([made(field) for field in span])
             for trace in recipes for span in trace]
    assume(not _holds_a_set(batch, 0))
    example = tmp_path / str(time.monotonic_ns())
    direct, inbox = LocalStoreSink(example / "direct.db"), LocalStoreSink(example / "inbox.db")
    built = []
    for record in batch:
        try:
            built.append(build(record))
        except Exception:
            pass
    direct_tally, inbox_tally = Tally(), Tally()
    Delivery([direct], lambda event: event, None).spans(built, direct_tally)
    Delivery([inbox], build, None).spans(batch, inbox_tally)
    for record in batch:
        _mutate(record)
    expected, found = _stored_events(direct.path), _stored_events(inbox.path)
    assert found == expected
    assert inbox_tally.sent >= direct_tally.sent
    assert inbox_tally.sent + sum(inbox_tally.dropped.values()) == len(batch)
    assert set(inbox_tally.dropped) <= {"unencodable"}
    direct.shutdown(), inbox.shutdown()


def _enabled_batch(path: Path, spans: int) -> list[Any]:
    """Records of `spans` one-span traces, handed to the sink as the writer does."""
    now = time.time_ns()
    batch = [("task", f"t{i}", random.getrandbits(64) | now // 10**9 << 96,
              random.getrandbits(64) or 1, None, 0, "app", None, None, None, now + i, 1_000,
              None, "in", "out", None, None, None, None, 1.0, None, None) for i in range(spans)]
    return [record_from_flat(record[:5] + (record[2],) + record[6:]) for record in batch]


def test_a_record_that_cannot_be_built_costs_only_itself(store: Path, warnings_logged) -> None:
    """A record the builder cannot read (an embedding span's input that is not a list of
    documents, set by hand) loses that span only, logged by the reader that settles it; the
    rest are settled."""
    batch = _enabled_batch(store, 3)
    batch[1] = ("embedding",) + batch[1][1:13] + (["not a document"],) + batch[1][14:]
    sink = LocalStoreSink(store)
    sink.send_spans(SpanEvents(batch, EventBuilder([]).build))
    sink.shutdown()
    assert sorted(row["name"] for row in queries.list_spans(store)) == ["t0", "t2"]
    assert "could not be stored as an event" in warnings_logged()[0].getMessage()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM inbox").fetchone() == (0,)
        assert dropped_when_settled(conn) == 1


def test_a_batch_that_cannot_be_read_is_left_for_another_reader(store: Path,
                                                                warnings_logged) -> None:
    """A damaged inbox row (or one a newer Python wrote) stays in the inbox, with a
    warning; the rows around it are settled."""
    sink = LocalStoreSink(store)
    for _ in range(3):
        sink.send_spans(SpanEvents(_enabled_batch(store, 2), EventBuilder([]).build))
    sink.shutdown()
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE inbox SET records = x'ff00' WHERE id = 2")
    assert len(queries.list_spans(store)) == 4
    assert "cannot be read here" in warnings_logged()[0].getMessage()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT id FROM inbox").fetchall() == [(2,)]


def test_settling_twice_stores_once(store: Path) -> None:
    """A batch handed over twice (a retry), settled by two readers in turn, is stored once, and
    the store's span counter stays exact."""
    sink = LocalStoreSink(store)
    batch = _enabled_batch(store, 5)
    for _ in range(2):
        sink.send_spans(SpanEvents(batch, EventBuilder([]).build))
    sink.shutdown()
    assert settle(store) == 5
    assert settle(store) == 0
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone() == (5,)
        assert conn.execute("SELECT value FROM counters WHERE name = 'spans'").fetchone() == (5,)
        assert conn.execute("SELECT count(*) FROM inbox").fetchone() == (0,)


def test_a_row_of_the_older_flat_records_is_read_as_the_current_ones(tmp_path: Path) -> None:
    """A store written while a record held its 22 fields flat (before RARE_FIELDS had a tuple
    of their own) still gives its reader every span, as the current records would."""
    import marshal

    build = EventBuilder(STATIC_TAGS).build
    flat = [tuple(span) for trace in (
        one_span("llm", tool_definitions=[{"name": "search"}], pagent=("planner", 12345),
                 extras={"prompt": {"id": "greeting", "template": "hi {name}"}}),
        one_span(sample_rate=0.25), one_span("agent")) for span in trace]
    stores = []
    for name in ("current", "older"):
        sink = LocalStoreSink(tmp_path / f"{name}.db")
        tally = Tally()
        Delivery([sink], build, None).spans([record_from_flat(span) for span in flat], tally)
        sink.shutdown()
        assert tally.sent == len(flat)
        stores.append(sink.path)
    with sqlite3.connect(stores[1]) as conn:
        conn.execute("UPDATE inbox SET records = ?", (marshal.dumps(flat, 4),))
        assert conn.total_changes == 1
    found, expected = _stored_events(stores[1]), _stored_events(stores[0])
    assert found == expected and len(found) == len(flat)
    llm = next(event for event in found.values() if event["meta"]["span"]["kind"] == "llm")
    assert llm["meta"]["tool_definitions"] == [{"name": "search"}]
    assert llm["meta"]["input"]["prompt"]["id"] == "greeting"
    assert llm["meta"]["agent_attribution"]["pagent_name"] == "planner"
    assert sorted(event["_dd"]["sample_rate"] for event in found.values()) == ["0.25", "1", "1"]


def test_an_unreadable_item_in_a_row_costs_only_itself() -> None:
    """A damaged row's item that is no record (an int, None) is left out and reported; the
    row's other records are still built."""
    import marshal

    from llmobs_core.store.inbox import events_of

    build = EventBuilder(STATIC_TAGS).build
    (good,) = [record_from_flat(span) for span in one_span()]
    failed: list[Exception] = []
    events = events_of(marshal.dumps([7, good, None], 4), build, failed.append)
    assert [event["name"] for event in events] == ["n"]
    assert len(failed) == 2
