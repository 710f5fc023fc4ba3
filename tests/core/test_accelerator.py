"""The accelerator (setup.py): the modules it compiles behave as their .py files do, which the
rest of the suite checks by running on both (make test); here, what is particular to the
compiled build."""

from __future__ import annotations

import os

import pytest

from llmobs_core.span import LLMObsSpan
from llmobs_core.testing import capture
from tests.support.accelerator import REPO, accelerated_modules, is_compiled

COMPILED_RUN = os.environ.get("LLMOBS_EXPECT_COMPILED") == "1"


def test_setup_names_modules_that_exist():
    """Each has its source: a .py file mypyc compiles, or a C file with its typing stub."""
    assert accelerated_modules(), "setup.py compiles nothing"
    for name in accelerated_modules():
        path = REPO / name.replace(".", "/")
        assert (path.with_suffix(".py").is_file()
                or (path.with_suffix(".c").is_file() and path.with_suffix(".pyi").is_file())), name


@pytest.mark.skipif(not COMPILED_RUN, reason="the compiled run of make test checks this")
def test_every_listed_module_is_compiled_in_the_compiled_run():
    assert [name for name in accelerated_modules() if not is_compiled(name)] == []


def test_a_span_takes_any_value_in_the_fields_code_outside_llmobs_sets():
    """The compiled span keeps its fields in C struct slots that check declared types: the
    fields annotate(), adapters and users' own code set must take any value, as the .py
    span does, and reach the exporter as they were."""
    odd = [object(), b"bytes", 2**200, float("nan"), {"k": {1, 2}}, None, ("t",)]
    with capture() as captured:
        from llmobs_core import LLMObs

        with LLMObs.workflow("w") as span:
            assert type(span) is LLMObsSpan
            for value in odd:
                for field in ("name", "ml_app", "session_id", "model_name", "input", "output",
                              "metadata", "metrics", "tags", "tool_definitions", "error"):
                    setattr(span, field, value)
            span.name = "w"
            span.ml_app = "app"
            span.session_id = None
            span.tags = {"k": "v"}
            span.metadata = {"m": 1}
            span.metrics = None
            span.error = None
            span.input = odd[1]
            span.output = odd[2]
    (event,) = captured.spans
    assert event["name"] == "w"
    assert "ml_app:app" in event["tags"] and "k:v" in event["tags"]
    assert "b'bytes'" in event["meta"]["input"]["value"]
    assert str(2**200) in event["meta"]["output"]["value"]
