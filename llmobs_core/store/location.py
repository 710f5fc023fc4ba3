"""Where the local store lives: an explicit path > LLMOBS_LOCAL_PATH > the default, one store
per user in the platform's data folder (so a worker started from another folder writes to the
same store as the web server, and `llmobs` reads it from anywhere)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

PATH_ENV = "LLMOBS_LOCAL_PATH"
STORE_FILE = "traces.db"


def default_store_path() -> Path:
    """The user's data folder's llmobs/traces.db: ~/.local/share/llmobs/traces.db on Linux
    (XDG_DATA_HOME moves it), ~/Library/Application Support/llmobs on macOS, %LOCALAPPDATA%
    on Windows."""
    return platformdirs.user_data_path("llmobs", appauthor=False) / STORE_FILE


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """An explicit path beats LLMOBS_LOCAL_PATH, which beats default_store_path()."""
    if path is None or str(path) == "":
        path = os.environ.get(PATH_ENV) or default_store_path()
    return Path(path).expanduser().absolute()
