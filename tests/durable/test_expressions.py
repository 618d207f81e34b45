from typing import Any

import pytest

from durable._define.expressions import bind, compile_expression, render_key
from durable._errors import ExpressionError


def event(**data: Any) -> dict[str, Any]:
    return {"name": "user/action", "data": data, "id": "01H", "ts": 0}


PURCHASE = 'event.data.action == "purchase" && event.data.amount > 100'


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"action": "purchase", "amount": 150}, True),
        ({"action": "purchase", "amount": 150.0}, True),
        ({"action": "purchase", "amount": 100}, False),
        ({"action": "refund", "amount": 150}, False),
        ({"action": "purchase"}, False),
        ({"action": "purchase", "amount": "150"}, False),
    ],
)
def test_condition(data: dict[str, Any], expected: bool) -> None:
    assert compile_expression(PURCHASE).matches({"event": event(**data)}) is expected


def test_event_against_async() -> None:
    expr = compile_expression("event.data.orderId == async.data.orderId")
    run_event = event(orderId="o1")
    assert expr.matches({"event": run_event, "async": event(orderId="o1")})
    assert not expr.matches({"event": run_event, "async": event(orderId="o2")})
    assert not expr.matches({"event": run_event, "async": event()})


@pytest.mark.parametrize(
    ("source", "data", "expected"),
    [
        ('event.data.plan in ["pro", "team"]', {"plan": "pro"}, True),
        ('event.data.plan in ["pro", "team"]', {"plan": "free"}, False),
        ('"vip" in event.data.tags', {"tags": ["vip", "new"]}, True),
        ("has(event.data.coupon)", {"coupon": "X"}, True),
        ("has(event.data.coupon)", {}, False),
        ("size(event.data.items) == 2", {"items": [1, 2]}, True),
        ("size(event.data.name) > 3", {"name": "ab"}, False),
        ('event.data.email.endsWith("@acme.com")', {"email": "a@acme.com"}, True),
        ('event.data.email.startsWith("admin")', {"email": "a@acme.com"}, False),
        ('event.data.email.contains("acme")', {"email": "a@acme.com"}, True),
        ("!event.data.test", {"test": False}, True),
        ("!event.data.test", {"test": True}, False),
        ('event.data.a == 1 || event.data.b == "x"', {"a": 2, "b": "x"}, True),
        ('event.data.a == 1 || event.data.b == "x"', {"a": 2, "b": "y"}, False),
        ("event.data.n == 150", {"n": 150.0}, True),
        ("event.data.n == 150.0", {"n": 150}, True),
        ("event.data.n < 1.5", {"n": 1}, True),
        ("event.data.total + 1 > 10", {"total": 9.5}, True),
        ("event.data.total + 1 > 10", {"total": 10}, True),
        ("event.data.a + event.data.b == 7.5", {"a": 5, "b": 2.5}, True),
        ("event.data.a - 1 == 1.5", {"a": 2.5}, True),
        ("2 * event.data.a == 5.0", {"a": 2.5}, True),
        ("1 / event.data.a == 0.5", {"a": 2.0}, True),
        ("10 / event.data.a == 2.5", {"a": 4.0}, True),
        ("10 / event.data.a == 2", {"a": 4}, True),
        ("event.data.nested.deep.x == 1", {"nested": {"deep": {"x": 1}}}, True),
    ],
)
def test_operators(source: str, data: dict[str, Any], expected: bool) -> None:
    assert compile_expression(source).matches({"event": event(**data)}) is expected


def test_only_a_true_boolean_matches() -> None:
    assert not compile_expression("event.data.flag").matches({"event": event(flag="yes")})
    assert not compile_expression("event.data.flag").matches({"event": event(flag=1)})
    assert compile_expression("event.data.flag").matches({"event": event(flag=True)})


def test_evaluation_errors_do_not_match() -> None:
    expr = compile_expression("event.data.missing.deeper == 1")
    assert expr.matches({"event": event()}) is False
    assert expr.value({"event": event()}) is None
    assert compile_expression("1 / event.data.n == 1").matches({"event": event(n=0)}) is False


def test_absent_variables_are_empty_maps() -> None:
    expr = compile_expression("has(async.data.x)")
    assert expr.matches({"event": event(x=1)}) is False
    assert expr.matches({"event": event(), "async": event(x=1)}) is True


def test_mixed_arithmetic_values() -> None:
    expr = compile_expression("event.data.a / event.data.b")
    assert expr.value({"event": event(a=1, b=4.0)}) == 0.25
    assert expr.value({"event": event(a=1.0, b=0)}) == float("inf")
    assert expr.value({"event": event(a=1, b=0)}) is None  # int division by zero: an error
    assert compile_expression("event.data.a + 1").value({"event": event(a=1)}) == 2


def test_values_and_keys() -> None:
    key = compile_expression('event.data.userId + "-" + event.data.orgId')
    variables = {"event": event(userId="u1", orgId="o9")}
    assert key.value(variables) == "u1-o9"
    assert key.key(variables) == "u1-o9"
    assert key.key({"event": event(userId="u1")}) is None
    assert key.key({"event": event(userId=1, orgId="o9")}) is None

    field = compile_expression("event.data.v")
    assert field.key({"event": event(v=150)}) == "150"
    assert field.key({"event": event(v=150.0)}) == "150"
    assert field.key({"event": event(v=1.5)}) == "1.5"
    assert field.key({"event": event(v=True)}) == "true"
    assert field.key({"event": event(v=None)}) is None
    assert field.key({"event": event(v={"b": 1, "a": [1, "x"]})}) == '{"a":[1,"x"],"b":1}'
    assert field.value({"event": event(v=[1, 2.5, None])}) == [1, 2.5, None]


def test_render_key() -> None:
    assert render_key("a b") == "a b"
    assert render_key(False) == "false"
    assert render_key(-3.0) == "-3"
    assert render_key({"z": 1, "a": 2}) == '{"a":2,"z":1}'


def test_bindings_are_reusable() -> None:
    bound = bind({"event": event(orderId="o1"), "async": event(orderId="o1")})
    same = compile_expression("event.data.orderId == async.data.orderId")
    different = compile_expression('async.data.orderId == "o2"')
    assert same.matches(bound)
    assert not different.matches(bound)
    assert same.value(bound) is True
    only_event = bind({"event": event(x=1)})
    assert compile_expression("has(async.data.x)").matches(only_event) is False
    assert compile_expression("event.data.x == 1").matches(only_event) is True


@pytest.mark.parametrize(
    ("source", "position", "detail"),
    [
        ("event.data.x ==", (1, 16), "unexpected end of expression"),
        ("event.data.x = 1", (1, 14), "syntax error"),
        ("foo.bar == 1", (1, 1), "unknown variable 'foo'"),
        ('event.data.x == "a" &&\n  foo', (2, 3), "unknown variable 'foo'"),
        ("event.data.x.nope(1)", (1, 14), "unknown function 'nope'"),
        ("size(1) > 0", (1, 1), "size"),
        ('"é" == 1 +', (1, 11), "unexpected end of expression"),
    ],
)
def test_compile_errors_have_positions(source: str, position: tuple[int, int], detail: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    error = info.value
    assert error.position == position
    assert detail in error.detail
    assert "\n" not in error.detail
    assert "<input>" not in error.detail
    assert "INVALID_ARGUMENT" not in error.detail
    assert error.expression == source


def test_declared_variables_are_configurable() -> None:
    with pytest.raises(ExpressionError, match="unknown variable 'async'"):
        compile_expression("async.data.x == 1", variables=("event",))
    expr = compile_expression("steps.a.ok && event.data.x == 1", variables=("event", "steps"))
    assert expr.matches({"event": event(x=1), "steps": {"a": {"ok": True}}})


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_empty_or_non_string_sources_are_rejected(bad: object) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(bad)  # type: ignore[arg-type]


def test_boolean_mode_rejects_non_conditions() -> None:
    with pytest.raises(ExpressionError, match="true or false"):
        compile_expression('"a" + "b"', boolean=True)
    assert compile_expression("event.data.flag", boolean=True).source == "event.data.flag"
    assert compile_expression('"a" + "b"').value({}) == "ab"


def test_compilation_is_cached() -> None:
    assert compile_expression(PURCHASE) is compile_expression(PURCHASE)
    assert compile_expression(PURCHASE) is not compile_expression(PURCHASE, variables=("event",))


def test_expressions_compare_by_source() -> None:
    assert compile_expression("event.data.x == 1") == compile_expression("event.data.x == 1")
    assert compile_expression("event.data.x == 1") != compile_expression("event.data.x == 2")
