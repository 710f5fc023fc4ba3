"""The `llmobs` console script. The command needs the `cli` extra (click, rich); without it,
say so instead of failing with a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from .commands import main as run
    except ImportError as exc:
        sys.stderr.write(f"llmobs: the command needs the cli extra ({exc.name} is missing): "
                         'pip install "llmobs[cli]"\n')
        raise SystemExit(2) from None
    run()
