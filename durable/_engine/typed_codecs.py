"""Codecs of typed results: how one Python type is stored as JSON and read back.

:class:`durable._engine.typed_build.Builder` turns a type into a :class:`Codec`. A codec is
``plain`` when the JSON value is the Python value (``int``, ``str``, ``dict[str, Any]``,
``list[int]``...): nothing to convert.
The others convert: dataclasses and pydantic models to objects, ``datetime``/``date``/``time``
to ISO-8601, ``UUID`` and ``Decimal`` to strings, enums to their values, tuples and sets to
arrays, and back. Decoding checks the JSON against the type; a value or JSON that does not fit
raises :class:`Mismatch` with the path of the field that does not.

Neither pydantic nor uuid is imported here: a type can only be a pydantic model (or a UUID) if
its module imported pydantic (or uuid) already, so :data:`sys.modules` tells.
"""

from __future__ import annotations

import enum
import reprlib
import sys
import types
import typing
from collections import abc
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from .typed_errors import Mismatch

NULL, BOOL, NUMBER, STRING, ARRAY, OBJECT = "null", "bool", "number", "string", "array", "object"
ANY_KIND = frozenset({NULL, BOOL, NUMBER, STRING, ARRAY, OBJECT})

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40


def describe(value: Any) -> str:
    """``str '75001'``: a value's type and a short repr, for messages."""
    return f"{type(value).__name__} {_short.repr(value)}"


def type_name(tp: Any) -> str:
    """``list[Order]``, ``User | None``: a type as a reader writes it."""
    if tp is None or tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(arg) for arg in args)}]"
    if origin is not None and args:
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{type_name(origin)}[{inner}]"
    if tp is typing.Any:
        return "Any"
    if isinstance(tp, type):
        return tp.__qualname__ if "<locals>" not in tp.__qualname__ else tp.__name__
    return repr(tp).removeprefix("typing.")


def _kind_of(raw: Any) -> str:
    if raw is None:
        return NULL
    if isinstance(raw, bool):
        return BOOL
    if isinstance(raw, (int, float)):
        return NUMBER
    if isinstance(raw, str):
        return STRING
    if isinstance(raw, list):
        return ARRAY
    return OBJECT


class Codec:
    """How one type is stored as JSON (``encode``) and read back (``decode``)."""

    plain = False  #: the JSON value is the Python value: nothing to convert
    kinds: frozenset[str] = ANY_KIND  #: the JSON kinds this type is stored as

    def __init__(self, name: str) -> None:
        self.name = name

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of this type (to choose a member of a union)."""
        return True

    def encode(self, value: Any) -> Any:
        """``value`` as JSON-ready data; :class:`Mismatch` if it is not of this type."""
        return value

    def decode(self, raw: Any) -> Any:
        """Decoded JSON as this type; :class:`Mismatch` if it does not fit."""
        return raw


class PlainCodec(Codec):
    """A JSON type: checked inside typed values, passed through as it is."""

    plain = True

    def __init__(
        self,
        name: str,
        kinds: frozenset[str] = ANY_KIND,
        python: tuple[type, ...] | None = None,
        stored: tuple[type, ...] | None = None,
    ) -> None:
        super().__init__(name)
        self.kinds = kinds
        self._python = python
        self._stored = stored if stored is not None else python

    def accepts(self, value: Any) -> bool:
        return _is(value, self._python)

    def encode(self, value: Any) -> Any:
        if not _is(value, self._python):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        return value

    def decode(self, raw: Any) -> Any:
        if not _is(raw, self._stored):
            raise Mismatch(f"expected {self.name}, got {describe(raw)}")
        return raw


def _is(value: Any, classes: tuple[type, ...] | None) -> bool:
    if classes is None:
        return True
    if isinstance(value, bool) and bool not in classes:
        return False
    return isinstance(value, classes)


class LiteralCodec(PlainCodec):
    """``Literal["a", "b"]``: one of the listed JSON values."""

    def __init__(self, name: str, values: tuple[Any, ...]) -> None:
        super().__init__(name, frozenset(_kind_of(v) for v in values))
        self._values = values

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self._values)

    def encode(self, value: Any) -> Any:
        if not self.accepts(value):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        return value

    def decode(self, raw: Any) -> Any:
        return self.encode(raw)


class LeafCodec(Codec):
    """One value stored as a JSON string: datetime, date, time, UUID, Decimal."""

    kinds = frozenset({STRING})

    def __init__(
        self,
        cls: type,
        to_json: Callable[[Any], Any],
        from_json: Callable[[Any], Any],
        *,
        python: tuple[type, ...] | None = None,
        not_python: tuple[type, ...] = (),
    ) -> None:
        super().__init__(type_name(cls))
        self._python = python or (cls,)
        self._not = not_python
        self._to_json = to_json
        self._from_json = from_json

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self._python) and not isinstance(value, (bool, *self._not))

    def encode(self, value: Any) -> Any:
        if not self.accepts(value):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        return self._to_json(value)

    def decode(self, raw: Any) -> Any:
        try:
            return self._from_json(raw)
        except (TypeError, ValueError, ArithmeticError):
            raise Mismatch(f"expected {self.name}, got {describe(raw)}") from None


def _from_iso(cls: type[date] | type[time]) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if not isinstance(raw, str):
            raise TypeError(raw)
        value = cls.fromisoformat(raw)
        if cls is date and isinstance(value, datetime):  # pragma: no cover - 3.11 refuses it
            raise ValueError(raw)
        return value

    return parse


def _decimal_from_json(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise TypeError(raw)
    try:
        return Decimal(str(raw) if isinstance(raw, float) else raw)
    except InvalidOperation:
        raise ValueError(raw) from None


def _uuid_codec(cls: type) -> LeafCodec:
    def parse(raw: Any) -> Any:
        if not isinstance(raw, str):
            raise TypeError(raw)
        return cls(raw)

    return LeafCodec(cls, str, parse)


def leaf_codec(tp: type) -> Codec | None:
    """The codec of a datetime, date, time, Decimal or UUID class; ``None`` for others."""
    if issubclass(tp, datetime):
        return LeafCodec(tp, datetime.isoformat, _from_iso(datetime))
    if issubclass(tp, date):
        return LeafCodec(tp, date.isoformat, _from_iso(date), not_python=(datetime,))
    if issubclass(tp, time):
        return LeafCodec(tp, time.isoformat, _from_iso(time))
    if issubclass(tp, Decimal):
        return LeafCodec(tp, str, _decimal_from_json, python=(Decimal, int))
    uuid = sys.modules.get("uuid")
    if uuid is not None and issubclass(tp, uuid.UUID):
        return _uuid_codec(tp)
    return None


class EnumCodec(Codec):
    """An enum, stored by value."""

    def __init__(self, cls: type[enum.Enum]) -> None:
        super().__init__(type_name(cls))
        self._cls = cls
        self.kinds = frozenset(_kind_of(member.value) for member in cls) or ANY_KIND

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self._cls)

    def _member(self, value: Any) -> enum.Enum:
        if isinstance(value, self._cls):
            return value
        try:
            return self._cls(value)
        except (ValueError, TypeError):
            allowed = ", ".join(repr(m.value) for m in self._cls)
            problem = f"expected {self.name} (one of {allowed}), got {describe(value)}"
            raise Mismatch(problem) from None

    def encode(self, value: Any) -> Any:
        return self._member(value).value

    def decode(self, raw: Any) -> Any:
        return self._member(raw)


class SequenceCodec(Codec):
    """``list[X]``, ``tuple[X, ...]``, ``set[X]``, ``frozenset[X]``: a JSON array."""

    kinds = frozenset({ARRAY})
    _PYTHON = (list, tuple, set, frozenset, abc.Set)

    def __init__(self, name: str, item: Codec, factory: Callable[[Iterable[Any]], Any]) -> None:
        super().__init__(name)
        self._item = item
        self._factory = factory

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self._PYTHON)

    def encode(self, value: Any) -> Any:
        if not self.accepts(value):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        item = self._item
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item.encode(element))
            except Mismatch as exc:
                raise exc.within(f"[{index}]") from None
        return out

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, list):
            raise Mismatch(f"expected {self.name} (a JSON array), got {describe(raw)}")
        item = self._item
        out = []
        for index, element in enumerate(raw):
            try:
                out.append(item.decode(element))
            except Mismatch as exc:
                raise exc.within(f"[{index}]") from None
        try:
            return self._factory(out)
        except (TypeError, ValueError) as exc:
            raise Mismatch(f"cannot make a {self.name}: {exc}") from None


class TupleCodec(Codec):
    """``tuple[A, B]`` (or a NamedTuple): a JSON array of that length."""

    kinds = frozenset({ARRAY})

    def __init__(self, name: str, items: list[Codec], factory: Callable[..., Any] = tuple) -> None:
        super().__init__(name)
        self._items = items
        self._factory = factory

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (tuple, list)) and len(value) == len(self._items)

    def _each(self, values: Any, how: str) -> list[Any]:
        if not isinstance(values, (tuple, list)) or len(values) != len(self._items):
            count = len(self._items)
            raise Mismatch(f"expected {self.name} ({count} items), got {describe(values)}")
        out = []
        for index, (codec, element) in enumerate(zip(self._items, values, strict=True)):
            try:
                out.append(getattr(codec, how)(element))
            except Mismatch as exc:
                raise exc.within(f"[{index}]") from None
        return out

    def encode(self, value: Any) -> Any:
        return self._each(value, "encode")

    def decode(self, raw: Any) -> Any:
        items = self._each(raw, "decode")
        return self._factory(items) if self._factory is tuple else self._factory(*items)


class KeyCodec:
    """Keys of a ``dict[K, V]``: JSON object keys are strings."""

    def __init__(self, codec: Codec, to_key: Callable[[Any], str], from_key: Callable[[str], Any]):
        self.codec = codec
        self._to_key = to_key
        self._from_key = from_key

    def encode(self, key: Any) -> str:
        return self._to_key(self.codec.encode(key))

    def decode(self, raw: str) -> Any:
        try:
            return self.codec.decode(self._from_key(raw))
        except (TypeError, ValueError, LookupError):
            raise Mismatch(f"expected a key of type {self.codec.name}, got {raw!r}") from None


class DictCodec(Codec):
    """``dict[K, V]``: a JSON object."""

    kinds = frozenset({OBJECT})

    def __init__(self, name: str, key: KeyCodec, value: Codec) -> None:
        super().__init__(name)
        self._key = key
        self._value = value

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def encode(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        out = {}
        for key, element in value.items():
            try:
                out[self._key.encode(key)] = self._value.encode(element)
            except Mismatch as exc:
                raise exc.within(f"[{key!r}]") from None
        return out

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch(f"expected {self.name} (a JSON object), got {describe(raw)}")
        out = {}
        for key, element in raw.items():
            try:
                out[self._key.decode(key)] = self._value.decode(element)
            except Mismatch as exc:
                raise exc.within(f"[{key!r}]") from None
        return out


class OptionalCodec(Codec):
    """``X | None``."""

    def __init__(self, name: str, inner: Codec) -> None:
        super().__init__(name)
        self._inner = inner
        self.kinds = inner.kinds | {NULL}

    def accepts(self, value: Any) -> bool:
        return value is None or self._inner.accepts(value)

    def encode(self, value: Any) -> Any:
        return None if value is None else self._inner.encode(value)

    def decode(self, raw: Any) -> Any:
        return None if raw is None else self._inner.decode(raw)


class UnionCodec(Codec):
    """``A | B`` whose typed members are stored as different JSON kinds (so decidable)."""

    def __init__(self, name: str, members: list[Codec]) -> None:
        super().__init__(name)
        # typed members first: a plain ``dict`` must not claim a dataclass instance
        self._members = sorted(members, key=lambda m: m.plain)
        self.kinds = frozenset().union(*(m.kinds for m in members))

    def accepts(self, value: Any) -> bool:
        return any(m.accepts(value) for m in self._members)

    def encode(self, value: Any) -> Any:
        for member in self._members:
            if member.accepts(value):
                return member.encode(value)
        raise Mismatch(f"expected {self.name}, got {describe(value)}")

    def decode(self, raw: Any) -> Any:
        kind = _kind_of(raw)
        for member in self._members:
            if kind in member.kinds:
                return member.decode(raw)
        raise Mismatch(f"expected {self.name}, got {describe(raw)}")
