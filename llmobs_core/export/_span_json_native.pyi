# The C event writer (_span_json_native.c), built with the accelerator; absent otherwise.
from typing import Any

def event(record: tuple[Any, ...], static_tags: bytes) -> bytes | None: ...
