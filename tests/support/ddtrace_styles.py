"""The header sets each of ddtrace's propagation styles writes, shared by the ddtrace tests."""

DATADOG = {"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
           "x-datadog-tags"}
W3C = {"traceparent", "tracestate"}
# our name for the case -> (DD_TRACE_PROPAGATION_STYLE, the headers it writes)
STYLES = {
    "datadog": ("datadog", DATADOG),
    "w3c": ("tracecontext", W3C),
    "both": ("datadog,tracecontext,baggage", DATADOG | W3C | {"baggage"}),
}
