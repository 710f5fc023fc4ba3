"""A trace kept or dropped whole across three processes: this test process (the caller) calls,
through the httpx integration, a real uvicorn server with LLMObsMiddleware, whose request
publishes a Celery task run by a real worker on Redis. The server and the worker sample at 0.5;
the caller at 0, 1 and 0.5, so only a decision carried in the headers can make them agree."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from llmobs_core import LLMObs
from llmobs_core.integrations import httpx as llmobs_httpx
from llmobs_core.sampling import keeps
from llmobs_core.testing import capture
from tests.apps.celery_app import close_app, make_app
from tests.apps.celery_app.harness import (
    BACKEND,
    BROKERS,
    REDIS,
    WorkerSpec,
    new_queue,
    private_folder,
    require,
    running_workers,
    stored_spans,
)
from tests.apps.celery_app.tasks import PREFIX
from tests.support.asgi_server import serve_in_subprocess

pytestmark = pytest.mark.usefixtures("redis_leftovers_closed")
REMOTE_RATE = "0.5"
TRACES = {0.0: 12, 1.0: 12, 0.5: 60}
REQUEST, TASK = "POST /dispatch", PREFIX + "pid"


def _call(url: str, rate: float, count: int) -> tuple[list[str], list[str], list[str]]:
    """`count` traces from this process at `rate`: each a root workflow that POSTs /dispatch.
    Returns every root's trace id, those this process kept, and the published task ids."""
    roots, task_ids = [], []
    with capture(ml_app="caller", sample_rate=rate) as captured:
        client = llmobs_httpx.instrument_client(httpx.Client(timeout=30))
        with client:
            for _ in range(count):
                with LLMObs.workflow("caller-root") as root:
                    response = client.post(f"{url}/dispatch", params={"count": 1})
                assert response.status_code == 200
                roots.append(f"{root.trace_id:032x}")
                task_ids += response.json()["task_ids"]
        kept = [span["trace_id"] for span in captured.spans]
    return roots, kept, task_ids


@pytest.fixture(scope="module")
def run() -> Iterator[dict]:
    require(REDIS, "Redis")
    with private_folder() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DD_LLMOBS_SAMPLE_RATE", REMOTE_RATE)  # the worker's environment
        spec = WorkerSpec(BROKERS["redis"], new_queue(), folder)
        web_env = {"LLMOBS_TEST_BROKER": spec.broker, "LLMOBS_TEST_BACKEND": BACKEND,
                   "LLMOBS_TEST_QUEUE": spec.queue, "LLMOBS_LOCAL_PATH": str(spec.store),
                   "DD_LLMOBS_SAMPLE_RATE": REMOTE_RATE}
        calls = {}
        with running_workers(spec):
            with serve_in_subprocess("tests.apps.celery_app.web:app", env=web_env) as url:
                for rate, count in TRACES.items():
                    calls[rate] = _call(url, rate, count)
            results = make_app(spec.broker, BACKEND, spec.queue)
            for _, _, task_ids in calls.values():
                for task_id in task_ids:
                    results.AsyncResult(task_id).get(timeout=60)
            close_app(results)
        stored = stored_spans(spec.store)  # the server and the worker have flushed on exit
    yield {"calls": calls, "stored": stored}


def _stored_by_trace(stored: list[dict], roots: list[str]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {root: [] for root in roots}
    for span in stored:
        if span["trace_id"] in names:
            names[span["trace_id"]].append(span["name"])
    return names


@pytest.mark.parametrize("rate", list(TRACES))
def test_every_trace_is_kept_or_dropped_in_all_three_processes(run: dict, rate: float) -> None:
    """For each caller trace, the server's request span and the worker's task span exist
    exactly when the caller kept its root: all three processes, or none."""
    roots, kept, _ = run["calls"][rate]
    stored = _stored_by_trace(run["stored"], roots)
    for root in roots:
        expected = [REQUEST, TASK] if root in kept else []
        assert sorted(stored[root]) == expected, (rate, root)
    if rate == 0.0:
        assert kept == []
    if rate == 1.0:
        assert sorted(kept) == sorted(roots)


def test_at_half_the_callers_hash_decides_for_the_whole_trace(run: dict) -> None:
    """At 0.5 the kept traces are exactly those whose trace id the Knuth hash keeps, a share
    that is neither none nor all; the server and worker (also at 0.5) follow, and their
    kept spans say they were sampled at 0.5."""
    roots, kept, _ = run["calls"][0.5]
    assert sorted(kept) == sorted(r for r in roots if keeps(int(r, 16), 0.5))
    assert 10 < len(kept) < 50
    remote = [s for s in run["stored"] if s["trace_id"] in set(kept)]
    assert {(s["_dd"]["sample_rate"], s["_dd"]["sampling_decision"]) for s in remote} == {
        ("0.5", "1")}


def test_the_remote_rate_does_not_override_the_callers_decision(run: dict) -> None:
    """The remote processes sample at 0.5, yet keep every trace of a caller at 1 (recording
    the caller's rate, 1) and none of a caller at 0."""
    roots_1, _, _ = run["calls"][1.0]
    roots_0, _, _ = run["calls"][0.0]
    stored_1 = [s for s in run["stored"] if s["trace_id"] in set(roots_1)]
    assert len(stored_1) == 2 * len(roots_1)
    assert {s["_dd"]["sample_rate"] for s in stored_1} == {"1"}
    assert not any(s["trace_id"] in set(roots_0) for s in run["stored"])
