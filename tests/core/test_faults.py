"""The one fault guard: library faults are caught, logged at ERROR (rate-limited) and counted by
place in LLMObs.stats()["faults"]; what is not a library fault passes through."""

from __future__ import annotations

import asyncio
import logging

import pytest

from llmobs_core import LLMObs
from llmobs_core._faults import capture_faults


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


@pytest.mark.llmobs_errors_expected
def test_a_fault_is_swallowed_counted_by_place_and_logged(caplog) -> None:
    """Work after the guarded block goes on; the fault is counted under its place and logged
    at ERROR once a minute, however often it happens."""
    caplog.set_level(logging.ERROR, logger="llmobs")
    after = []
    for _ in range(3):
        with capture_faults("test.place"):
            raise KeyError("boom")
        after.append(True)
    assert after == [True, True, True]
    assert LLMObs.stats()["faults"] == {"test.place": 3}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "test.place" in errors[0].getMessage()
    assert "KeyError" in errors[0].getMessage()


@pytest.mark.llmobs_errors_expected
def test_a_fault_whose_str_raises_is_still_recorded() -> None:
    """An exception that cannot be printed is counted, not raised from the guard."""
    with capture_faults("test.unprintable"):
        raise _Unprintable()
    assert LLMObs.stats()["faults"] == {"test.unprintable": 1}


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit, asyncio.CancelledError])
def test_base_exceptions_pass_through_uncounted(signal: type[BaseException]) -> None:
    """Cancellation, interrupts and exits are not faults: they reach the caller unchanged."""
    with pytest.raises(signal), capture_faults("test.signal"):
        raise signal()
    assert LLMObs.stats()["faults"] == {}


def test_no_fault_no_count() -> None:
    """A block that completes leaves no trace in the counts, and its value is kept."""
    with capture_faults("test.quiet"):
        value = 42
    assert value == 42 and LLMObs.stats()["faults"] == {}
