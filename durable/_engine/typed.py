"""Typed step results (SPEC section 8): the type a step returns, and its value by that type.

The type of ``step.run(id, fn)`` is ``fn``'s return annotation (resolved with
``typing.get_type_hints`` semantics, so ``from __future__ import annotations`` works), or
``output_type=`` where given; ``step.invoke`` uses the invoked handler's annotation, and a
function's own output its handler's. :func:`codec_for_callable` turns it into a codec, built
once and cached, or ``None`` when the type is plain JSON (no annotation, ``Any``, ``dict``,
``list[int]``...): then the result is plain JSON, as without types, at the cost of a lookup.

A typed value goes through its JSON form even on the first execution (the execution core
encodes, stores, then decodes), so the first run and every replay see the same value.
Errors are :class:`~durable.ResultTypeError`, naming the step, the type and the field.
"""

from __future__ import annotations

import contextlib
import functools
import types
import typing
import warnings
import weakref
from typing import TYPE_CHECKING, Any

from .._errors import ResultTypeError, SerializationError
from .typed_errors import Mismatch, Unresolved, UnsupportedType

if TYPE_CHECKING:
    from .typed_codecs import Codec

__all__ = [
    "Mismatch",
    "Typed",
    "Unresolved",
    "UnsupportedType",
    "codec_for_callable",
    "codec_for_type",
    "decode_value",
    "encode_value",
    "mock_json",
    "output_json",
    "step_codec",
    "step_json",
    "step_value",
]


_NO_HINT: Any = object()
_CACHE_LIMIT = 4096
#: codec (``None``: plain JSON) by type
_BY_TYPE: dict[Any, Codec | None] = {}
#: codec by function, for string annotations (resolved in the function's module)
_BY_FUNCTION: weakref.WeakKeyDictionary[Any, Codec | None] = weakref.WeakKeyDictionary()
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def codec_for_type(tp: Any) -> Codec | None:
    """The codec of ``tp``, or ``None`` if it is plain JSON. :class:`UnsupportedType` if a
    type cannot be stored as JSON without guessing (``A | B`` both stored as objects)."""
    try:
        return _BY_TYPE[tp]
    except KeyError:
        pass
    except TypeError:  # unhashable (an Annotated with a dict, say): build it each time
        return _build(tp)
    codec = _build(tp)
    if len(_BY_TYPE) >= _CACHE_LIMIT:
        _BY_TYPE.clear()
    _BY_TYPE[tp] = codec
    return codec


def _build(tp: Any) -> Codec | None:
    from .typed_build import Builder  # on first use: unannotated steps never load it

    try:
        codec = Builder().build(tp)
    except UnsupportedType as exc:
        exc.tp = tp
        raise exc from None
    return None if codec.plain else codec


def codec_for_callable(
    fn: Any,
    output_type: Any = None,
    *,
    what: str,
    run_id: str | None = None,
    step_id: str | None = None,
) -> Codec | None:
    """The codec of what calling ``fn`` returns: ``output_type`` if given, else its return
    annotation; ``None`` for plain JSON. :class:`ResultTypeError` for a type that cannot be
    stored as JSON and read back (``what`` names the value in the message)."""
    if output_type is None and type(fn) is types.FunctionType:
        # the common cases first, inline: this runs for every step
        annotations = fn.__annotations__
        hint = annotations.get("return", _NO_HINT) if annotations else _NO_HINT
        if hint is _NO_HINT:
            return None
        try:  # not contextlib.suppress: it costs more than the lookup
            if type(hint) is not str:
                return _BY_TYPE[hint]
            return _BY_FUNCTION[fn]  # a string annotation resolved before
        except (KeyError, TypeError):
            pass
    try:
        if output_type is not None:
            return codec_for_type(output_type)
        return _codec_of_annotation(fn)
    except UnsupportedType as exc:
        from .typed_codecs import type_name

        name = type_name(exc.tp)
        raise ResultTypeError(
            f"{what} has the type {name}, which cannot be stored as JSON and read back: {exc}",
            type=name,
            run_id=run_id,
            step_id=step_id,
        ) from None


def _codec_of_annotation(fn: Any) -> Codec | None:
    func, hint = _return_hint(fn)
    if hint is _NO_HINT:
        return None
    if not isinstance(hint, str):
        try:
            return codec_for_type(hint)
        except Unresolved:  # list["User"]: resolve the name in func's module, below
            pass
    try:
        return _BY_FUNCTION[func]
    except (KeyError, TypeError):
        pass
    resolved = _resolve(func, hint)
    codec = None if resolved is _NO_HINT else codec_for_type(resolved)
    with contextlib.suppress(TypeError):  # not weak-referenceable: not cached
        _BY_FUNCTION[func] = codec
    return codec


def mock_json(codec: Codec | None, value: Any) -> Any:
    """A mocked result as JSON: a typed value is encoded, JSON (as fixtures hold it) kept."""
    if codec is None:
        return value
    try:
        return codec.encode(value)
    except (Mismatch, RecursionError):
        return value


def _return_hint(fn: Any) -> tuple[Any, Any]:
    """``(function holding the annotation, the raw return annotation or _NO_HINT)``."""
    kind = type(fn)
    if kind is types.FunctionType:  # the common case, first: this runs for every step
        func = fn
    elif kind is types.MethodType:
        func = fn.__func__
    else:
        return _other_hint(fn)
    annotations = func.__annotations__
    return func, annotations.get("return", _NO_HINT) if annotations else _NO_HINT


def _other_hint(fn: Any) -> tuple[Any, Any]:
    target = fn
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, type):
        return target, target  # calling a class makes an instance of it
    func = getattr(target, "__func__", target)
    if not isinstance(func, _FUNCTIONS):  # a callable object: its __call__
        func = getattr(type(target), "__call__", None)  # noqa: B004 - its annotations
        func = getattr(func, "__func__", func)
    annotations = getattr(func, "__annotations__", None)
    if not annotations:
        return func, _NO_HINT
    return func, annotations.get("return", _NO_HINT)


def _resolve(func: Any, hint: Any) -> Any:
    """``hint`` with its names looked up in ``func``'s module, as ``get_type_hints`` does."""
    holder = func
    while hasattr(holder, "__wrapped__"):
        holder = holder.__wrapped__
    stub = types.SimpleNamespace(__annotations__={"return": hint})
    try:
        return typing.get_type_hints(stub, globalns=getattr(holder, "__globals__", {}))["return"]
    except Exception as exc:  # a name imported only under TYPE_CHECKING, a local class...
        name = getattr(func, "__qualname__", repr(func))
        warnings.warn(
            f"the return annotation {hint!r} of {name} cannot be resolved ({exc}): its step "
            "results come back as plain JSON; define the type at module level or pass "
            "output_type=",
            RuntimeWarning,
            stacklevel=2,
        )
        return _NO_HINT


# -- the execution core's steps (each takes the run id last) ---------------------------------

#: ``(fn, output_type, what)`` of a typed step; ``what`` names the value in errors (``None``:
#: "the result of step KEY")
Typed = tuple[Any, Any, "str | None"]


def step_codec(typed: Typed | None, key: str, run_id: str) -> Codec | None:
    """The codec of a step's result (``None``: plain JSON)."""
    if typed is None:
        return None
    fn, output_type, what = typed
    what = what or f"the result of step {key!r}"
    return codec_for_callable(fn, output_type, what=what, run_id=run_id, step_id=key)


def step_json(codec: Codec | None, value: Any, key: str, run_id: str) -> Any:
    """A step body's value as JSON-ready data, by its type."""
    if codec is None:
        return value
    what = f"the result of step {key!r}"
    return encode_value(codec, value, what=what, run_id=run_id, step_id=key)


def step_value(
    codec: Codec | None, raw: Any, typed: Typed | None, key: str, mocked: bool, run_id: str
) -> Any:
    """A step's stored JSON (or a mock's) as its type."""
    if codec is None or typed is None:
        return raw
    what = f"the mocked result of step {key!r}" if mocked else typed[2]
    what = what or f"the result of step {key!r}"
    return decode_value(codec, raw, what=what, run_id=run_id, step_id=key)


def output_json(handler: Any, output: Any, request: Any, run_id: str) -> Any:
    """A function's return value as JSON-ready data, by its handler's return annotation."""
    what = f"the return value of function {request.function_id!r}"
    try:
        codec = codec_for_callable(handler, what=what, run_id=run_id)
    except Warning as exc:  # an unresolvable annotation, under ``-W error``: fail the run
        raise SerializationError(f"{what}: {exc}", run_id=run_id) from None
    if codec is None:
        return output
    return encode_value(codec, output, what=what, run_id=run_id)


# -- values -----------------------------------------------------------------------------------


def encode_value(
    codec: Codec, value: Any, *, what: str, run_id: str | None = None, step_id: str | None = None
) -> Any:
    """``value`` as JSON-ready data, or :class:`ResultTypeError` saying what does not fit."""
    try:
        return codec.encode(value)
    except Mismatch as exc:
        raise _error(exc, codec, f"{what} does not fit its type", "", run_id, step_id) from None
    except RecursionError:
        raise ResultTypeError(
            f"{what} is nested too deeply to encode as {codec.name}",
            type=codec.name,
            run_id=run_id,
            step_id=step_id,
        ) from None


def decode_value(
    codec: Codec, raw: Any, *, what: str, run_id: str | None = None, step_id: str | None = None
) -> Any:
    """Stored JSON as the codec's type, or :class:`ResultTypeError` naming the field."""
    try:
        return codec.decode(raw)
    except Mismatch as exc:
        hint = " (did the type change since it was stored?)"
        raise _error(exc, codec, f"{what} no longer fits its type", hint, run_id, step_id) from None
    except RecursionError:
        raise ResultTypeError(
            f"{what} is nested too deeply to decode as {codec.name}",
            type=codec.name,
            run_id=run_id,
            step_id=step_id,
        ) from None


def _error(
    exc: Mismatch, codec: Codec, head: str, tail: str, run_id: str | None, step_id: str | None
) -> ResultTypeError:
    field = exc.field
    at = f", field {field!r}" if field else ""
    return ResultTypeError(
        f"{head} {codec.name}{at}: {exc.problem}{tail}",
        type=codec.name,
        field=field,
        run_id=run_id,
        step_id=step_id,
    )
