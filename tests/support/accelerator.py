"""Which of llmobs's modules the accelerator compiles (setup.py's COMPILED, read without
running setup.py), and which of them this interpreter loaded compiled."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def accelerated_modules() -> list[str]:
    """setup.py's COMPILED, as module names."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                "COMPILED"]:
            paths = ast.literal_eval(node.value)
            return [path.removesuffix(".py").replace("/", ".") for path in paths]
    raise LookupError("setup.py has no COMPILED list")


def is_compiled(module_name: str) -> bool:
    module = importlib.import_module(module_name)
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def stale_compiled_modules() -> list[Path]:
    """Compiled modules in the source tree older than their .py file: they would run instead
    of the edited source. mypyc puts the code of all of them in one library beside the
    packages (llmobs__mypyc.*) and gives each module a small loader, rebuilt only when its
    own C changes: the library's time counts too."""
    stale = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        libraries = [path.stat().st_mtime for path in REPO.glob(f"llmobs__mypyc*{suffix}")]
        for built in REPO.glob(f"llmobs_*/**/*{suffix}"):
            source = built.with_name(built.name.removesuffix(suffix) + ".py")
            built_at = max([built.stat().st_mtime, *libraries])
            if source.exists() and source.stat().st_mtime > built_at:
                stale.append(built)
    return stale
