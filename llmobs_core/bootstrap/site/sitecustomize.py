"""Run by Python at start-up in every process under `llmobs-run` (this folder is first on
PYTHONPATH): enable llmobs from the environment and patch the LLM clients before the program
imports them, then run the program's own sitecustomize, if there is one. A wrong setting is
reported on stderr; the program runs anyway."""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _enable() -> None:
    try:
        import llmobs_core.auto  # noqa: F401
    except Exception as exc:  # the program must run even when llmobs cannot
        sys.stderr.write(f"llmobs-run: llmobs is not enabled: {type(exc).__name__}: {exc}\n")


def _chain() -> None:
    """Load the next sitecustomize on sys.path (the one this file hides) as sitecustomize."""
    path = [entry for entry in sys.path
            if os.path.abspath(entry or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_enable()
_chain()
