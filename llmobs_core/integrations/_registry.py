"""Which LLM client integrations are patched. `apply(names)` patches each named library now if
it is already imported, else the moment it is (a wrapt post-import hook), and unpatches the
others; `unpatch_all()` undoes everything. `status()` says what is installed and patched."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .._adapter import INTEGRATIONS, capture_faults, warn_limited

_MODULES = {name: f"llmobs_core.integrations.{name}" for name in INTEGRATIONS}
_wanted: set[str] = set()
_hooked: set[str] = set()
_patched: set[str] = set()


def apply(names: Iterable[str]) -> None:
    chosen = set(names) & set(INTEGRATIONS)
    for name in sorted(_patched - chosen):
        _unpatch(name)
    _wanted.clear()
    _wanted.update(chosen)
    for name in sorted(chosen):
        if name in sys.modules:
            _patch(name)
        elif name not in _hooked and importlib.util.find_spec(name) is not None:
            try:
                import wrapt
            except ImportError:
                _missing_wrapt(name)
                continue
            wrapt.register_post_import_hook(_on_import, name)
            _hooked.add(name)


def unpatch_all() -> None:
    _wanted.clear()
    for name in sorted(_patched):
        _unpatch(name)


def _on_import(module: ModuleType) -> None:
    if module.__name__ in _wanted:
        _patch(module.__name__)


def _patch(name: str) -> None:
    if name in _patched:
        return
    with capture_faults(f"{name}.patch"):
        try:
            integration = importlib.import_module(_MODULES[name])
        except ImportError as exc:
            if getattr(exc, "name", None) == "wrapt":
                _missing_wrapt(name)
                return
            raise
        try:
            integration.patch()
        except (ImportError, AttributeError) as exc:
            warn_limited(f"patch.{name}", "llmobs: %s %s is not supported by this llmobs (%s); "
                         "its calls are not traced", name, _version(name), exc)
            integration.unpatch()
            return
        _patched.add(name)


def _unpatch(name: str) -> None:
    with capture_faults(f"{name}.unpatch"):
        importlib.import_module(_MODULES[name]).unpatch()
    _patched.discard(name)


def _missing_wrapt(name: str) -> None:
    warn_limited(f"patch.{name}", "llmobs: %s is installed but wrapt is not, so its calls are "
                 "not traced: pip install 'llmobs[%s]'", name, name)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def status(enabled: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per supported library: whether the settings enable it, its installed version (None when
    it is not installed), and whether it is patched in this process."""
    chosen = set(enabled)
    return {name: {"enabled": name in chosen, "version": _version(name),
                   "patched": name in _patched} for name in INTEGRATIONS}
