# The C OTLP span writer (_otlp_native.c), built with the accelerator; absent otherwise.
from typing import Any

def span(trace_id: Any, span_id: Any, parent_id: Any, name: Any, kind: Any, start_ns: Any,
         end_ns: Any, fixed: Any, attributes: Any, error: Any) -> bytes | None: ...
