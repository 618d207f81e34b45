"""Typed step results (SPEC section 8) on the TestEngine's virtual clock.

Every function here records what its handler received in each pass, so a test can check
that the first execution (the step body just ran) and the replay after a sleep (the result
read back from the store) hand the handler the same value of the same type.

This module uses ``from __future__ import annotations`` on purpose: every annotation below is
a string, resolved the way ``typing.get_type_hints`` does.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from durable import Context, Durable, ResultTypeError
from durable.testing import TestEngine

STAMP = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=2)))
ORDER_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal
    colour: Colour


@dataclass(frozen=True)
class Order:
    id: uuid.UUID
    placed_at: datetime
    lines: list[Line]
    due: date
    priority: Priority = Priority.LOW
    notes: tuple[str, ...] = ()
    tags: frozenset[str] = field(default_factory=frozenset)


class Address(pydantic.BaseModel):
    city: str
    zip: int


class User(pydantic.BaseModel):
    name: str
    joined: datetime
    address: Address
    balance: Decimal


ORDER = Order(
    ORDER_ID,
    STAMP,
    [Line("a-1", Decimal("9.99"), Colour.RED), Line("b-2", Decimal("0.10"), Colour.BLUE)],
    date(2026, 3, 8),
    Priority.HIGH,
    ("gift", "fragile"),
    frozenset({"vip"}),
)
USER = User(
    name="Ann",
    joined=STAMP,
    address=Address(city="Lyon", zip=69001),
    balance=Decimal("12.50"),
)


def fetch_order() -> Order:
    return ORDER


def fetch_user() -> User:
    return USER


def fetch_users() -> list[User]:
    return [USER, USER.model_copy(update={"name": "Bob"})]


def fetch_stamps() -> dict[str, datetime]:
    return {"created": STAMP, "paid": STAMP + timedelta(minutes=5)}


def maybe_stamp(present: bool) -> datetime | None:
    return STAMP if present else None


def count_or_stamp(count: bool) -> int | datetime:
    return 3 if count else STAMP


def misc() -> tuple[uuid.UUID, Decimal, Colour, set[int], dict[Colour, date]]:
    return ORDER_ID, Decimal("1e-7"), Colour.BLUE, {1, 2}, {Colour.RED: date(2026, 1, 2)}


def untyped():  # type: ignore[no-untyped-def]  # no annotation: plain JSON, as before
    return {"at": STAMP.isoformat(), "n": (1, 2)}


app = Durable(id="typed")
SEEN: list[dict[str, Any]] = []


@app.function(id="types", triggers=[{"event": "typed/all"}])
async def all_types(ctx: Context) -> Order:
    got = {
        "order": await ctx.step.run("order", fetch_order),
        "user": await ctx.step.run("user", fetch_user),
        "users": await ctx.step.run("users", fetch_users),
        "stamps": await ctx.step.run("stamps", fetch_stamps),
        "some": await ctx.step.run("some", maybe_stamp, True),
        "none": await ctx.step.run("none", maybe_stamp, False),
        "count": await ctx.step.run("count", count_or_stamp, True),
        "stamp": await ctx.step.run("stamp", count_or_stamp, False),
        "misc": await ctx.step.run("misc", misc),
        "untyped": await ctx.step.run("untyped", untyped),
        "given": await ctx.step.run("given", lambda: STAMP, output_type=datetime),
    }
    SEEN.append(got)
    await ctx.step.sleep("nap", "3d")
    return got["order"]  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


def assert_same(got: dict[str, Any]) -> None:
    assert got["order"] == ORDER and type(got["order"]) is Order
    order = got["order"]
    assert type(order.id) is uuid.UUID and order.placed_at.utcoffset() == timedelta(hours=2)
    assert [type(line.price) for line in order.lines] == [Decimal, Decimal]
    assert order.lines[0].colour is Colour.RED and order.priority is Priority.HIGH
    assert order.notes == ("gift", "fragile") and order.tags == frozenset({"vip"})
    assert got["user"] == USER and type(got["user"].address) is Address
    assert got["users"] == [USER, USER.model_copy(update={"name": "Bob"})]
    assert got["stamps"] == fetch_stamps()
    assert got["some"] == STAMP and got["none"] is None
    assert got["count"] == 3 and got["stamp"] == STAMP
    assert got["misc"] == misc() and type(got["misc"]) is tuple
    assert got["untyped"] == {"at": STAMP.isoformat(), "n": [1, 2]}
    assert got["given"] == STAMP


async def test_each_type_comes_back_as_itself_on_first_run_and_on_replay() -> None:
    async with TestEngine(app) as t:
        await t.send({"name": "typed/all"})
        await t.settle()
        assert len(SEEN) == 1  # the first execution: every body ran in this pass
        assert_same(SEEN[0])
        await t.advance("3d")
        assert len(SEEN) == 2  # the replay: every result read back from the store
        assert_same(SEEN[1])
        run = t.runs(function="types")[0]
    assert run.status == "completed", run.error
    # stored as JSON: what fixtures and the API show
    steps = {step.key: step.output for step in run.steps}
    assert steps["order"]["placed_at"] == "2026-03-01T09:30:15.250000+02:00"
    assert steps["order"]["lines"][0] == {"sku": "a-1", "price": "9.99", "colour": "red"}
    assert steps["order"]["id"] == str(ORDER_ID) and steps["order"]["priority"] == 2
    assert steps["user"]["address"] == {"city": "Lyon", "zip": 69001}
    assert steps["misc"] == [str(ORDER_ID), "1E-7", "blue", [1, 2], {"red": "2026-01-02"}]
    assert steps["some"] == STAMP.isoformat() and steps["none"] is None
    # the function's own output, encoded by its return annotation
    assert run.output == steps["order"]


# -- invoke and the function's output ---------------------------------------------------------


@app.function(id="make-user", triggers=[{"event": "typed/make-user"}])
async def make_user(ctx: Context) -> User:
    return USER.model_copy(update={"name": ctx.event.data["name"]})


@app.function(id="invoker", triggers=[{"event": "typed/invoke"}])
async def invoker(ctx: Context) -> dict[str, Any]:
    by_function = await ctx.step.invoke("by-fn", function=make_user, data={"name": "Cy"})
    by_id = await ctx.step.invoke("by-id", function="make-user", data={"name": "Di"})
    by_id_typed = await ctx.step.invoke(
        "by-id-typed", function="make-user", data={"name": "Ed"}, output_type=User
    )
    SEEN.append({"fn": by_function, "id": by_id, "typed": by_id_typed})
    await ctx.step.sleep("nap", "1h")
    return {"name": by_function.name}


async def test_invoke_returns_the_invoked_functions_type_and_by_id_plain_json() -> None:
    async with TestEngine(app) as t:
        await t.send({"name": "typed/invoke"})
        await t.advance("2h")
        run = t.runs(function="invoker")[0]
    assert run.status == "completed", run.error
    assert len(SEEN) == 2
    for seen in SEEN:  # first execution, then the replay after the sleep
        assert seen["fn"] == USER.model_copy(update={"name": "Cy"})
        assert seen["id"] == USER.model_copy(update={"name": "Di"}).model_dump(mode="json")
        assert seen["typed"] == USER.model_copy(update={"name": "Ed"})
    assert run.output == {"name": "Cy"}


# -- mocks ------------------------------------------------------------------------------------


async def test_execute_mocks_hold_json_decoded_to_the_type_or_the_typed_value() -> None:
    json_order = {
        "id": str(ORDER_ID),
        "placed_at": "2026-03-01T09:30:15.250000+02:00",
        "lines": [{"sku": "a-1", "price": 9.99, "colour": "red"}],  # a number: still a Decimal
        "due": "2026-03-08",
    }
    async with TestEngine(app) as t:
        run = await t.execute(
            "types",
            steps={
                "order": {"output": json_order},
                "user": {"output": USER},  # a typed value is encoded by its type
                "stamps": {"output": {"created": "2026-01-01T00:00:00Z"}},
            },
        )
    assert run.status == "completed", run.error
    order = SEEN[0]["order"]
    assert type(order) is Order and order.lines[0].price == Decimal("9.99")
    assert order.priority is Priority.LOW and order.notes == ()  # defaults of missing fields
    assert SEEN[0]["user"] == USER
    assert SEEN[0]["stamps"] == {"created": datetime(2026, 1, 1, tzinfo=UTC)}
    assert SEEN[1]["order"] == order  # and the same after the sleep
    assert run.steps[0].output == json_order  # stored as given
    assert run.steps[1].output == USER.model_dump(mode="json")


# -- errors -----------------------------------------------------------------------------------


async def test_a_mock_that_does_not_fit_names_the_step_the_type_and_the_field() -> None:
    bad = {"id": str(ORDER_ID), "placed_at": "yesterday", "lines": [], "due": "2026-03-08"}
    async with TestEngine(app) as t:
        run = await t.execute("types", steps={"order": {"output": bad}})
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "ResultTypeError"
    assert run.error["code"] == ResultTypeError.code == "result_type_mismatch"
    assert run.error["step_id"] == "order"
    assert run.error["type"] == "Order"
    assert run.error["field"] == "placed_at"
    assert run.error["message"] == (
        "the mocked result of step 'order' no longer fits its type Order, field 'placed_at': "
        "expected datetime, got str 'yesterday' (did the type change since it was stored?)"
    )


@dataclass
class AddressV1:
    city: str


@dataclass
class AddressV2:
    city: str
    zip: int


@dataclass
class CustomerV1:
    name: str
    addresses: list[AddressV1]


@dataclass
class CustomerV2:
    name: str
    addresses: list[AddressV2]


class CustomerModelV2(pydantic.BaseModel):
    name: str
    addresses: list[Address]


DEPLOYED: dict[str, Any] = {}


@app.function(id="deploys", triggers=[{"event": "typed/deploys"}])
async def deploys(ctx: Context) -> None:
    def load() -> dict[str, Any]:
        return DEPLOYED["value"]

    customer = await ctx.step.run("customer", load, output_type=DEPLOYED["type"])
    await ctx.step.sleep("wait", "1d")
    SEEN.append({"customer": customer})


@pytest.mark.parametrize(
    ("new_type", "field", "problem"),
    [
        (CustomerV2, "addresses[0].zip", "required field is missing"),
        (CustomerModelV2, "addresses[0].zip", "Field required, got dict {'city': 'Lyon'}"),
    ],
)
async def test_stored_json_that_no_longer_fits_a_changed_type_fails_the_run_naming_it(
    new_type: type, field: str, problem: str
) -> None:
    DEPLOYED.update(value=CustomerV1("Ann", [AddressV1("Lyon")]), type=CustomerV1)
    async with TestEngine(app) as t:
        await t.send({"name": "typed/deploys"})
        await t.settle()
        DEPLOYED["type"] = new_type  # a deploy changed the type while the run slept
        await t.advance("1d")
        run = t.runs(function="deploys")[0]
    assert run.status == "failed"
    assert SEEN == []  # the handler never got a half-decoded value
    assert run.error is not None
    name = new_type.__name__
    assert run.error["name"] == "ResultTypeError"
    where = (run.error["step_id"], run.error["type"], run.error["field"])
    assert where == ("customer", name, field)
    assert run.error["message"].startswith(
        f"the result of step 'customer' no longer fits its type {name}, field '{field}': {problem}"
    )
    assert [s.attempts for s in run.steps if s.key == "customer"] == [1]


@app.function(id="bad-value", triggers=[{"event": "typed/bad-value"}])
async def bad_value(ctx: Context) -> None:
    def wrong() -> list[Order]:
        return [ORDER, {"id": "not an order"}]  # type: ignore[list-item]

    await ctx.step.run("wrong", wrong)


async def test_a_value_that_cannot_be_encoded_as_its_type_fails_the_run_at_once() -> None:
    async with TestEngine(app) as t:
        await t.send({"name": "typed/bad-value"})
        await t.settle()
        run = t.runs(function="bad-value")[0]
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "ResultTypeError"
    assert run.error["message"] == (
        "the result of step 'wrong' does not fit its type list[Order], field '[1]': "
        "expected Order, got dict {'id': 'not an order'}"
    )
    assert (run.error["step_id"], run.error["field"]) == ("wrong", "[1]")
    assert run.steps == []  # nothing was stored


@dataclass
class Cat:
    name: str


@dataclass
class Dog:
    name: str


@app.function(id="ambiguous", triggers=[{"event": "typed/ambiguous"}])
async def ambiguous(ctx: Context) -> None:
    def pet() -> Cat | Dog:
        return Cat("Tom")

    await ctx.step.run("pet", pet)


async def test_a_union_json_cannot_tell_apart_is_refused_naming_both_types() -> None:
    async with TestEngine(app) as t:
        await t.send({"name": "typed/ambiguous"})
        await t.settle()
        run = t.runs(function="ambiguous")[0]
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "ResultTypeError"
    assert run.error["message"].startswith(
        "the result of step 'pet' has the type Cat | Dog, which cannot be stored as JSON and "
        "read back: Cat and Dog are both stored as JSON objects"
    )


@app.function(id="bad-output", triggers=[{"event": "typed/bad-output"}])
async def bad_output(ctx: Context) -> datetime:
    return "not a datetime"  # type: ignore[return-value]


async def test_a_function_output_that_does_not_fit_its_annotation_fails_the_run() -> None:
    async with TestEngine(app) as t:
        await t.send({"name": "typed/bad-output"})
        await t.settle()
        run = t.runs(function="bad-output")[0]
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["message"] == (
        "the return value of function 'bad-output' does not fit its type datetime: "
        "expected datetime, got str 'not a datetime'"
    )


async def test_an_annotation_that_cannot_be_resolved_warns_and_stays_plain_json() -> None:
    local = Durable(id="typed-local")

    @dataclass
    class Local:  # a local class: a string annotation cannot name it
        n: int

    def make() -> Local:
        return {"n": 1}  # type: ignore[return-value]

    @local.function(id="local", triggers=[{"event": "typed/local"}])
    async def uses_local(ctx: Context) -> Any:
        return await ctx.step.run("make", make)

    async with TestEngine(local) as t:
        with pytest.warns(RuntimeWarning, match="cannot be resolved"):
            run = await t.execute("local")
    assert run.status == "completed" and run.output == {"n": 1}
    # output_type names it for the engine
    assert (await _run_with_output_type(Local)) == "Local"


async def _run_with_output_type(tp: type) -> str:
    local = Durable(id="typed-local-2")

    @local.function(id="local", triggers=[{"event": "typed/local"}])
    async def uses_local(ctx: Context) -> str:
        value = await ctx.step.run("make", lambda: tp(1), output_type=tp)
        return type(value).__name__

    async with TestEngine(local) as t:
        run = await t.execute("local")
    return str(run.output)


@app.function(id="no-checkpointing", triggers=[{"event": "typed/pass"}], checkpointing=False)
async def no_checkpointing(ctx: Context) -> str:
    # every step ends its pass: each later pass reads the earlier results back
    order = await ctx.step.run("order", fetch_order)
    users = await ctx.step.run("users", fetch_users)
    SEEN.append({"order": order, "users": users})
    return f"{type(order).__name__} {type(users[0]).__name__}"


async def test_with_checkpointing_off_every_pass_reads_the_types_back() -> None:
    async with TestEngine(app) as t:
        run = await t.execute("no-checkpointing")
    assert run.status == "completed", run.error
    assert run.output == "Order User"
    assert len(SEEN) == 1
    assert SEEN[0] == {"order": ORDER, "users": fetch_users()}


async def test_an_unresolvable_output_annotation_under_warnings_as_errors_fails_cleanly() -> None:
    local = Durable(id="typed-local-3")

    @dataclass
    class Local:
        n: int

    @local.function(id="local-out", triggers=[{"event": "typed/local-out"}])
    async def local_out(ctx: Context) -> Local:  # "Local": not a module-level name
        return {"n": 1}  # type: ignore[return-value]

    async with TestEngine(local) as t:  # pytest turns warnings into errors here
        run = await t.execute("local-out")
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == "SerializationError"
    assert run.error["message"].startswith(
        "the return value of function 'local-out': the return annotation 'Local' of "
    )
    assert "cannot be resolved" in run.error["message"]
