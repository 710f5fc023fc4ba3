"""A span event's JSON for the Datadog sink, written straight from the finished span's record:
byte for byte what orjson writes for EventBuilder.build(record) (tests/export/
test_span_json.py compares the two on hostile records). The event's own object (ids, times,
status, the _dd object) is written here as text; orjson writes its meta (an annotated llm
span's built in one dict display, else shared_meta()'s), metrics and tags, and any name or
session id it would escape. What repeats within a batch is written once and kept: a trace's
texts, names, session ids, tags, the meta of a span with nothing but its kind. Building the
event's dicts for orjson cost as much as encoding them (docs/accelerator.md). A record whose
ids or times are not plain 64-bit ints goes the old way, built with EventBuilder.event(record,
fresh=False) and encoded whole. Needs orjson; _datadog_payload.py falls back to build() and
the careful encoding when it is missing or when encoding a record fails. Where the accelerator
is built, a common record's event is written in C by _span_json_native.c, held to the bytes
this module writes (docs/accelerator.md, "The native event writer")."""

from __future__ import annotations

from typing import Any, Final

from .._native import native
from ..sampling import format_rate
from ..span import MODEL_KINDS, RareFields, SpanRecord
from ..span_events import EventBuilder, plain_metadata, shared_meta

try:
    import orjson
except ImportError:  # a core dependency; without it the sink encodes built events
    orjson = None  # type: ignore[assignment]

# The C fast path of encode(), built with the accelerator (docs/accelerator.md).
native_event: Final = native("llmobs_core.export._span_json_native", "event")

# Metric keys seen without a "." (most events have the same few): an event whose keys are all
# here needs no sanitised_metrics() copy.
PLAIN_METRIC_KEYS: Final[set[Any]] = set()
_MAX_PLAIN_METRIC_KEYS: Final = 1_000


def sanitised_metrics(metrics: dict[Any, Any]) -> dict[Any, Any]:
    """`metrics` with "." in keys rewritten to "_": a "." in a metric key makes the intake
    drop the whole request (docs/wire-formats.md)."""
    if not any(type(key) is str and "." in key for key in metrics):
        if len(PLAIN_METRIC_KEYS) < _MAX_PLAIN_METRIC_KEYS:
            PLAIN_METRIC_KEYS.update(metrics)
        return metrics
    return {key.replace(".", "_") if type(key) is str else key: value
            for key, value in metrics.items()}


# Module-level, not a class attribute: the compiled build (setup.py) keeps no class attribute
# computed at import on a compiled class.
AVAILABLE = orjson is not None


# orjson writes integers of 64 bits (-2**63 to 2**64 - 1) and refuses the others: an integer
# written in at most 19 characters is one.
_MAX_DIGITS: Final = 19
_CACHE_MAX: Final = 4096
_STATUS_OK: Final = '"status":"ok","meta":'
_STATUS_ERROR: Final = '"status":"error","meta":'
# The "span" object of an llm span's meta, shared by the metas that only orjson reads.
_LLM_SPAN: Final[dict[str, Any]] = {"kind": "llm"}


def _escape_free(text: Any) -> bool:
    """Whether orjson writes this value as the string itself between quotes: it escapes only
    '"', '\\' and control characters, none of them printable (nor is a lone surrogate)."""
    return type(text) is str and text.isprintable() and '"' not in text and "\\" not in text


class SpanJSON:
    """Encodes the records of one EventBuilder's spans. encode() raises on anything it cannot
    write exactly as orjson writes the built event (a non-string key, a lone surrogate, an
    integer over 64 bits, a value build() itself fails on): the caller then builds the event
    and takes the careful path."""

    def __init__(self, builder: EventBuilder, native: bool = True) -> None:
        self._builder = builder
        # The C writer, given the static tags as it writes them (",tag,tag"), or None.
        self._native: Any = native_event if native else None
        self._static_tags = b""
        if self._native is not None:
            try:
                self._static_tags = b"".join([b"," + orjson.dumps(tag)
                                              for tag in builder.static_tags])
            except Exception:  # tags JSON cannot hold: every record takes the Python path
                self._native = None
        self._event = builder.event
        self._dumps = orjson.dumps
        self._tags: dict[Any, str] = {}  # (ml_app, session_id) -> its spans' common tags
        self._kind_only: dict[Any, str] = {}  # kind -> the meta of a span with nothing else
        self._names: dict[str, str] = {}  # a span name -> its JSON
        self._sessions: dict[str, str] = {}  # a session id -> its ',"session_id":...'
        # trace id -> the event's text up to its span id, its _dd object after the span id, and
        # the id and text of the parent of the span that made them (its siblings' and its own)
        self._traces: dict[int, tuple[str, str, Any, str]] = {}

    def encode(self, record: SpanRecord) -> bytes:
        native = self._native
        if native is not None:
            data = native(record, self._static_tags)
            if data is not None:
                return data
        (kind, name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id,
         model_name, model_provider, start_ns, duration_ns, error, input_value, output_value,
         metadata, metrics, span_tags, rare) = record
        unpacked: RareFields = rare  # typed: the compiled build reads it without an iterator
        tool_definitions, sample_rate, extras, pagent = unpacked
        if not (type(trace_id) is int and type(span_id) is int and type(apm_trace_id) is int
                and (parent_id is None or type(parent_id) is int) and type(start_ns) is int
                and type(duration_ns) is int):
            return self._built(record)
        start_text, duration_text = str(start_ns), str(duration_ns)
        if len(start_text) > _MAX_DIGITS or len(duration_text) > _MAX_DIGITS:
            return self._built(record)  # maybe beyond the 64 bits orjson writes
        dumps = self._dumps
        meta_json = self._meta(kind, model_name, model_provider, error, input_value,
                               output_value, metadata, tool_definitions, extras, pagent)
        if error is None and not span_tags:
            tags = self._tags.get((ml_app, session_id)) or self._common_tags(ml_app, session_id)
        else:
            builder = self._builder
            head = builder.tag_head(ml_app, session_id)
            tags = dumps(builder.tags(head, error, span_tags)).decode()
        if apm_trace_id == trace_id and sample_rate == 1.0:
            texts = self._traces.get(trace_id) or self._trace_texts(trace_id, parent_id)
        else:
            texts = self._trace_texts_of(trace_id, apm_trace_id, sample_rate, parent_id)
        event_head, dd_tail, known_id, known_text = texts
        span_text = known_text if span_id == known_id else str(span_id)
        if parent_id is None:
            parent_text = "undefined"
        else:
            parent_text = known_text if parent_id == known_id else str(parent_id)
        if type(name) is str:
            name_json = self._names.get(name) or self._name_json(name)
        else:
            name_json = dumps(name).decode()
        if not session_id:
            session = ""
        elif type(session_id) is str:
            session = self._sessions.get(session_id) or self._session_json(session_id)
        else:
            session = ',"session_id":' + dumps(session_id).decode()
        if not metrics:
            metrics_json = "{}"
        else:
            if not (_plain_metric_keys(metrics) if type(metrics) is dict
                    else PLAIN_METRIC_KEYS.issuperset(metrics)):
                metrics = sanitised_metrics(metrics)
            metrics_json = dumps(metrics).decode()
        # EventBuilder.event()'s keys, in its order.
        return (f'{event_head}{span_text}","parent_id":"{parent_text}","name":{name_json},'
                f'"start_ns":{start_text},"duration":{duration_text},'
                f'{_STATUS_OK if error is None else _STATUS_ERROR}{meta_json},"metrics":'
                f'{metrics_json},"tags":{tags},"_dd":{{"span_id":"{span_text}{dd_tail}{session}}}'
                ).encode()

    def _trace_texts(self, trace_id: int, parent_id: Any) -> tuple[str, str, Any, str]:
        """A trace's texts, kept for its spans to come when this one has a parent (a root
        ends after its children)."""
        texts = self._trace_texts_of(trace_id, trace_id, 1.0, parent_id)
        return texts if parent_id is None else _kept(self._traces, trace_id, texts)

    def _trace_texts_of(self, trace_id: int, apm_trace_id: int, sample_rate: Any,
                        parent_id: Any) -> tuple[str, str, Any, str]:
        trace_hex = "%032x" % trace_id  # noqa: UP031 (half the cost of a format spec)
        apm_trace_hex = (trace_hex if apm_trace_id == trace_id
                         else "%032x" % apm_trace_id)  # noqa: UP031
        rate = "1" if sample_rate == 1.0 else format_rate(sample_rate)
        return (f'{{"trace_id":"{trace_hex}","span_id":"',
                f'","trace_id":"{trace_hex}","apm_trace_id":"{apm_trace_hex}","sample_rate":'
                f'"{rate}","sampling_decision":"1"}}', parent_id,
                "" if parent_id is None else str(parent_id))

    def _name_json(self, name: str) -> str:
        return _kept(self._names, name,
                     f'"{name}"' if _escape_free(name) else self._dumps(name).decode())

    def _session_json(self, session_id: str) -> str:
        return _kept(self._sessions, session_id, ',"session_id":' + (
            f'"{session_id}"' if _escape_free(session_id) else self._dumps(session_id).decode()))

    def _meta(self, kind: Any, model_name: Any, model_provider: Any, error: Any,
              input_value: Any, output_value: Any, metadata: Any, tool_definitions: Any,
              extras: Any, pagent: Any) -> str:
        """The meta's JSON: kept per kind for a span with nothing but its kind; for an llm
        span with messages both ways and metadata (the common annotated one), built in one
        dict display, event_meta()'s keys in its order, its tuples of messages as they are
        (orjson writes a tuple as the list event_meta() copies it to); else shared_meta()'s."""
        if error is None and pagent is None and not extras:
            if (input_value is None and output_value is None and not metadata
                    and kind not in MODEL_KINDS):
                return self._kind_only.get(kind) or self._kind_only_meta(kind)
            if (kind == "llm" and type(input_value) is tuple and type(output_value) is tuple
                    and metadata and not tool_definitions):
                return self._dumps({
                    "span": _LLM_SPAN, "input": {"messages": input_value},
                    "output": {"messages": output_value}, "metadata": plain_metadata(metadata),
                    "model_name": model_name or "custom",
                    "model_provider": (model_provider or "custom").lower()}).decode()
        return self._dumps(shared_meta(kind, model_name, model_provider, error, input_value,
                                       output_value, metadata, tool_definitions, extras,
                                       pagent)).decode()

    def _kind_only_meta(self, kind: Any) -> str:
        return _kept(self._kind_only, kind, self._dumps({"span": {"kind": kind}}).decode())

    def _built(self, record: SpanRecord) -> bytes:
        """The record's event built, then encoded whole."""
        event = self._event(record, False)
        metrics = event["metrics"]
        if metrics and not PLAIN_METRIC_KEYS.issuperset(metrics):
            event["metrics"] = sanitised_metrics(metrics)
        return self._dumps(event)

    def _common_tags(self, ml_app: Any, session_id: Any) -> str:
        """The tags of a span without an error or tags of its own, its application's, encoded
        and kept: encode() reads them from self._tags and calls this when they are missing."""
        return _kept(self._tags, (ml_app, session_id),
                     self._dumps(self._builder.tag_head(ml_app, session_id)).decode())


def _kept(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """`value`, kept in `cache` under `key`; a full cache is emptied first (each holds what
    repeats within and across batches: a bound, not an eviction policy)."""
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    cache[key] = value
    return value


def _plain_metric_keys(metrics: dict[Any, Any]) -> bool:
    """PLAIN_METRIC_KEYS.issuperset(metrics), for a dict: compiled, this loop over its few
    keys costs less than the method call."""
    return all(key in PLAIN_METRIC_KEYS for key in metrics)
