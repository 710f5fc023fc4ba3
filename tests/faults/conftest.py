"""The fault suite's one fixture: llmobs enabled with each configuration of tests/faults/targets.py
in turn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.targets import CONFIGURATIONS, Target, enabled


@pytest.fixture(params=CONFIGURATIONS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    with enabled(request.param, tmp_path) as configured:
        yield configured
