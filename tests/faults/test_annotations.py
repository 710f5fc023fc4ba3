"""Any value in any annotate() field, and any arguments, result or exception of a decorated
function of each shape: the host's code gets its own result or exception, nothing of llmobs's
raises, and the valid spans of the same batch reach every sink."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs_core import KINDS, LLMObs, decorators
from tests.faults.targets import FAULT_SETTINGS, Target, probed
from tests.support.hostile import BadException, Recipe, made, values

FIELDS = ("input_data", "output_data", "metadata", "metrics", "tags")
fields = st.fixed_dictionaries({}, optional={name: values for name in FIELDS})
SHAPES = ("function", "generator", "coroutine", "async generator")


def test_any_value_in_any_annotate_field(target: Target) -> None:
    """annotate() takes any value in any field, on the active span or a given one."""

    @FAULT_SETTINGS
    @given(st.sampled_from(KINDS), fields, st.one_of(st.none(), st.none(), values))
    def check(kind: str, annotations: dict[str, Any], span: Any) -> None:
        annotations, span = made(annotations), made(span)
        with probed(target):
            with getattr(LLMObs, kind)(name="annotated") as opened:
                LLMObs.annotate(**annotations)
                LLMObs.annotate(opened if span is None else span, **annotations)

    check()


def _decorated(kind: str, shape: str, result: Any, error: BaseException | None) -> Any:
    decorate = getattr(decorators, kind)
    if shape == "function":
        def work(*args: Any, **kwargs: Any) -> Any:
            if error is not None:
                raise error
            return result
    elif shape == "generator":
        def work(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            yield result
            if error is not None:
                raise error
            return result
    elif shape == "coroutine":
        async def work(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            if error is not None:
                raise error
            return result
    else:
        async def work(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            yield result
            if error is not None:
                raise error
    return decorate(work)


def _call(fn: Any, shape: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if shape == "function":
        return fn(*args, **kwargs)
    if shape == "generator":
        return list(fn(*args, **kwargs))
    if shape == "coroutine":
        return _drive(fn(*args, **kwargs))

    async def consume() -> list[Any]:
        return [item async for item in fn(*args, **kwargs)]

    return _drive(consume())


def _drive(coroutine: Any) -> Any:
    """Run a coroutine that never waits, with no event loop: asyncio's own task repr fails
    on an exception whose repr() raises, before llmobs is involved."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited")


def test_any_arguments_result_or_exception_of_a_decorated_function(target: Target) -> None:
    """A decorated function of each shape returns its own result or raises its own exception
    (one whose str() raises included), whatever its arguments and result hold."""

    @FAULT_SETTINGS
    @given(st.sampled_from(KINDS), st.sampled_from(SHAPES), st.lists(values, max_size=3),
           st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), values, max_size=3),
           values, st.sampled_from([None, Recipe(lambda: BadException("x"), "BadException()"),
                                    Recipe(lambda: ValueError("plain"), "ValueError()")]))
    def check(kind: str, shape: str, args: list[Any], kwargs: dict[str, Any], result: Any,
              error: BaseException | None) -> None:
        args, kwargs, result, error = made(args), made(kwargs), made(result), made(error)
        fn = _decorated(kind, shape, result, error)
        with probed(target):
            if error is None:
                returned = _call(fn, shape, args, kwargs)
                if shape == "function" or shape == "coroutine":
                    assert returned is result
                else:
                    assert len(returned) == 1 and returned[0] is result
            else:
                with pytest.raises(type(error)) as raised:
                    _call(fn, shape, args, kwargs)
                assert raised.value is error

    check()
