"""Values that break code which trusts them, and hypothesis strategies that mix them with
ordinary values: objects whose __str__, __repr__, attribute lookup, iteration or comparison
raise, cycles, non-string keys, huge and deeply nested values, text that UTF-8 cannot encode."""

from __future__ import annotations

import decimal
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hypothesis import strategies as st


class Boom(RuntimeError):
    """What the hostile objects raise."""


class UnboundProxy:
    """Like werkzeug's LocalProxy outside a request: every attribute lookup (__class__ too),
    str(), repr(), bool() and comparison raise."""

    def __getattribute__(self, name: str) -> Any:
        raise Boom("Working outside of request context.")

    def __str__(self) -> str:
        raise Boom("str")

    def __repr__(self) -> str:
        raise Boom("repr")

    def __bool__(self) -> bool:
        raise Boom("bool")

    def __eq__(self, other: object) -> bool:
        raise Boom("eq")

    def __hash__(self) -> int:
        return 7


class BadStr:
    """An object whose str() and repr() raise."""

    def __str__(self) -> str:
        raise Boom("str")

    __repr__ = __str__


class BadStrSubclass(str):
    """A str whose own str(), repr(), lower() and hash raise; its characters are fine."""

    def __str__(self) -> str:
        raise Boom("str")

    __repr__ = __str__

    def lower(self) -> str:  # type: ignore[override]
        raise Boom("lower")

    def __hash__(self) -> int:
        raise Boom("hash")

    def __eq__(self, other: object) -> bool:
        raise Boom("eq")


class BadInt(int):
    """An int whose conversions raise."""

    def __str__(self) -> str:
        raise Boom("str")

    __repr__ = __str__

    def __index__(self) -> int:
        raise Boom("index")

    def __float__(self) -> float:
        raise Boom("float")


class BadMapping(Mapping):
    """A mapping whose every read raises."""

    def __getitem__(self, key: Any) -> Any:
        raise Boom("getitem")

    def __iter__(self) -> Iterator[Any]:
        raise Boom("iter")

    def __len__(self) -> int:
        raise Boom("len")


class BadList(list):
    """A list whose iteration and len raise (its items are never reachable)."""

    def __iter__(self) -> Iterator[Any]:
        raise Boom("iter")

    def __len__(self) -> int:
        raise Boom("len")


class BadException(Exception):
    """An exception whose str() and repr() raise."""

    def __str__(self) -> str:
        raise Boom("str")

    __repr__ = __str__


def cyclic_list() -> list[Any]:
    looped: list[Any] = [1, "two"]
    looped.append(looped)
    return looped


def cyclic_dict() -> dict[str, Any]:
    looped: dict[str, Any] = {"a": 1}
    looped["self"] = {"parent": looped}
    return looped


def deeply_nested(depth: int = 5_000) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class Recipe:
    """How to make one value. Hypothesis draws recipes, never the values themselves: its own
    machinery (and its report of a failing example) would trip over a hostile object."""

    def __init__(self, make: Callable[[], Any], text: str) -> None:
        self.make, self.text = make, text

    def __repr__(self) -> str:
        return self.text


def made(recipes: Any) -> Any:
    """The value of a recipe, or a dict or list with recipes made; anything else as it is."""
    if isinstance(recipes, Recipe):
        return recipes.make()
    if type(recipes) is dict:
        return {key: made(value) for key, value in recipes.items()}
    if type(recipes) is list:
        return [made(value) for value in recipes]
    return recipes


HOSTILE: dict[str, Callable[[], Any]] = {
    "UnboundProxy()": UnboundProxy, "BadStr()": BadStr, "BadStrSubclass()": lambda: (
        BadStrSubclass("sub")), "BadInt()": lambda: BadInt(3), "BadMapping()": BadMapping,
    "BadList()": lambda: BadList([1, 2]), "BadException()": lambda: BadException("x"),
    "cyclic list": cyclic_list, "cyclic dict": cyclic_dict, "5,000-deep list": deeply_nested,
    "2 MB string": lambda: "x" * 2_000_000, "200,000 ints": lambda: list(range(200_000)),
    "1,000 int keys": lambda: {i: i for i in range(1_000)},
    "odd keys": lambda: {(1, 2): "tuple key", None: 1, 1.5: 2},
    "hostile key": lambda: {UnboundProxy(): "hostile key"},
    "lone surrogate": lambda: "lone \ud800 surrogate", "10**5000": lambda: 10**5000,
    "2**70": lambda: 2**70, "nan": lambda: math.nan, "-inf": lambda: -math.inf,
    "Decimal NaN": lambda: decimal.Decimal("NaN"), "bytes": lambda: b"\xff\xfe bytes",
    "uuid": lambda: uuid.UUID(int=5), "iterator": lambda: iter([1, 2, 3]),
    "object()": object, "a class": lambda: type, "Ellipsis": lambda: Ellipsis,
    "hostile message": lambda: {"role": UnboundProxy(), "content": BadStr()},
    "odd messages": lambda: [{"role": "user", "content": "lone \udfff"},
                             {"content": cyclic_list()}],
    "hostile document": lambda: {"text": BadStr(), "score": math.nan},
    "hostile score": lambda: {"score": BadInt(1)},
}


def _plain_recipe(value: Any) -> Recipe:
    return Recipe(lambda: value, repr(value))


hostile = st.sampled_from(sorted(HOSTILE)).map(lambda name: Recipe(HOSTILE[name], name))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary(max_size=20),
    st.complex_numbers(), st.decimals(), st.uuids(), st.datetimes(),
    st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3),
).map(_plain_recipe)
keys = st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans(), st.floats(),
                 st.tuples(st.integers()))


def _list(items: list[Recipe]) -> Recipe:
    return Recipe(lambda: [item.make() for item in items], repr(items))


def _tuple(items: tuple[Recipe, ...]) -> Recipe:
    return Recipe(lambda: tuple(item.make() for item in items), repr(items))


def _dict(items: dict[Any, Recipe]) -> Recipe:
    return Recipe(lambda: {key: item.make() for key, item in items.items()}, repr(items))


values = st.recursive(
    st.one_of(scalars, hostile),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_list),
        st.tuples(children, children).map(_tuple),
        st.dictionaries(keys, children, max_size=4).map(_dict),
        st.frozensets(st.integers(), max_size=3).map(_plain_recipe)),
    max_leaves=12,
)
"""Recipes of anything at all: what the fault suite passes to every argument (see made())."""
