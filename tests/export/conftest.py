"""Fixtures of the export tests."""

from __future__ import annotations

import pytest

from tests.support.phoenix import serve


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory):
    """The URL of an Arize Phoenix server on 127.0.0.1, shared by the export tests."""
    with serve(tmp_path_factory.mktemp("phoenix")) as url:
        yield url
