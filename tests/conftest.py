"""Shared fixtures. Every test fails if llmobs swallowed a library fault (counted by its fault
guard in LLMObs.stats()["faults"], or logged at ERROR) that the test did not ask for: a
swallowed fault is a bug, not a pass."""

from __future__ import annotations

import gc
import logging
import os
import sys
import warnings

import pytest

from llmobs_core._faults import faults, reset_faults
from llmobs_core._log import reset_rate_limits
from llmobs_core.tracer import state
from tests.support.accelerator import accelerated_modules, is_compiled, stale_compiled_modules


class _FaultCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_library_faults(request: pytest.FixtureRequest):
    collector = _FaultCollector()
    logger = logging.getLogger("llmobs")
    logger.addHandler(collector)
    reset_rate_limits()
    reset_faults()
    try:
        yield
    finally:
        logger.removeHandler(collector)
    if request.node.get_closest_marker("llmobs_errors_expected"):
        return
    if collector.records or faults:
        messages = "\n".join(r.getMessage() for r in collector.records)
        pytest.fail(f"llmobs swallowed library faults {dict(faults)}:\n{messages}")


@pytest.fixture(autouse=True, scope="session")
def _user_data_folder(tmp_path_factory: pytest.TempPathFactory):
    """The default store (in the user's data folder) and the viewer's text index (in the
    cache folder) are in folders of the test run's own, for this process and the ones it
    starts."""
    saved = {name: os.environ.get(name) for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("user-data"))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _disabled_between_tests():
    """Each test starts and ends with llmobs disabled, whatever the test did."""
    yield
    tracer, state.tracer = state.tracer, None
    if tracer is not None:
        tracer.shutdown()


@pytest.fixture
def redis_leftovers_closed():
    """Close every Redis connection left open, before the test and after it, then collect, so
    the test that leaked one is the one that fails. Celery keeps a Redis result backend per
    thread (`app.backend` is thread-local) and `app.close()` closes none of them
    (celery/celery#4465), and redis-py drops a pool's connections unclosed when it resets the
    pool: such a socket is otherwise closed by the garbage collector in whatever later test
    happens to run it, as a ResourceWarning. Before the test, what earlier tests left
    unreachable (a socket whose connection object is already garbage) is collected quietly:
    it is not this test's; after it, strictly."""
    _close_redis_connections(earlier_tests=True)
    yield
    _close_redis_connections(earlier_tests=False)


def _close_redis_connections(earlier_tests: bool) -> None:
    redis = sys.modules.get("redis")
    if redis is None:
        return
    # Pools, and connections a pool let go of without closing them.
    owners = (redis.ConnectionPool, redis.connection.AbstractConnection)
    for thing in gc.get_objects():  # type(), not isinstance(): a lazy proxy's __class__ raises
        if issubclass(type(thing), owners):
            thing.disconnect()
    with warnings.catch_warnings():
        if earlier_tests:
            warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llmobs_errors_expected: the test provokes llmobs ERROR logs on purpose"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """The run tests what it says it tests: compiled modules under LLMOBS_EXPECT_COMPILED=1
    (make test's first run), the .py files under 0, and never a compiled module older than
    the source beside it."""
    stale = stale_compiled_modules()
    if stale:
        pytest.exit(f"compiled modules older than their .py files would run instead of them: "
                    f"{', '.join(map(str, stale))}; run `make clean-compiled` (or `make "
                    "compiled`)", returncode=4)
    expected = os.environ.get("LLMOBS_EXPECT_COMPILED")
    if expected in ("0", "1"):
        wrong = [name for name in accelerated_modules() if is_compiled(name) != (expected == "1")]
        if wrong:
            hint = ("; `make compiled` builds them (it needs a C compiler and Python's "
                    "headers)" if expected == "1" else "; `make clean-compiled` removes them")
            pytest.exit(f"LLMOBS_EXPECT_COMPILED={expected}, but these modules are "
                        f"{'not ' if expected == '1' else ''}compiled: {', '.join(wrong)}{hint}",
                        returncode=4)


def pytest_report_header(config: pytest.Config) -> str:
    compiled = [name for name in accelerated_modules() if is_compiled(name)]
    return (f"llmobs: {len(compiled)} of {len(accelerated_modules())} accelerated modules "
            "compiled" if compiled else "llmobs: pure Python")
