"""The accelerator's hand-written C modules (setup.py's NATIVE), found where they were built."""

from __future__ import annotations

import importlib
from typing import Any


def native(module: str, name: str) -> Any:
    """`name` from the C module `module`, or None in the pure-Python build, where the Python
    code it stands in for runs instead."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError:
        return None
