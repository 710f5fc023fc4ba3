"""Reading a store on a read-only filesystem, on a real read-only mount (tmpfs, as root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import queries
from tests.store.helpers import trace_events

LLMOBS = Path(sys.executable).parent / "llmobs"


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Path]:
    """An empty tmpfs of the test's own; the test remounts it read-only with read_only()."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a read-only mount needs Linux and root (mount -t tmpfs)")
    point = tmp_path / "mnt"
    point.mkdir()
    made = _mount("-t", "tmpfs", "-o", "size=32m", "tmpfs", str(point))
    if made.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {made.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30)


def read_only(point: Path) -> None:
    remounted = _mount("-o", "remount,ro", str(point))
    assert remounted.returncode == 0, remounted.stderr
    with pytest.raises(OSError):
        (point / "probe").touch()


def test_a_closed_store_on_a_read_only_mount_is_read(mount: Path) -> None:
    """A store closed cleanly (no -wal or -shm file beside it) is read on a read-only mount,
    by the query functions and by the installed command."""
    path = mount / "traces.db"
    events = trace_events(3)
    sink = LocalStoreSink(path)
    sink.send_spans(events)
    sink.shutdown()
    assert sorted(p.name for p in mount.iterdir()) == ["traces.db"]
    read_only(mount)
    [summary] = queries.list_traces(path)
    assert (summary["trace_id"], summary["span_count"]) == (events[0]["trace_id"], 3)
    trace = queries.get_trace(path, events[0]["trace_id"])
    assert trace is not None and len(trace["spans"]) == 3
    shown = subprocess.run([LLMOBS, "--path", str(path), "show", events[0]["trace_id"][:12]],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "3 spans" in shown.stdout


def test_a_store_left_with_its_log_on_a_read_only_mount_is_read(mount: Path) -> None:
    """A store whose writer died with spans still in its write-ahead log (-wal and -shm left
    beside it) is read, log included, once the mount is read-only."""
    path = mount / "traces.db"
    events = trace_events(2)
    writer = textwrap.dedent(f"""
        import json, os, sys
        from llmobs_core.export.local import LocalStoreSink
        sink = LocalStoreSink({str(path)!r})
        sink.send_spans(json.loads(sys.stdin.read()))
        os._exit(0)  # no close: the log and its index stay
    """)
    done = subprocess.run([sys.executable, "-c", writer], input=json.dumps(events),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in mount.iterdir()} >= {"traces.db-wal", "traces.db-shm"}
    read_only(mount)
    listed = subprocess.run([LLMOBS, "--path", str(path), "traces", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["span_count"] for line in listed.stdout.splitlines()] == [2]
