"""Any value as a span-opening argument (name, session_id, ml_app, model_name, model_provider),
through the kind methods, LLMObs.trace, LLMObs.wrap and the decorators: the host's code runs,
nothing raises, and the valid spans of the same batch reach every sink."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmobs_core import KINDS, LLMObs, decorators
from tests.faults.targets import FAULT_SETTINGS, Target, probed
from tests.support.hostile import made, values

OPTIONS = ("session_id", "ml_app", "model_name", "model_provider")
arguments = st.fixed_dictionaries({}, optional={name: values for name in ("name", *OPTIONS)})
WAYS = ("method", "trace", "decorator", "wrap")


def _open(kind: str, args: dict[str, Any], way: str) -> bool:
    """Open a span of `kind` with `args` in `way`; True if the block inside it ran."""
    ran = []
    if way == "method":
        if kind not in ("llm", "embedding"):
            args = {k: v for k, v in args.items() if k not in ("model_name", "model_provider")}
        with getattr(LLMObs, kind)(**args):
            ran.append(1)
    elif way == "trace":
        with LLMObs.trace(kind, **args):
            ran.append(1)
    else:
        decorate = (getattr(decorators, kind)(**args) if way == "decorator"
                    else LLMObs.wrap(kind, **args))
        decorate(lambda: ran.append(1))()
    return ran == [1]


def test_any_value_as_a_span_opening_argument(target: Target) -> None:
    """Every span-opening call takes any value for any of its arguments without raising."""

    @FAULT_SETTINGS
    @given(st.sampled_from(KINDS), arguments, st.sampled_from(WAYS))
    def check(kind: str, args: dict[str, Any], way: str) -> None:
        with probed(target), LLMObs.workflow("parent"):
            assert _open(kind, made(args), way)

    check()


def test_any_value_as_the_kind_of_trace_and_wrap(target: Target) -> None:
    """LLMObs.trace runs the block untraced for any kind it does not know; the decorator forms
    refuse it at decoration with ValueError."""

    @FAULT_SETTINGS
    @given(values, arguments)
    def check(kind: Any, args: dict[str, Any]) -> None:
        kind, args = made(kind), made(args)
        with probed(target):
            ran = False
            with LLMObs.trace(kind, **args):
                ran = True
            assert ran
            try:
                LLMObs.wrap(kind, **args)
            except (ValueError, TypeError):
                pass

    check()
