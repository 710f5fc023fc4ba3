"""The Datadog sink when things go wrong: transient faults, Retry-After, final rejections, an
intake that stays down, fork, and process exit; against the fake intake on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.export.datadog import DeliveryError, RetryPolicy
from llmobs_core.export.writer import Writer
from llmobs_core.tracer import Tracer, install, state
from tests.support.datadog_support import KEY, SETTINGS, events, names, record, sink_factory
from tests.support.fake_intake import FakeIntake, Fault


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def intake():
    with FakeIntake(mode="agentless", api_key=KEY) as server:
        yield server


@pytest.fixture
def make_sink(intake):
    with sink_factory(intake) as make:
        yield make


def test_transient_faults_lose_nothing_and_send_nothing_twice(intake, make_sink) -> None:
    """503, 500, 408, a reset connection, a stalled answer and a 429 are retried: every span
    arrives, and none twice."""
    sink = make_sink(timeout=0.5)
    LLMObs.enable(ml_app="shop", exporter=sink)
    faults = [Fault.answer(503), Fault.answer(500), Fault.answer(408), Fault.connection_reset(),
              Fault.stalled(2.0), Fault.answer(429, retry_after="0")]
    for index, fault in enumerate(faults):
        intake.inject(fault)
        record(5, prefix=f"round{index}")
        assert LLMObs.flush(10)
    span_ids = [span["span_id"] for span in intake.spans]
    assert len(span_ids) == len(set(span_ids)) == 30
    assert sorted(names(intake)) == sorted(f"round{r}-{i}" for r in range(6) for i in range(5))
    assert intake.problems == []
    assert sink.stats()["retries"] == 6 and sink.stats()["failed"] == 0
    assert sum(LLMObs.stats()["dropped"].values()) == 0


def test_retry_after_is_honoured(intake, make_sink) -> None:
    """After a 429 with Retry-After: 1 the next attempt waits at least that second."""
    sink = make_sink()
    intake.inject(Fault.answer(429, retry_after="1"))
    sink.send_spans(events(2))
    first, second = intake.requests
    assert second.at - first.at >= 0.95
    assert len(intake.spans) == 2


def test_a_pause_longer_than_allowed_fails_without_sending_early(intake, make_sink) -> None:
    """A Retry-After beyond the policy's bound fails the batch, and the next batch too while
    the pause lasts, without calling the intake before the time it asked for."""
    sink = make_sink(retry=RetryPolicy(attempts=3, base_delay=0.01, max_retry_after=0.5))
    intake.inject(Fault.answer(429, retry_after="30"))
    for _ in range(2):
        with pytest.raises(DeliveryError, match="pause of 30 s"):
            sink.send_spans(events(1))
    assert len(intake.requests) == 1


@pytest.mark.llmobs_errors_expected
def test_other_4xx_are_not_retried_and_logged_once(intake, make_sink, caplog) -> None:
    """A 400 is final: one request per batch, one error log with the intake's reason, and the
    spans are counted as dropped."""
    intake.outage(Fault.answer(400, message="metrics key invalid"))
    sink = make_sink()
    LLMObs.enable(ml_app="shop", exporter=sink)
    for _ in range(3):
        record(2)
        LLMObs.flush()
    assert len(intake.requests) == 3
    refusals = [r.getMessage() for r in caplog.records
                if r.levelno == logging.ERROR and "refused" in r.getMessage()]
    assert len(refusals) == 1
    assert "HTTP 400 Injected fault" in refusals[0] and "metrics key invalid" in refusals[0]
    assert LLMObs.stats()["dropped"]["sink_error"] == 6 and sink.stats()["rejected"] == 6


def test_a_sink_that_stays_down_costs_bounded_memory_and_recovers(intake, make_sink) -> None:
    """While the intake refuses connections the queue stays within its bound and every span
    is counted as sent or dropped; when it is back, new spans arrive without intervention."""
    intake.stop()
    sink = make_sink(retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    writer = Writer([sink], ["language:python"], max_queue=100, batch_size=20, interval=0.01)
    install(Tracer(resolve({"ml_app": "shop"}), writer))
    record(1000, prefix="down")
    assert LLMObs.stats()["pending"] <= 100
    LLMObs.flush(10)
    stats = LLMObs.stats()
    assert stats["sent"] == 0 and stats["pending"] == 0
    assert stats["enqueued"] == 1000
    assert stats["dropped"]["sink_error"] + stats["dropped"]["queue_full"] == 1000
    assert stats["dropped"]["queue_full"] > 0
    intake.start()
    record(30, prefix="back")
    assert LLMObs.flush(10)
    assert sorted(names(intake)) == sorted(f"back-{i}" for i in range(30))
    assert intake.problems == [] and state.tracer.writer.stats()["sent"] == 30


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(intake, make_sink) -> None:
    """After fork() the child never writes on the parent's keep-alive connection: it opens its
    own, and the spans of both processes arrive, each once."""
    LLMObs.enable(ml_app="shop", exporter=make_sink())
    record(3, prefix="before")
    assert LLMObs.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            record(3, prefix="child")
            code = 0 if LLMObs.flush(10) else 1
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    record(3, prefix="after")
    assert LLMObs.flush()
    parent, child, parent_again = (request.peer for request in intake.requests)
    assert child != parent == parent_again
    assert intake.problems == []
    assert sorted(names(intake)) == sorted(
        f"{prefix}-{i}" for prefix in ("before", "child", "after") for i in range(3))


_EXIT_SCRIPT = """
import sys
from llmobs_core import LLMObs
LLMObs.enable(ml_app="shop", agentless_enabled=True, api_key=sys.argv[2],
              override_origin=sys.argv[1], shutdown_timeout=1.0)
for i in range(50):
    with LLMObs.task(f"exit-{i}"):
        pass
"""


def _run_and_exit(intake: FakeIntake) -> float:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, intake.url, KEY], env=environment,
                   cwd=Path(__file__).parents[2], check=True, timeout=30)
    return time.monotonic() - started


def test_exit_delivers_what_was_recorded(intake) -> None:
    """A process that records spans and exits without flushing still delivers them."""
    _run_and_exit(intake)
    assert intake.wait_for_spans(50, timeout=5)
    assert sorted(names(intake)) == sorted(f"exit-{i}" for i in range(50))


def test_exit_with_a_stalled_intake_ends_within_the_deadline(intake) -> None:
    """A stalled intake cannot hold the process past its shutdown_timeout for long."""
    intake.outage(Fault.stalled(30))
    assert _run_and_exit(intake) < 10
