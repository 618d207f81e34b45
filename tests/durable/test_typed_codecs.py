"""The codecs of typed results, type by type: JSON round trips, plain types, the errors.

The end-to-end tests (first execution, replay, the worker, fixtures) are in
``test_typed_results.py``; here each container and corner gets its round trip through real
JSON text, as the engine does it.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, NamedTuple, NewType, NotRequired, TypedDict
from typing import TypeVar as _TypeVar

import pydantic
import pytest

from durable import ResultTypeError
from durable._engine.typed import codec_for_type, decode_value, encode_value
from durable._serialization import dumps, loads

T = _TypeVar("T")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Point(NamedTuple):
    x: int
    y: Decimal


class Stamped(TypedDict):
    at: datetime
    note: NotRequired[str]


@dataclass
class Box(Generic[T]):
    item: T


@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)


@dataclass
class Tagged:
    kind: Literal["a", "b"]
    when: time


class Cat(pydantic.BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int


class Dog(pydantic.BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool


OrderId = NewType("OrderId", uuid.UUID)
U1, U2 = uuid.UUID(int=1), uuid.UUID(int=2)

ROUND_TRIPS: list[tuple[Any, Any]] = [
    (datetime | None, None),
    (datetime | None, NOW),
    (int | datetime, 7),
    (int | datetime, NOW),
    (dict[int, Decimal], {1: Decimal("0.1"), 2: Decimal("2")}),
    (dict[uuid.UUID, list[date]], {U1: [date(2026, 1, 1)], U2: []}),
    (dict[Colour, int], {Colour.RED: 1}),
    (dict[date, Colour], {date(2026, 1, 1): Colour.BLUE}),
    (Point, Point(1, Decimal("2.5"))),
    (Stamped, {"at": NOW}),
    (Stamped, {"at": NOW, "note": "x", "extra": [1]}),
    (Box[datetime], Box(NOW)),
    (Box[list[Colour]], Box([Colour.RED])),
    (Node, Node("root", [Node("a", [Node("a1")]), Node("b")])),
    (Tagged, Tagged("a", time(12, 30))),
    (tuple[int, str, Colour], (1, "x", Colour.RED)),
    (tuple[()], ()),
    (set[uuid.UUID], {U1, U2}),
    (frozenset[Colour], frozenset({Colour.RED})),
    (Annotated[datetime, "meta"], NOW),
    (OrderId, OrderId(U1)),
    (list[Cat], [Cat(lives=9)]),
    (Cat | Dog, Dog(good=True)),
    (Cat | Dog, Cat(lives=3)),
    (datetime, datetime(2026, 1, 1, 12, 0)),  # a naive datetime stays naive
]


@pytest.mark.parametrize(("tp", "value"), ROUND_TRIPS, ids=[repr(t) for t, _ in ROUND_TRIPS])
def test_round_trip_through_json_text_gives_back_the_same_value_and_type(
    tp: Any, value: Any
) -> None:
    codec = codec_for_type(tp)
    assert codec is not None
    text = dumps(encode_value(codec, value, what="v"))
    back = decode_value(codec, loads(text), what="v")
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize(
    "tp", [Any, int, str, dict, list, dict[str, Any], list[int], dict[str, list[float]], None]
)
def test_plain_json_types_have_no_codec(tp: Any) -> None:
    assert codec_for_type(tp) is None


@pytest.mark.parametrize(
    ("tp", "raw", "field", "problem"),
    [
        (dict[str, datetime], {"ok": "2026-01-01", "paid": 5}, "['paid']", "got int 5"),
        (list[Node], [{"name": "r", "children": [{"children": []}]}], "[0].children[0].name", ""),
        (Colour, "green", None, "expected Colour (one of 'red', 'blue'), got str 'green'"),
        (tuple[int, str], [1], None, "expected tuple[int, str] (2 items)"),
        (Tagged, {"kind": "c", "when": "12:00"}, "kind", "expected Literal['a', 'b']"),
        (Box[Decimal], {"item": "lots"}, "item", "expected Decimal, got str 'lots'"),
        (dict[int, str], {"one": "x"}, "['one']", "expected a key of type int"),
        (list[Cat], [{"lives": "many"}], "[0].lives", "Input should be a valid integer"),
    ],
)
def test_json_that_does_not_fit_names_the_field(
    tp: Any, raw: Any, field: str | None, problem: str
) -> None:
    codec = codec_for_type(tp)
    assert codec is not None
    with pytest.raises(ResultTypeError) as caught:
        decode_value(codec, raw, what="the result of step 's'", step_id="s")
    assert caught.value.field == field
    assert caught.value.step_id == "s"
    assert problem in caught.value.message
    assert caught.value.message.startswith("the result of step 's' no longer fits its type ")


@pytest.mark.parametrize(
    ("tp", "why"),
    [
        (dict[tuple[int, int], str], "cannot be JSON object keys"),
        (datetime | uuid.UUID, "both stored as JSON strings"),
        (Box[Node] | Node, "both stored as JSON objects"),
    ],
)
def test_types_json_cannot_carry_are_refused_when_built(tp: Any, why: str) -> None:
    from durable._engine.typed import UnsupportedType

    with pytest.raises(UnsupportedType, match=why):
        codec_for_type(tp)
