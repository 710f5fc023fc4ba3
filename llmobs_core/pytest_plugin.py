"""The pytest plugin (registered through the pytest11 entry point): the `llmobs_spans` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import Captured, capture


@pytest.fixture
def llmobs_spans() -> Iterator[Captured]:
    """llmobs enabled with an in-memory sink for one test; `.spans` and `.evaluations` hold what
    the code under test recorded."""
    with capture(ml_app="test-app") as captured:
        yield captured
