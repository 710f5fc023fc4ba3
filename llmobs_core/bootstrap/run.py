"""`llmobs-run [--info] COMMAND [ARGS...]`: run COMMAND with llmobs enabled from the
environment and the LLM clients patched before the program imports them, in it and in every
Python process it starts (docs/launcher.md)."""

from __future__ import annotations

import os
import shutil
import sys

from . import BOOTSTRAP_DIR

USAGE = """usage: llmobs-run [--info] COMMAND [ARGS...]

Runs COMMAND (python, uvicorn, gunicorn, celery, pytest...) with llmobs enabled from the
environment (DD_LLMOBS_ML_APP, DD_API_KEY, DD_LLMOBS_AGENTLESS_ENABLED, LLMOBS_EXPORTER,
OTEL_EXPORTER_OTLP_ENDPOINT, ...) and the installed LLM clients (openai, anthropic) traced.

  --info   print the effective configuration and exit, running nothing
"""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        raise SystemExit(0 if args else 2)
    if args[0] == "--info":
        from .info import describe

        sys.stdout.write(describe())
        raise SystemExit(0)
    if shutil.which(args[0]) is None:
        sys.stderr.write(f"llmobs-run: command not found: {args[0]}\n")
        raise SystemExit(127)
    paths = [str(BOOTSTRAP_DIR), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.execvp(args[0], args)
