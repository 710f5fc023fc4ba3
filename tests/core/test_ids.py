"""Span and trace ids never repeat, whatever the application does to Python's global random
generator: across runs seeded alike and across forked children."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_RECORD = textwrap.dedent("""
    import json, os, random, sys
    from llmobs_core import LLMObs
    from llmobs_core.testing import capture

    def record(count):
        random.seed(1234)  # as ML code and test suites do
        with capture() as captured:
            for _ in range(count):
                with LLMObs.task("t"):
                    pass
            return [(s["trace_id"], s["span_id"]) for s in captured.spans]

    ids = record(20)
    if sys.argv[1] == "fork":
        children = []
        for _ in range(3):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                os.write(write, json.dumps(record(20)).encode())
                os._exit(0)
            os.close(write)
            with os.fdopen(read) as pipe:
                children.append(json.loads(pipe.read()))
            os.waitpid(pid, 0)
        ids += [pair for child in children for pair in child]
    print(json.dumps(ids))
""")


def _ids(mode: str) -> list[tuple[str, str]]:
    result = subprocess.run([sys.executable, "-c", _RECORD, mode], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert result.returncode == 0, result.stderr
    return [tuple(pair) for pair in json.loads(result.stdout)]


def test_two_runs_that_seed_random_alike_never_share_an_id() -> None:
    """Two processes that both call random.seed(1234) record 40 spans with 40 distinct span
    ids and 40 distinct trace ids."""
    ids = _ids("plain") + _ids("plain")
    assert len(ids) == 40
    assert len({span_id for _, span_id in ids}) == 40
    assert len({trace_id for trace_id, _ in ids}) == 40


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_children_never_share_an_id_with_their_parent_or_each_other() -> None:
    """A parent and three forked children, each seeding random alike, give 80 distinct ids."""
    ids = _ids("fork")
    assert len(ids) == 80
    assert len({span_id for _, span_id in ids}) == 80
    assert len({trace_id for trace_id, _ in ids}) == 80
