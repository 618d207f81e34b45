"""CEL expressions: ``if`` conditions, idempotency and concurrency keys, wait/cancel matching.

Expressions are compiled once (and cached) by Google's CEL implementation, never Python
``eval``. The variables ``event`` and ``async`` are declared as dynamic values; a variable
that is declared but not passed evaluates as an empty map, so ``has(async.data.x)`` is
simply false when only ``event`` is given.

JSON numbers arrive as ints or doubles unpredictably (``150`` or ``150.0``); CEL compares
them across types, and we add ``+ - * /`` between an int and a double (giving a double).

Evaluation never raises on bad data: a missing field, a type mismatch or a division by zero
makes :meth:`Expression.matches` false and :meth:`Expression.value` ``None``.

When one set of variables is checked against many expressions (one event against every
waiting run), :func:`bind` prepares it once; every method accepts the result in place of a
mapping.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cel_expr_python import cel

from .._errors import ExpressionError

#: The variables every expression may use unless told otherwise.
DEFAULT_VARIABLES: tuple[str, ...] = ("event", "async")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_NO_OVERLOAD = re.compile(r"no matching overload for '([A-Za-z_][A-Za-z0-9_]*)'")
_EVAL_FAILURES = (RuntimeError, TypeError, ValueError, OverflowError)
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOO_DEEP = re.compile(
    r"^(?:CANCELLED: Expression recursion limit exceeded\. limit: (\d+).*"
    r"|ERROR: <input>:-?\d+:-?\d+: Exceeded max recursion depth of (\d+) when parsing\..*)$"
)


class Bindings:
    """Variables converted once for CEL, reusable across many evaluations.

    Build with :func:`bind`. Declared variables missing from the mapping are bound to ``{}``.
    """

    __slots__ = ("_activation",)

    def __init__(self, activation: Any) -> None:
        self._activation = activation


def bind(variables: Mapping[str, Any], *, names: Sequence[str] = DEFAULT_VARIABLES) -> Bindings:
    """Prepare ``variables`` once for evaluating many expressions against them.

    Names in ``names`` that ``variables`` lacks are bound to an empty map. An expression that
    uses a variable bound nowhere evaluates as an error (no match, no value).
    """
    data: dict[str, Any] = {name: {} for name in names}
    data.update(variables)
    return Bindings(_env(DEFAULT_VARIABLES).Activation(data=data))


class Expression:
    """A compiled CEL expression. Build with :func:`compile_expression`."""

    __slots__ = ("_defaults", "_program", "source", "variables")

    def __init__(self, source: str, variables: tuple[str, ...], program: Any) -> None:
        self.source = source
        self.variables = variables
        self._program = program
        self._defaults: dict[str, Any] = {name: {} for name in variables}

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self.source, self.variables) == (other.source, other.variables)

    def __hash__(self) -> int:
        return hash((self.source, self.variables))

    def _eval(self, variables: Mapping[str, Any] | Bindings) -> Any | None:
        """The CEL result value, or ``None`` when evaluation failed."""
        try:
            if isinstance(variables, Bindings):
                result = self._program.eval(variables._activation)
            else:
                data = dict(self._defaults)
                data.update(variables)
                result = self._program.eval(data=data)
        except _EVAL_FAILURES:
            return None
        if result.type() == cel.Type.ERROR:
            return None
        return result

    def matches(self, variables: Mapping[str, Any] | Bindings) -> bool:
        """True only when the expression evaluates to the boolean ``true``.

        Evaluation errors (a missing field, a type mismatch) and non-boolean results are false.
        """
        result = self._eval(variables)
        return (
            result is not None and result.type() == cel.Type.BOOL and result.plain_value() is True
        )

    def value(self, variables: Mapping[str, Any] | Bindings) -> Any | None:
        """The result as a plain Python value, or ``None`` on an evaluation error (or null)."""
        result = self._eval(variables)
        if result is None:
            return None
        return _plain(result.plain_value())

    def key(self, variables: Mapping[str, Any] | Bindings) -> str | None:
        """The result as a stable string key, or ``None`` on an evaluation error or null.

        Strings are kept as they are; numbers and booleans are rendered as JSON (a float with
        an integral value renders like the integer: ``150.0`` -> ``"150"``, since CEL holds
        them equal); lists and maps as compact JSON with sorted keys.
        """
        value = self.value(variables)
        return None if value is None else render_key(value)


def render_key(value: Any) -> str:
    """Render a plain value as a stable string key (see :meth:`Expression.key`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return json.dumps(int(value))
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):
        return str(value)


def _plain(value: Any) -> Any:
    """CEL's plain value with the odd types made ordinary (bytes, type values)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, cel.Type):
        return str(value.name())
    return value


def compile_expression(
    source: str,
    *,
    variables: Sequence[str] = DEFAULT_VARIABLES,
    boolean: bool = False,
) -> Expression:
    """Compile a CEL expression over ``variables`` (``event`` and ``async`` by default).

    With ``boolean=True`` an expression whose type is known not to be a boolean (such as
    ``"a" + "b"``) is rejected too. Results are cached by source and variables.

    Raises :class:`ExpressionError` with the 1-based ``(line, column)`` of the problem.
    """
    if not isinstance(source, str):
        raise ExpressionError(
            f"an expression must be a string, got {type(source).__name__}", expression=repr(source)
        )
    if not source.strip():
        raise ExpressionError("the expression is empty", expression=source)
    surrogate = _SURROGATE.search(source)
    if surrogate is not None:  # a str, but not text: CEL cannot even receive it
        before = source[: surrogate.start()]
        raise ExpressionError(
            f"{surrogate[0]!r} is a lone UTF-16 surrogate, not text",
            expression=source,
            position=(before.count("\n") + 1, surrogate.start() - before.rfind("\n")),
        )
    names = _variable_names(variables)
    expression = _compile(source, names)
    if boolean:
        kind = expression._program.return_type()
        if kind != cel.Type.BOOL and kind != cel.Type.DYN:
            raise ExpressionError(
                f"a condition must give true or false, but this gives a {kind.name().lower()}",
                expression=source,
                position=_first_text(source),  # the whole expression is the problem
            )
    return expression


def _first_text(source: str) -> tuple[int, int]:
    """The 1-based ``(line, column)`` of the first non-blank character of ``source``."""
    stripped = source.lstrip()
    before = source[: len(source) - len(stripped)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _variable_names(variables: Sequence[str]) -> tuple[str, ...]:
    if isinstance(variables, str):
        variables = (variables,)
    for name in variables:
        if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"invalid expression variable name {name!r}")
    return tuple(sorted(set(variables)))


def _divide(a: float, b: float) -> float:
    """IEEE division, as CEL does for doubles: ``1 / 0.0`` is infinity, not an error."""
    if b:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _mixed_arithmetic() -> Any:
    """``+ - * /`` between an int and a double (JSON gives ``150`` or ``150.0`` at random).

    CEL only defines them for two ints or two doubles; comparisons are already mixed.
    """
    int_, double = cel.Type.INT, cel.Type.DOUBLE
    operations: dict[str, tuple[str, Callable[[float, float], float]]] = {
        "_+_": ("add", operator.add),
        "_-_": ("subtract", operator.sub),
        "_*_": ("multiply", operator.mul),
        "_/_": ("divide", _divide),
    }
    declarations = [
        cel.FunctionDecl(
            symbol,
            [
                cel.Overload(f"durable_{name}_double_int", double, [double, int_], impl=impl),
                cel.Overload(f"durable_{name}_int_double", double, [int_, double], impl=impl),
            ],
        )
        for symbol, (name, impl) in operations.items()
    ]
    return cel.CelExtension("durable_mixed_arithmetic", declarations)


@functools.lru_cache(maxsize=32)
def _env(names: tuple[str, ...]) -> Any:
    return cel.NewEnv(
        variables={name: cel.Type.DYN for name in names}, extensions=[_mixed_arithmetic()]
    )


@functools.lru_cache(maxsize=2048)
def _compile(source: str, names: tuple[str, ...]) -> Expression:
    try:
        program = _env(names).compile(source)
    except (RuntimeError, ValueError) as exc:
        detail, position = _describe(str(exc), source, names)
        raise ExpressionError(detail, expression=source, position=position) from None
    return Expression(source, names, program)


def _describe(
    message: str, source: str, names: tuple[str, ...]
) -> tuple[str, tuple[int, int] | None]:
    """A one-line detail and the 1-based position of CEL's first compile error."""
    match = _CEL_ERROR.search(message)
    if match is None:
        first = message.strip().splitlines()[0] if message.strip() else "does not compile"
        return _clean(first.removeprefix("INVALID_ARGUMENT: ")), None
    line, column, detail = int(match[1]), int(match[2]), match[3]
    undeclared = _UNDECLARED.search(detail)
    overload = _NO_OVERLOAD.search(detail)
    if undeclared:
        name = undeclared[1]
        column = _start_of(name, source, line, column)
        if _is_call(source, line, column + len(name)):
            detail = f"unknown function {name!r}"
        else:
            known = ", ".join(names)
            detail = f"unknown variable {name.split('.')[0]!r} (the variables are: {known})"
    elif overload:
        column = _start_of(overload[1], source, line, column)
    return _clean(detail), (line, column)


def _is_call(source: str, line: int, column: int) -> bool:
    """Whether the text at 1-based ``(line, column)`` opens a call: ``(`` after blanks."""
    lines = source.split("\n")
    return 1 <= line <= len(lines) and lines[line - 1][column - 1 :].lstrip().startswith("(")


def _clean(detail: str) -> str:
    too_deep = _TOO_DEEP.match(detail)
    if too_deep:
        return f"nested too deeply (CEL allows {too_deep[1] or too_deep[2]} levels)"
    detail = detail.removesuffix(" [INVALID_ARGUMENT]")
    detail = detail.replace(" (in container '')", "")
    detail = re.sub(r" expecting .*$", "", detail)
    detail = detail.replace("Syntax error: ", "syntax error: ")
    detail = detail.replace("mismatched input '<EOF>'", "unexpected end of expression")
    detail = re.sub(r"(?:mismatched|extraneous) input ('.*')", r"unexpected \1", detail)
    detail = detail.replace("token recognition error at: ", "unrecognized text ")
    return detail


def _start_of(name: str, source: str, line: int, column: int) -> int:
    """Where ``name`` starts on ``line``: CEL points at the last ``.`` or at the call's ``(``.

    Falls back to CEL's column when the name cannot be found before it.
    """
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return column
    text = lines[line - 1]
    for candidate in (name, name.rsplit(".", 1)[-1]):
        found = text.rfind(candidate, 0, column - 1 + len(candidate))
        if found >= 0:
            return found + 1
    return column
