"""Which of llmobs's modules the accelerator compiles (setup.py's COMPILED and NATIVE, read
without running setup.py), and which of them this interpreter loaded compiled."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _setup_list(name: str) -> list[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                name]:
            return list(ast.literal_eval(node.value))
    raise LookupError(f"setup.py has no {name} list")


def accelerated_modules() -> list[str]:
    """setup.py's COMPILED (.py files mypyc compiles) and NATIVE (its keys: each C module's
    own file), as module names."""
    paths = _setup_list("COMPILED") + _setup_list("NATIVE")
    return [path.rsplit(".", 1)[0].replace("/", ".") for path in paths]


def is_compiled(module_name: str) -> bool:
    """Whether the module runs compiled; a C module with no .py file is not there at all in a
    pure-Python build."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return False
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def stale_compiled_modules() -> list[Path]:
    """Compiled modules in the source tree older than their .py file: they would run instead
    of the edited source. mypyc puts the code of all of them in one library beside the
    packages (llmobs__mypyc.*) and gives each module a small loader, rebuilt only when its
    own C changes: the library's time counts too. A module written in C is stale beside a
    newer .c file."""
    stale = []
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        libraries = [path.stat().st_mtime for path in REPO.glob(f"llmobs__mypyc*{suffix}")]
        for built in REPO.glob(f"llmobs_*/**/*{suffix}"):
            built_at = max([built.stat().st_mtime, *libraries])
            for extension in (".py", ".c"):
                source = built.with_name(built.name.removesuffix(suffix) + extension)
                if source.exists() and source.stat().st_mtime > built_at:
                    stale.append(built)
    return stale
