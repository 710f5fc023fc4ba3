"""Fixtures of the LLM client integration tests: one fake model server for the session, the
genuine clients pointed at it, and a guard that fails a test whose responses the integration
could not read (a rate-limited "could not read" warning) unless the test expects it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anthropic
import openai
import pytest

from examples.fake_models import FakeModelServer
from llmobs_core.testing import Captured, capture


@pytest.fixture(scope="session")
def fake_models() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def spans() -> Iterator[Captured]:
    """llmobs enabled with its integrations, spans kept in memory."""
    with capture(ml_app="llm-tests") as captured:
        yield captured


@pytest.fixture
def oai(fake_models: FakeModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_models.url + "/openai/v1", api_key="sk-fake",
                       max_retries=0) as client:
        yield client


@pytest.fixture
def ant(fake_models: FakeModelServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake_models.url + "/anthropic", api_key="sk-ant-fake",
                             max_retries=0) as client:
        yield client


def async_openai(fake_models: FakeModelServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake_models.url + "/openai/v1", api_key="sk-fake",
                              max_retries=0)


def async_anthropic(fake_models: FakeModelServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake_models.url + "/anthropic",
                                    api_key="sk-ant-fake", max_retries=0)


@pytest.fixture(autouse=True)
def _responses_were_readable(request: pytest.FixtureRequest,
                             caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="llmobs")
    yield
    if request.node.get_closest_marker("llmobs_errors_expected"):
        return
    unread = [r.getMessage() for r in caplog.records if "could not read" in r.getMessage()]
    assert not unread, unread
