"""Fixtures of the local store's tests: a store path of the test's own, and the warnings
llmobs logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store" / "traces.db"


@pytest.fixture
def warnings_logged(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="llmobs")
    return lambda: [r for r in caplog.records
                    if r.name == "llmobs" and r.levelno >= logging.WARNING]
