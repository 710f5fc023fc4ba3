"""The `llmobs` command prints hostile stored text literally, on a real pseudo-terminal and
through a pipe: no escape sequence, markup or emoji code from a span reaches the terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmobs_core.export.local import LocalStoreSink
from tests.cli.test_cli import span_event, trace_id_at

LLMOBS = Path(sys.executable).parent / "llmobs"
TITLE = "\x1b]0;PWNED\x07"
CLEAR = "\x1b[2J\x1b[H"
HYPERLINK = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
C1_CSI = "\x9b31m"
BIDI = "\u202eevil"
HOSTILE = (f"ok [/bold] x {TITLE} {CLEAR} {HYPERLINK} {C1_CSI} [link=http://evil.example/]"
           f"markup link[/link] :smile: {BIDI} \x07\x08\r end")
# Only colour (SGR) sequences of the command's own may reach a terminal.
_OWN_SEQUENCE = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A store whose names, tags, ids, inputs, outputs and evaluation fields are hostile, with
    a lone surrogate and NaN in one span (the store's encoder falls back for it)."""
    path = tmp_path_factory.mktemp("hostile") / "traces.db"
    now = time.time_ns()
    trace_id = trace_id_at(now)
    root = span_event(trace_id, name=HOSTILE, kind="workflow", ml_app="shop",
                      service=HOSTILE.replace(" ", "_"), start_ns=now, session_id=HOSTILE,
                      tags=(f"user:{HOSTILE}",),
                      error={"type": HOSTILE, "message": HOSTILE, "stack": HOSTILE})
    root["meta"]["input"] = {"value": HOSTILE}
    root["meta"]["span"]["kind"] = f"workflow{TITLE}"
    child = span_event(trace_id, parent_id=root["span_id"], name="surrogate", kind="llm",
                       ml_app="shop", service="chat", start_ns=now + 1)
    child["meta"]["output"] = {"messages": [{"role": "tool\x1b[2J",
                                             "content": "lone \ud800 " + HOSTILE}]}
    child["metrics"] = {"nan": float("nan"), "inf": float("inf")}
    metric = {"join_on": {"span": {"span_id": root["span_id"], "trace_id": trace_id}},
              "label": HOSTILE, "metric_type": "categorical", "categorical_value": HOSTILE,
              "ml_app": HOSTILE, "timestamp_ms": now // 10**6, "tags": [],
              "assessment": HOSTILE, "reasoning": HOSTILE}
    sink = LocalStoreSink(path)
    sink.send_spans([root, child])
    sink.send_evaluations([metric])
    sink.shutdown()
    return {"path": path, "trace_id": trace_id, "child": child}


def run_in_terminal(*args: str, columns: int = 400, timeout: float = 60) -> tuple[int, str]:
    """Run `llmobs ARGS` with its stdout and stderr on a new pseudo-terminal; (exit code,
    everything it wrote, decoded)."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    env.pop("NO_COLOR", None)
    with subprocess.Popen([LLMOBS, *args], stdin=terminal, stdout=terminal, stderr=terminal,
                          env=env, close_fds=True) as process:
        os.close(terminal)
        output = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=10)
    os.close(controller)
    return code, output.decode("utf-8")


def assert_nothing_hostile_reaches(output: str) -> None:
    for sequence in (TITLE, CLEAR, "\x1b]8;", "\x1b]", "\x9b", "\x07", "\x08", "\u202e"):
        assert sequence not in output
    assert set(re.findall(r"\x1b.?", _OWN_SEQUENCE.sub("", output))) == set()


@pytest.mark.parametrize("command", [["traces"], ["spans"], ["evals"], ["show"]])
def test_terminal_gets_hostile_text_made_visible(hostile_store: dict, command: list[str]) -> None:
    """On a terminal, every listing prints stored escape sequences as visible escapes, markup
    as text, and no sequence but its own colours."""
    if command == ["show"]:
        command = ["show", hostile_store["trace_id"]]
    code, output = run_in_terminal("--path", str(hostile_store["path"]), *command)
    assert code == 0, output
    assert_nothing_hostile_reaches(output)
    plain = _OWN_SEQUENCE.sub("", output)
    assert "\\x1b]0;PWNED\\x07" in plain
    assert "ok [/bold] x" in plain


def test_show_on_a_terminal_draws_every_hostile_field(hostile_store: dict) -> None:
    """show prints markup literally (no live hyperlink), escapes in the error and the output
    visible, and the lone surrogate as an escape."""
    code, output = run_in_terminal("--path", str(hostile_store["path"]), "show",
                                   hostile_store["trace_id"], columns=2000)
    assert code == 0, output
    plain = _OWN_SEQUENCE.sub("", output)
    assert "[link=http://evil.example/]markup link[/link] :smile: \\u202eevil" in plain
    assert "\\x1b[2J\\x1b[H" in plain
    assert "out: tool\\x1b[2J: lone \\ud800 ok [/bold] x" in plain
    assert "workflow\\x1b]0;PWNED\\x07" in plain


@pytest.mark.parametrize("command", ["traces", "spans", "evals"])
def test_piped_output_has_no_control_characters(hostile_store: dict, command: str) -> None:
    """Through a pipe, listings hold no control character at all, and markup stays text."""
    result = subprocess.run([LLMOBS, "--path", str(hostile_store["path"]), command],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout.decode("utf-8")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", output)
    assert "ok [/bold] x" in output


def test_json_lines_through_a_pipe_decode_to_what_was_stored(hostile_store: dict) -> None:
    """spans --json writes valid UTF-8 through a pipe: the lone surrogate and C1 controls are
    JSON escapes, and each line decodes to the stored event."""
    result = subprocess.run([LLMOBS, "--path", str(hostile_store["path"]), "spans", "--json"],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout.decode("utf-8")
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", output)
    events = [json.loads(line) for line in output.splitlines()]
    [child] = [event for event in events if event["name"] == "surrogate"]
    stored = hostile_store["child"]["meta"]["output"]
    assert child["meta"]["output"] == stored
    assert child["metrics"] == {"nan": None, "inf": None}


def test_spans_view_reads_a_hostile_store(hostile_store: dict) -> None:
    """The store's documented `spans` SQL view reads every span of a store holding hostile
    values, NaN and a lone surrogate included."""
    with sqlite3.connect(hostile_store["path"]) as conn:
        rows = conn.execute("SELECT span_id, json_extract(event, '$.name') FROM spans").fetchall()
    assert sorted(name for _, name in rows) == sorted([HOSTILE, "surrogate"])


def test_a_trace_2000_spans_deep_draws(tmp_path: Path) -> None:
    """show draws a chain of 2,000 nested spans on a terminal, deepest span included, and says
    that spans past the depth cap are drawn at the cap with their depth."""
    now = time.time_ns()
    trace_id = trace_id_at(now)
    events, parent = [], "undefined"
    for depth in range(1, 2001):
        event = span_event(trace_id, parent_id=parent, name=f"level-{depth}", kind="task",
                           ml_app="deep", service="svc", start_ns=now + depth)
        events.append(event)
        parent = event["span_id"]
    path = tmp_path / "traces.db"
    sink = LocalStoreSink(path)
    sink.send_spans(events)
    sink.shutdown()
    code, output = run_in_terminal("--path", str(path), "show", trace_id, columns=200,
                                   timeout=110)
    assert code == 0, output[-2000:]
    plain = _OWN_SEQUENCE.sub("", output)
    assert "2000 spans" in plain
    assert "drawn at level 40" in plain
    assert "[depth 2000] task level-2000" in plain
    assert "task level-40 " in plain and "[depth 41] task level-41" in plain
