"""Hostile CEL: random text to the compiler (an Expression, or an ExpressionError with the
expression and its position; never a crash), and compiled expressions evaluated against
random events (never an exception out of the evaluator; filters match only on a real True)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from durable._define.expressions import bind, compile_expression, render_key
from durable._errors import ExpressionError
from tests.support.hostile import HOSTILE, json_objects, json_values, wrong_types

#: Pieces of CEL (and of things that are not CEL), glued at random into plausible sources.
TOKENS = [
    "event",
    "async",
    ".data",
    ".name",
    ".id",
    ".ts",
    ".x",
    ".user",
    " == ",
    " != ",
    " < ",
    " >= ",
    " && ",
    " || ",
    "!",
    " + ",
    " - ",
    " * ",
    " / ",
    " % ",
    " in ",
    " ? ",
    " : ",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "0",
    "1",
    "-1",
    "2.5",
    "1e308",
    "9223372036854775807",
    "true",
    "null",
    '"a"',
    "'b'",
    'b"\\xff"',
    "size(",
    "has(",
    ".startsWith(",
    ".contains(",
    ".endsWith(",
    ".matches(",
    "int(",
    "string(",
    "dyn(",
    "timestamp(",
    "duration(",
    "eval(",
    "__import__",
    "$",
    "#",
    "\n",
    " ",
]

ATOMS = [
    "event.data.x",
    "event.data.y",
    "event.data.x.y",
    "event.name",
    "async.data.x",
    "event.data",
    "has(event.data.x)",
    "1",
    "2.5",
    "-0.0",
    '"a"',
    "true",
    "null",
    "[1, 2]",
    '{"k": 1}',
]
BINARY = [" == ", " != ", " < ", " >= ", " && ", " || ", " + ", " - ", " / ", " % ", " in "]

#: Well-formed CEL over the event, most of which compiles (and then evaluates to anything).
cel_expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(BINARY), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        inner.map(lambda e: f"!({e})"),
        inner.map(lambda e: f"size({e})"),
        st.tuples(inner, st.sampled_from(["startsWith", "contains", "endsWith"]), inner).map(
            lambda t: f"{t[0]}.{t[1]}({t[2]})"
        ),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    ),
    max_leaves=6,
)
sources = st.one_of(
    cel_expressions,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join),
    st.text(max_size=40),
)
event_data = st.fixed_dictionaries({}, optional={"x": json_values, "y": json_values}).flatmap(
    lambda fields: json_objects.map(lambda rest: {**rest, **fields})
)
variables = st.fixed_dictionaries(
    {"event": st.fixed_dictionaries({"name": st.text(max_size=8), "data": event_data})},
    optional={"async": st.fixed_dictionaries({"data": event_data}), "extra": json_values},
)


def check_error(exc: ExpressionError, source: str) -> None:
    assert exc.expression == source
    assert repr(source) in str(exc)
    if not source.strip() or "nested too deeply" in exc.detail:
        return
    assert exc.position is not None, exc
    line, column = exc.position
    lines = source.split("\n")
    assert 1 <= line <= len(lines), (exc.position, source)
    assert 1 <= column <= len(lines[line - 1]) + 1, (exc.position, source)
    assert f"line {line}, column {column}" in str(exc)


@HOSTILE
@given(source=sources, boolean=st.booleans())
@example(source="event.data.x == '\ud800'", boolean=False)  # was a bare TypeError
@example(source="\udc00", boolean=True)
@example(source="(" * 40 + "1" + ")" * 40, boolean=False)
@example(source="a." * 5_000 + "b", boolean=False)
@example(source='"a" + "b"', boolean=True)
@example(source="__import__('os').system('true')", boolean=False)
def test_compile_random_text(source: str, boolean: bool) -> None:
    try:
        compile_expression(source, boolean=boolean)
    except ExpressionError as exc:
        check_error(exc, source)


@HOSTILE
@given(source=wrong_types.filter(lambda v: not isinstance(v, str)) | st.binary(max_size=5))
def test_compile_non_strings(source: Any) -> None:
    try:
        compile_expression(source)
    except ExpressionError as exc:
        assert "must be a string" in str(exc)
    else:
        raise AssertionError(f"{source!r} compiled")


@HOSTILE
@given(source=cel_expressions, env=variables)
@example(source="event.data.x == 1", env={"event": {"name": "a", "data": {"x": 10**30}}})
@example(source="event.data.x + 1", env={"event": {"name": "a", "data": {"x": 2**63 - 1}}})
@example(source="1 / 0", env={"event": {"name": "a", "data": {}}})
@example(source="event.data.x", env={"event": {"name": "a", "data": {"x": True}}})
@example(source="event.data.x", env={"event": {"name": "a", "data": {"x": 1}}})
def test_evaluate_against_random_events(source: str, env: dict[str, Any]) -> None:
    """Whatever compiles, evaluated against any event: no exception escapes, ``matches`` is
    True only for the boolean ``true``, and keys are strings (or None)."""
    try:
        expression = compile_expression(source)
    except ExpressionError:
        return
    for given_env in (env, bind(env)):
        matched = expression.matches(given_env)
        value = expression.value(given_env)
        key = expression.key(given_env)
        assert isinstance(matched, bool)
        assert matched == (value is True), (source, value)
        assert key is None or isinstance(key, str)
        if key is not None:
            assert key == render_key(value)
