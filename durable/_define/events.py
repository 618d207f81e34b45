"""The event record and its validation: the one shape every entry point accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import EventTooLargeError, InvalidEventError
from .._ids import new_id
from .._limits import MAX_EVENT_BYTES, MAX_EVENT_DEPTH
from .._serialization import dumps, encoded_size

_KNOWN_FIELDS = frozenset({"name", "data", "id", "ts", "user", "v"})
#: The largest ``ts``: 9999-12-31T23:59:59.999Z, the last instant a datetime can hold.
MAX_TS_MS = 253_402_300_799_999


@dataclass(frozen=True, slots=True)
class Event:
    """An event: ``name``, ``data``, ``id``, ``ts`` (milliseconds since the epoch), ``user``."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    ts: int = 0
    user: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire and storage form."""
        out: dict[str, Any] = {"name": self.name, "data": self.data, "id": self.id, "ts": self.ts}
        if self.user is not None:
            out["user"] = self.user
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Event:
        """Rebuild a stored event (already validated) without re-checking it."""
        return cls(
            name=raw["name"],
            data=dict(raw.get("data") or {}),
            id=str(raw.get("id") or ""),
            ts=int(raw.get("ts") or 0),
            user=raw.get("user"),
        )


def validate_event(raw: object, *, now_ms: int, index: int | None = None) -> Event:
    """Check one raw event from a user or the wire and fill in ``id`` and ``ts``.

    Raises :class:`InvalidEventError` naming the field (and the index in a batch).
    """
    if isinstance(raw, Event):  # an Event built by hand: empty id and zero ts mean unset
        raw = {k: v for k, v in raw.to_dict().items() if not (k in ("id", "ts") and not v)}
    if not isinstance(raw, Mapping):
        raise InvalidEventError(
            f"an event must be an object with a 'name', got {type(raw).__name__}", index=index
        )
    unknown = sorted(str(key) for key in raw if key not in _KNOWN_FIELDS)
    if unknown:
        raise InvalidEventError(
            f"unknown field(s) {', '.join(map(repr, unknown))}; "
            "an event has name, data, id, ts and user",
            field=unknown[0],
            index=index,
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEventError("'name' must be a non-empty string", field="name", index=index)
    data = raw.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidEventError(
            f"'data' must be an object, got {type(data).__name__}", field="data", index=index
        )
    event_id = raw.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id):
        raise InvalidEventError("'id' must be a non-empty string", field="id", index=index)
    ts = raw.get("ts")
    if ts is not None and (
        isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_TS_MS
    ):
        raise InvalidEventError(
            "'ts' must be a non-negative integer (milliseconds since the epoch) "
            f"up to {MAX_TS_MS} (the end of year 9999)",
            field="ts",
            index=index,
        )
    user = raw.get("user")
    if user is not None and not isinstance(user, Mapping):
        raise InvalidEventError("'user' must be an object", field="user", index=index)
    for field_name, value in (("data", data), ("user", user)):
        if _nested_deeper_than(value, MAX_EVENT_DEPTH):
            raise InvalidEventError(
                f"'{field_name}' is nested too deeply: at most {MAX_EVENT_DEPTH} levels of "
                "objects and arrays",
                field=field_name,
                index=index,
            )
    event = Event(
        name=name,
        data=dict(data),
        id=event_id or new_id(now_ms),
        ts=ts if ts is not None else now_ms,
        user=dict(user) if user is not None else None,
    )
    try:
        size = encoded_size(dumps(event.to_dict(), what="event"))
    except Exception as exc:  # not JSON, or a lone surrogate (a str, but not text)
        raise InvalidEventError(str(exc), field=_unencodable_field(event), index=index) from None
    if size > MAX_EVENT_BYTES:
        raise EventTooLargeError(size=size, limit=MAX_EVENT_BYTES, index=index)
    return event


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` has more than ``limit`` levels of objects and arrays (iteratively:
    a value too deep for recursion is exactly what this looks for)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def _unencodable_field(event: Event) -> str:
    """The first field of ``event`` that does not encode as UTF-8 JSON (``data`` if none)."""
    for name, value in event.to_dict().items():
        try:
            encoded_size(dumps(value))
        except Exception:
            return name
    return "data"


def validate_events(raw: object, *, now_ms: int) -> list[Event]:
    """Validate one event or a list of events; an empty list is an error."""
    if isinstance(raw, (list, tuple)):
        if not raw:
            raise InvalidEventError("expected at least one event, got an empty list")
        return [validate_event(item, now_ms=now_ms, index=i) for i, item in enumerate(raw)]
    return [validate_event(raw, now_ms=now_ms)]
