"""The Datadog intake shapes of docs/wire-formats.md, restated as checks for the fake intake.
Each check appends what is wrong to `problems` and returns the items (spans or metrics) it found."""

from __future__ import annotations

import json
import re
from numbers import Real
from typing import Any

KINDS = ("agent", "embedding", "llm", "retrieval", "task", "tool", "workflow")
MAX_EVENT_BYTES = 5_000_000
_HEX32 = re.compile(r"[0-9a-f]{32}")
_DECIMAL = re.compile(r"[1-9][0-9]*")
_SPAN_KEYS = {"trace_id", "span_id", "parent_id", "name", "start_ns", "duration", "status",
              "meta", "metrics", "tags", "_dd"}
# Datadog's own SDK adds these to `_dd`; llmobs does not send them.
_DD_SAMPLING = {"sample_rate", "sampling_decision"}
_ENVELOPE_KEYS = {"_dd.stage", "_dd.tracer_version", "event_type", "spans"}
_IO_KEYS = {"llm": ("messages", "messages"), "embedding": ("documents", "value"),
            "retrieval": ("value", "documents")}
_METRIC_KEYS = {"join_on", "label", "metric_type", "ml_app", "timestamp_ms", "tags",
                "assessment", "reasoning", "eval_scope", "metadata", "event_kind"}
_FEEDBACK_TARGETS = {"span_id", "trace_id", "session_id", "feedback_join_key"}
_FEEDBACK_KEYS = (_METRIC_KEYS - {"join_on", "eval_scope", "metadata"}) | {"submitter"}
_VALUE_TYPES = {"categorical": str, "score": Real, "boolean": bool, "json": dict, "text": str}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_span_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_DECIMAL.fullmatch(value)) and int(value) < 2**64


def check_span_body(document: Any, problems: list[str]) -> list[dict[str, Any]]:
    if not isinstance(document, list) or not document:
        problems.append("a span body must be a non-empty JSON array")
        return []
    spans = []
    for index, envelope in enumerate(document):
        where = f"envelope {index}"
        if not isinstance(envelope, dict) or set(envelope) != _ENVELOPE_KEYS:
            problems.append(f"{where}: keys must be exactly {sorted(_ENVELOPE_KEYS)}")
            continue
        if envelope["_dd.stage"] != "raw" or envelope["event_type"] != "span":
            problems.append(f"{where}: _dd.stage must be 'raw' and event_type 'span'")
        version = envelope["_dd.tracer_version"]
        if not isinstance(version, str) or not version:
            problems.append(f"{where}: _dd.tracer_version must be a non-empty string")
        inner = envelope["spans"]
        if not isinstance(inner, list) or len(inner) != 1 or not isinstance(inner[0], dict):
            problems.append(f"{where}: spans must hold exactly one span object")
            continue
        _check_span(inner[0], f"{where} span {inner[0].get('name')!r}", problems)
        spans.append(inner[0])
    return spans


def _check_span(span: dict[str, Any], where: str, problems: list[str]) -> None:
    def bad(message: str) -> None:
        problems.append(f"{where}: {message}")

    missing = _SPAN_KEYS - span.keys()
    unknown = span.keys() - _SPAN_KEYS - {"session_id", "collection_errors"}
    if missing or unknown:
        bad(f"missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
        return
    if not (isinstance(span["trace_id"], str) and _HEX32.fullmatch(span["trace_id"])):
        bad("trace_id must be 32 lowercase hex characters")
    if not _is_span_id(span["span_id"]):
        bad("span_id must be a decimal 64-bit id")
    if span["parent_id"] != "undefined" and not _is_span_id(span["parent_id"]):
        bad("parent_id must be a decimal id or 'undefined'")
    if not (isinstance(span["name"], str) and span["name"]):
        bad("name must be a non-empty string")
    if not (_is_int(span["start_ns"]) and span["start_ns"] > 0):
        bad("start_ns must be integer epoch nanoseconds")
    if not (_is_int(span["duration"]) and span["duration"] >= 0):
        bad("duration must be a non-negative integer of nanoseconds")
    if span["status"] not in ("ok", "error"):
        bad("status must be 'ok' or 'error'")
    _check_dd(span, bad)
    truncated = "collection_errors" in span
    if truncated and span["collection_errors"] != ["dropped_io"]:
        bad("collection_errors must be ['dropped_io']")
    _check_meta(span, truncated, bad)
    _check_metrics_and_tags(span, bad)
    size = len(json.dumps(span, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"))
    if size >= MAX_EVENT_BYTES:
        bad(f"the event has {size} bytes: 5,000,000 or more must be cut down")


def _check_dd(span: dict[str, Any], bad: Any) -> None:
    """llmobs sends {span_id, trace_id, apm_trace_id}, the ids again. Datadog's own SDK adds
    sample_rate and sampling_decision, and its trace_id there is the APM trace id, while the
    span's own trace_id is an LLM Observability trace id of its own."""
    dd = span["_dd"]
    expected = {"span_id", "trace_id", "apm_trace_id"}
    if not isinstance(dd, dict) or dd.get("span_id") != span["span_id"] or (
            set(dd) - _DD_SAMPLING != expected):
        bad("_dd must be {span_id, trace_id, apm_trace_id} matching the span")
        return
    if not (isinstance(dd["apm_trace_id"], str) and _HEX32.fullmatch(dd["apm_trace_id"])):
        bad("_dd.apm_trace_id must be 32 lowercase hex characters")
    if dd["trace_id"] not in (span["trace_id"], dd["apm_trace_id"]):
        bad("_dd.trace_id must be the span's trace id (or, from Datadog's SDK, the APM one)")
    if not all(isinstance(dd[key], str) for key in _DD_SAMPLING & set(dd)):
        bad("_dd's sample_rate and sampling_decision must be strings")


def _check_meta(span: dict[str, Any], truncated: bool, bad: Any) -> None:
    meta = span["meta"]
    kind = meta.get("span", {}).get("kind") if isinstance(meta, dict) else None
    if kind not in KINDS or meta.get("span") != {"kind": kind}:
        bad(f"meta.span must be {{'kind': one of {KINDS}}}")
        return
    for side, key in zip(("input", "output"), _IO_KEYS.get(kind, ("value", "value"))):
        if side in meta:
            expected = "value" if truncated else key
            io = meta[side]
            if side == "input" and kind == "llm" and isinstance(io, dict) and "prompt" in io:
                if not isinstance(io["prompt"], dict) or not isinstance(
                        io["prompt"].get("id"), str):
                    bad("meta.input.prompt must be an object with a string id")
                io = {k: v for k, v in io.items() if k != "prompt"}
                if not io:
                    continue
            _check_io(io, expected, lambda m, s=side: bad(f"meta.{s}: {m}"))
    if kind in ("llm", "embedding"):
        provider = meta.get("model_provider")
        if not isinstance(meta.get("model_name"), str) or not isinstance(provider, str):
            bad("llm and embedding spans need model_name and model_provider")
        elif provider != provider.lower():
            bad("model_provider must be lowercase")
    elif "model_name" in meta or "model_provider" in meta:
        bad(f"a {kind} span has no model_name or model_provider")
    error = meta.get("error")
    if (span["status"] == "error") != (error is not None):
        bad("meta.error must be present exactly when status is 'error'")
    if error is not None and not (isinstance(error, dict) and all(
            isinstance(error.get(k), str) for k in ("type", "message", "stack"))):
        bad("meta.error must be {type, message, stack} strings")
    if "metadata" in meta and not isinstance(meta["metadata"], dict):
        bad("meta.metadata must be an object")
    agent = meta.get("agent_attribution")
    if "agent_attribution" in meta and not (
            isinstance(agent, dict) and set(agent) == {"pagent_name", "pagent_span_id"}
            and (agent["pagent_name"] is None or isinstance(agent["pagent_name"], str))
            and (agent["pagent_span_id"] is None or (isinstance(agent["pagent_span_id"], str)
                                                     and agent["pagent_span_id"].isdigit()))):
        bad("meta.agent_attribution must be {pagent_name: str|null, pagent_span_id: decimal "
            "str|null}")


def _check_io(value: Any, key: str, bad: Any) -> None:
    if not isinstance(value, dict) or list(value) != [key]:
        bad(f"must be {{{key!r}: ...}}")
        return
    items = value[key]
    if key == "value":
        if not isinstance(items, str):
            bad("value must be a string")
        return
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        bad(f"{key} must be a list of objects")
        return
    for item in items:
        if key == "messages" and not isinstance(item.get("content"), str) and not (
                "content" not in item and (item.get("tool_calls") or item.get("tool_results"))):
            bad("every message needs a string content (Datadog's SDK leaves it out of a "
                "message that only calls tools or gives their results)")
        if key == "documents" and not isinstance(item.get("text", ""), str):
            bad("a document's text must be a string")


def _check_metrics_and_tags(span: dict[str, Any], bad: Any) -> None:
    metrics = span["metrics"]
    if not isinstance(metrics, dict) or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in metrics.values()):
        bad("metrics must map names to numbers")
    elif any("." in key for key in metrics):
        bad("a '.' in a metric key makes the intake drop the whole batch")
    tags = span["tags"]
    if not isinstance(tags, list) or not all(isinstance(t, str) and ":" in t for t in tags):
        bad("tags must be a list of 'key:value' strings")
        return
    keys = {tag.split(":", 1)[0] for tag in tags}
    if not {"ml_app", "language", "error"} <= keys:
        bad("tags need ml_app, language and error")
    if f"error:{int(span['status'] == 'error')}" not in tags:
        bad("the error tag must agree with status")
    if ("session_id" in span) != ("session_id" in keys):
        bad("session_id and the session_id tag go together")


def check_evaluation_body(document: Any, problems: list[str]) -> list[dict[str, Any]]:
    data = document.get("data") if isinstance(document, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    metrics = attributes.get("metrics") if isinstance(attributes, dict) else None
    if not (isinstance(metrics, list) and metrics) or set(document) != {"data"} or data.get(
            "type") != "evaluation_metric":
        problems.append('an evaluation body must be {"data": {"type": "evaluation_metric", '
                        '"attributes": {"metrics": [...]}}}')
        return []
    for index, metric in enumerate(metrics):
        _check_metric(metric, lambda m, i=index: problems.append(f"metric {i}: {m}"))
    return metrics


def _check_metric(metric: Any, bad: Any) -> None:
    if not isinstance(metric, dict):
        bad("must be an object")
        return
    metric_type = metric.get("metric_type")
    if metric_type not in _VALUE_TYPES:
        bad(f"metric_type must be one of {sorted(_VALUE_TYPES)}")
        return
    value_key = f"{metric_type}_value"
    if metric.get("event_kind") == "feedback":  # one target at the top level, no join_on
        targets = metric.keys() & _FEEDBACK_TARGETS
        if len(targets) != 1 or not isinstance(metric.get("submitter"), dict):
            bad("feedback needs one of span_id, trace_id, session_id, feedback_join_key and "
                "a submitter")
        unknown = metric.keys() - _FEEDBACK_KEYS - targets - {value_key}
        if unknown or value_key not in metric:
            bad(f"needs {value_key}; unknown keys {sorted(unknown)}")
        return
    if metric_type == "text":
        bad("metric_type text is for feedback only")
    if metric.get("event_kind", "evaluation") != "evaluation":
        bad("event_kind must be 'evaluation' or 'feedback'")
    unknown = metric.keys() - _METRIC_KEYS - {value_key}
    if unknown or value_key not in metric:
        bad(f"needs {value_key}; unknown keys {sorted(unknown)}")
    elif not isinstance(metric[value_key], _VALUE_TYPES[metric_type]) or (
            metric_type == "score" and isinstance(metric[value_key], bool)):
        bad(f"{value_key} has the wrong type")
    join_on = metric.get("join_on")
    span_join = isinstance(join_on, dict) and set(join_on) == {"span"} and set(
        join_on["span"]) == {"span_id", "trace_id"}
    tag_join = isinstance(join_on, dict) and set(join_on) == {"tag"} and set(
        join_on["tag"]) == {"key", "value"}
    if not (span_join or tag_join):
        bad("join_on must be {span: {span_id, trace_id}} or {tag: {key, value}}")
    label = metric.get("label")
    if not (isinstance(label, str) and label and "." not in label):
        bad("label must be a non-empty string without '.'")
    if not (isinstance(metric.get("ml_app"), str) and metric["ml_app"]):
        bad("ml_app must be a non-empty string")
    if not (_is_int(metric.get("timestamp_ms")) and metric["timestamp_ms"] > 0):
        bad("timestamp_ms must be integer epoch milliseconds")
    if not (isinstance(metric.get("tags"), list) and all(
            isinstance(t, str) for t in metric["tags"])):
        bad("tags must be a list of strings")
    if metric.get("assessment", "pass") not in ("pass", "fail"):
        bad("assessment must be 'pass' or 'fail'")
    if not isinstance(metric.get("reasoning", ""), str):
        bad("reasoning must be a string")
    if metric.get("eval_scope", "span") not in ("span", "trace"):
        bad("eval_scope must be 'span' or 'trace'")
    if not isinstance(metric.get("metadata", {}), dict):
        bad("metadata must be an object")
