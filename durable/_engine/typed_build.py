"""Building the codec of a type (see :mod:`.typed_codecs`), and the codecs of records.

Records are dataclasses, TypedDicts and pydantic models: JSON objects field by field. A
dataclass that refers to itself (a tree) gets one codec, shared while it is being built.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections import abc
from collections.abc import Mapping
from typing import Any

from .typed_codecs import (
    ANY_KIND,
    ARRAY,
    BOOL,
    NULL,
    NUMBER,
    OBJECT,
    STRING,
    Codec,
    DictCodec,
    EnumCodec,
    KeyCodec,
    LeafCodec,
    LiteralCodec,
    OptionalCodec,
    PlainCodec,
    SequenceCodec,
    TupleCodec,
    UnionCodec,
    describe,
    leaf_codec,
    type_name,
)
from .typed_errors import Mismatch, Unresolved, UnsupportedType


class DataclassCodec(Codec):
    """A dataclass: a JSON object of its ``__init__`` fields (unknown keys are ignored)."""

    kinds = frozenset({OBJECT})

    def __init__(self, cls: type, name: str) -> None:
        super().__init__(name)
        self._cls = cls
        self.fields: list[tuple[str, Codec, bool]] = []  #: name, codec, required; set by build

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self._cls)

    def encode(self, value: Any) -> Any:
        if not isinstance(value, self._cls):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        out = {}
        for field, codec, _ in self.fields:
            try:
                out[field] = codec.encode(getattr(value, field))
            except Mismatch as exc:
                raise exc.within(f".{field}") from None
        return out

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise Mismatch(f"expected {self.name} (a JSON object), got {describe(raw)}")
        kwargs = {}
        for field, codec, required in self.fields:
            if field not in raw:
                if required:
                    raise Mismatch("required field is missing").within(f".{field}")
                continue
            try:
                kwargs[field] = codec.decode(raw[field])
            except Mismatch as exc:
                raise exc.within(f".{field}") from None
        try:
            return self._cls(**kwargs)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise Mismatch(f"{self.name}(...) refused the stored fields: {problem}") from None


class TypedDictCodec(Codec):
    """A TypedDict with typed values: a JSON object (other keys pass through)."""

    kinds = frozenset({OBJECT})

    def __init__(self, name: str, fields: dict[str, Codec], required: frozenset[str]) -> None:
        super().__init__(name)
        self._fields = fields
        self._required = required

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def _each(self, value: Any, how: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Mismatch(f"expected {self.name} (a JSON object), got {describe(value)}")
        out = dict(value)
        for key in self._required - out.keys():
            raise Mismatch("required key is missing").within(f"[{key!r}]")
        for key, codec in self._fields.items():
            if key in out:
                try:
                    out[key] = getattr(codec, how)(out[key])
                except Mismatch as exc:
                    raise exc.within(f"[{key!r}]") from None
        return out

    def encode(self, value: Any) -> Any:
        return self._each(value, "encode")

    def decode(self, raw: Any) -> Any:
        return self._each(raw, "decode")


class PydanticCodec(Codec):
    """A pydantic model (or a pydantic ``TypeAdapter``): its JSON mode, both ways."""

    kinds = frozenset({OBJECT})

    def __init__(self, name: str, adapter: Any, cls: type | None = None) -> None:
        super().__init__(name)
        self._adapter = adapter
        self._cls = cls
        if cls is None:
            self.kinds = ANY_KIND

    def accepts(self, value: Any) -> bool:
        return self._cls is None or isinstance(value, self._cls)

    def encode(self, value: Any) -> Any:
        if not self.accepts(value):
            raise Mismatch(f"expected {self.name}, got {describe(value)}")
        try:
            return self._adapter.dump_python(value, mode="json", warnings="error")
        except Exception as exc:  # pydantic's serialization errors
            raise Mismatch(f"pydantic could not serialize it: {exc}") from None

    def decode(self, raw: Any) -> Any:
        from .._serialization import dumps

        pydantic = sys.modules["pydantic"]
        try:
            # JSON mode, as stored: strict models accept ISO strings for datetimes, too
            return self._adapter.validate_json(dumps(raw))
        except pydantic.ValidationError as exc:
            raise _from_validation_error(exc) from None


def _from_validation_error(exc: Any) -> Mismatch:
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {"loc": (), "msg": str(exc), "input": None}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    mismatch = Mismatch(f"{first['msg']}, got {describe(first.get('input'))}{more}")
    for part in reversed(first.get("loc", ())):
        mismatch.within(f"[{part}]" if isinstance(part, int) else f".{part}")
    return mismatch


# -- building ---------------------------------------------------------------------------------

ANY = PlainCodec("Any")
_NONE = PlainCodec("None", frozenset({NULL}), (type(None),))
_PRIMITIVES: dict[type, PlainCodec] = {
    bool: PlainCodec("bool", frozenset({BOOL}), (bool,)),
    int: PlainCodec("int", frozenset({NUMBER}), (int,)),
    float: PlainCodec("float", frozenset({NUMBER}), (int, float)),
    str: PlainCodec("str", frozenset({STRING}), (str,)),
}
_PLAIN_DICT = PlainCodec("dict", frozenset({OBJECT}), (Mapping,), (dict,))
_PLAIN_LIST = PlainCodec("list", frozenset({ARRAY}), (list, tuple), (list,))
_DICTS = {dict, abc.Mapping, abc.MutableMapping}
_LISTS = {list, abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable}
_SETS = {set: set, frozenset: frozenset, abc.Set: frozenset, abc.MutableSet: set}


def pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic model class (without importing pydantic)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


class Builder:
    """Builds the codec of one type; shares the codecs of dataclasses it meets (recursion)."""

    def __init__(self) -> None:
        self._classes: dict[Any, Codec] = {}

    def build(self, tp: Any) -> Codec:
        """The codec of ``tp``; :class:`UnsupportedType` if it cannot be decided."""
        tp = _unwrap(tp)
        if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
            return ANY
        if tp is None or tp is type(None):
            return _NONE
        if isinstance(tp, (str, typing.ForwardRef)):
            name = tp if isinstance(tp, str) else tp.__forward_arg__
            raise Unresolved(f"the name {name!r} is not resolved: pass the type itself")
        origin = typing.get_origin(tp)
        if origin is not None:
            return self._generic(tp, origin, typing.get_args(tp))
        if isinstance(tp, type):
            return self._class(tp)
        return ANY

    def _generic(self, tp: Any, origin: Any, args: tuple[Any, ...]) -> Codec:
        name = type_name(tp)
        if origin in (typing.Union, types.UnionType):
            return self._union(tp, args)
        if origin is typing.Literal:
            return LiteralCodec(name, args)
        if origin in _DICTS:
            return self._dict(name, *(args or (Any, Any)))
        if origin in _LISTS:
            item = self.build(args[0]) if args else ANY
            return _PLAIN_LIST if item.plain else SequenceCodec(name, item, list)
        if origin in _SETS:
            item = self.build(args[0]) if args else ANY
            return SequenceCodec(name, item, _SETS[origin])
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return SequenceCodec(name, self.build(args[0]), tuple)
            if args == ((),):
                return TupleCodec(name, [])
            return TupleCodec(name, [self.build(arg) for arg in args])
        if isinstance(origin, type) and dataclasses.is_dataclass(origin):
            params = getattr(origin, "__parameters__", ())
            return self._dataclass(origin, name, dict(zip(params, args, strict=False)), key=tp)
        return ANY

    def _class(self, tp: type) -> Codec:
        if issubclass(tp, enum.Enum):
            return EnumCodec(tp)
        if tp in _PRIMITIVES:
            return _PRIMITIVES[tp]
        if tp in _DICTS:
            return _PLAIN_DICT
        if tp in _LISTS:
            return _PLAIN_LIST
        if tp in _SETS or tp is tuple:
            return SequenceCodec(tp.__name__, ANY, _SETS.get(tp, tuple))
        leaf = leaf_codec(tp)
        if leaf is not None:
            return leaf
        if dataclasses.is_dataclass(tp):
            return self._dataclass(tp, type_name(tp), {}, key=tp)
        if pydantic_model(tp):
            adapter = sys.modules["pydantic"].TypeAdapter(tp)
            return PydanticCodec(type_name(tp), adapter, tp)
        if typing.is_typeddict(tp):
            return self._typeddict(tp)
        if issubclass(tp, tuple) and hasattr(tp, "_fields"):
            hints = _hints(tp)
            items = [self.build(hints.get(field, Any)) for field in tp._fields]
            return TupleCodec(type_name(tp), items, tp)
        return ANY  # any other class: plain JSON, as without a type

    def _union(self, tp: Any, args: tuple[Any, ...]) -> Codec:
        name = type_name(tp)
        members = [self.build(arg) for arg in args if arg is not type(None)]
        optional = len(members) < len(args)
        if all(member.plain for member in members):
            return ANY if optional or len(members) != 1 else members[0]
        inner = members[0] if len(members) == 1 else None
        if inner is None:
            clash = _clash(members)
            if clash is not None:
                if any(pydantic_model(arg) for arg in args):
                    adapter = sys.modules["pydantic"].TypeAdapter(tp)
                    return PydanticCodec(name, adapter)
                a, b = clash
                raise UnsupportedType(
                    f"{a.name} and {b.name} are both stored as JSON "
                    f"{'/'.join(sorted(a.kinds & b.kinds))}s, so the stored form cannot tell "
                    "them apart: use one type, or a union of pydantic models"
                )
            inner = UnionCodec(
                " | ".join(type_name(a) for a in args if a is not type(None)), members
            )
        return OptionalCodec(name, inner) if optional else inner

    def _dict(self, name: str, key_type: Any, value_type: Any) -> Codec:
        value = self.build(value_type)
        key_codec = self.build(key_type)
        if key_codec is ANY or key_codec is _PRIMITIVES[str]:
            if value.plain:
                return _PLAIN_DICT
            key = KeyCodec(key_codec, _same, _same)
        elif key_codec is _PRIMITIVES[int]:
            key = KeyCodec(key_codec, str, int)
        elif isinstance(key_codec, EnumCodec):
            values = {str(v.value): v.value for v in typing.cast(Any, _unwrap(key_type))}
            key = KeyCodec(key_codec, str, values.__getitem__)
        elif isinstance(key_codec, LeafCodec):
            key = KeyCodec(key_codec, _same, _same)
        else:
            raise UnsupportedType(
                f"keys of type {key_codec.name} cannot be JSON object keys: use str, int, an "
                "enum, a UUID, a date or a Decimal"
            )
        return DictCodec(name, key, value)

    def _dataclass(self, cls: type, name: str, params: dict[Any, Any], *, key: Any) -> Codec:
        known = self._classes.get(key)
        if known is not None:  # a recursive dataclass: the codec being built
            return known
        codec = DataclassCodec(cls, name)
        self._classes[key] = codec
        hints = _hints(cls)
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            hint = _substitute(hints.get(field.name, Any), params)
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            try:
                field_codec = self.build(hint)
            except UnsupportedType as exc:
                raise UnsupportedType(f"field {name}.{field.name}: {exc}") from None
            codec.fields.append((field.name, field_codec, required))
        return codec

    def _typeddict(self, tp: type) -> Codec:
        typed: dict[str, Codec] = {}
        required = set(getattr(tp, "__required_keys__", ()))
        for key, hint in _hints(tp, extras=True).items():
            # with string annotations the class cannot see NotRequired itself: look here
            marker = typing.get_origin(hint)
            if marker in (typing.NotRequired, typing.Required):
                hint = typing.get_args(hint)[0]
                (required.add if marker is typing.Required else required.discard)(key)
            codec = self.build(hint)
            if not codec.plain:
                typed[key] = codec
        if not typed:
            return _PLAIN_DICT
        return TypedDictCodec(type_name(tp), typed, frozenset(required))


def _same(value: Any) -> Any:
    return value


def _clash(members: list[Codec]) -> tuple[Codec, Codec] | None:
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            if (a.kinds & b.kinds) and not (a.plain and b.plain):
                return a, b
    return None


def _unwrap(tp: Any) -> Any:
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):  # NewType
            tp = tp.__supertype__
        elif type(tp).__name__ == "TypeAliasType":  # `type X = ...` (3.12)
            tp = tp.__value__
        else:
            return tp


def _hints(cls: type, *, extras: bool = False) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=extras)
    except Exception as exc:  # NameError for a name only imported under TYPE_CHECKING, say
        problem = f"cannot resolve the annotations of {type_name(cls)}: {exc}"
        raise UnsupportedType(problem) from None


def _substitute(hint: Any, params: dict[Any, Any]) -> Any:
    if not params:
        return hint
    if isinstance(hint, typing.TypeVar):
        return params.get(hint, Any)
    variables = getattr(hint, "__parameters__", ())
    if variables:
        return hint[tuple(params.get(v, Any) for v in variables)]
    return hint
