"""Triggers: event names (with trailing wildcards) and cron schedules.

Event name patterns
    An exact name (``"order/created"``), or a prefix ending in ``/`` or ``.`` followed by
    ``*`` (``"order/*"``, ``"app/user.*"``). A wildcard matches every name that starts with
    the prefix and has at least one more character, across further segments too:
    ``"order/*"`` matches ``"order/created"`` and ``"order/item.added"``, not ``"order/"``
    nor ``"orders/x"``. ``*`` anywhere else (``"ord*er"``, ``"a/*/b"``, ``"order*"``) is an
    error, and so is ``"*"`` alone: a function triggered by every event would also be
    triggered by the ``durable/function.failed`` events it emits.

Cron schedules
    Five fields (minute hour day-of-month month day-of-week) or an alias such as ``@daily``,
    optionally prefixed by ``TZ=Area/City`` or ``CRON_TZ=Area/City`` (default UTC). Times
    are computed in that zone: a time skipped by a DST jump fires at the jump; a time that
    occurs twice when clocks go back fires once, unless the hour field is ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._errors import ConfigError, CronError, ExpressionError
from .expressions import Expression, compile_expression

T = TypeVar("T", bound=Hashable)

_SEPARATORS = "/."
_TZ_PREFIX = re.compile(r"^\s*(?:CRON_TZ|TZ)=(\S*)(?:\s+(.*))?$", re.DOTALL)
_ALIASES = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_CRON_HINT = "expected 5 fields (minute hour day-of-month month day-of-week), e.g. '0 12 * * 5'"


# --------------------------------------------------------------------------- event names


def validate_event_pattern(
    pattern: object, *, function_id: str | None = None, field: str | None = None
) -> str:
    """Return ``pattern`` if it is a valid event name or wildcard pattern, else raise.

    Raises :class:`ConfigError` naming ``function_id`` and ``field``.
    """
    if not isinstance(pattern, str):
        raise ConfigError(
            f"an event name must be a string, got {type(pattern).__name__}",
            function_id=function_id,
            field=field,
        )
    problem = _pattern_problem(pattern)
    if problem:
        raise ConfigError(
            f"invalid event name {pattern!r}: {problem}", function_id=function_id, field=field
        )
    return pattern


def _pattern_problem(pattern: str) -> str | None:
    if not pattern.strip():
        return "it is empty"
    if pattern != pattern.strip():
        return "it has leading or trailing whitespace"
    if "*" not in pattern:
        return None
    if pattern == "*":
        return "a trigger on every event is not allowed; use a prefix such as 'app/*'"
    prefix = pattern[:-1]
    if not pattern.endswith("*") or "*" in prefix:
        return "'*' is only allowed as the last segment, as in 'order/*' or 'app/user.*'"
    if prefix[-1] not in _SEPARATORS or len(prefix) < 2:
        return "'*' must follow '/' or '.' after a prefix, as in 'order/*' or 'app/user.*'"
    return None


def is_wildcard(pattern: str) -> bool:
    """Whether ``pattern`` is a wildcard pattern (``"order/*"``) rather than an exact name."""
    return pattern.endswith("*")


def event_name_matches(pattern: str, name: str) -> bool:
    """Whether the event ``name`` matches ``pattern`` (an exact name or ``"prefix/*"``)."""
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        return len(name) > len(prefix) and name.startswith(prefix)
    return pattern == name


class EventNameIndex(Generic[T]):
    """Items filed under event name patterns, found by event name without a scan.

    ``lookup`` costs one dict lookup per ``/`` or ``.`` in the name, whatever the number
    of items. An item is filed at most once per pattern (the index holds sets).
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self) -> None:
        self._exact: dict[str, dict[T, None]] = {}
        self._prefixes: dict[str, dict[T, None]] = {}

    def _bucket(self, pattern: str) -> tuple[dict[str, dict[T, None]], str]:
        if pattern.endswith("*"):
            return self._prefixes, pattern[:-1]
        return self._exact, pattern

    def add(self, pattern: str, item: T) -> None:
        """File ``item`` under ``pattern``. Raises :class:`ConfigError` for a bad pattern."""
        validate_event_pattern(pattern)
        table, key = self._bucket(pattern)
        table.setdefault(key, {})[item] = None

    def remove(self, pattern: str, item: T) -> bool:
        """Unfile ``item`` from ``pattern``; False (and no error) if it was not there."""
        table, key = self._bucket(pattern)
        items = table.get(key)
        if items is None or item not in items:
            return False
        del items[item]
        if not items:
            del table[key]
        return True

    def lookup(self, name: str) -> list[T]:
        """Items whose pattern matches ``name``: exact ones first, then wildcards, the most
        specific (longest prefix) first; each group in the order items were added."""
        found = list(self._exact.get(name, ()))
        if not self._prefixes:
            return found
        prefixes: list[str] = []
        end = len(name) - 1  # a wildcard needs at least one character after its prefix
        pos = _next_separator(name, 0, end)
        while pos >= 0:
            prefixes.append(name[: pos + 1])
            pos = _next_separator(name, pos + 1, end)
        for prefix in reversed(prefixes):
            found.extend(self._prefixes.get(prefix, ()))
        return found

    def __len__(self) -> int:
        return sum(map(len, self._exact.values())) + sum(map(len, self._prefixes.values()))


def _next_separator(name: str, start: int, end: int) -> int:
    slash, dot = name.find("/", start, end), name.find(".", start, end)
    if slash < 0 or dot < 0:
        return max(slash, dot)
    return min(slash, dot)


# --------------------------------------------------------------------------- cron


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed cron schedule: ``source`` as written, its ``fields`` and ``timezone`` name."""

    source: str
    fields: str
    timezone: str = "UTC"

    def next_after(self, when: datetime) -> datetime:
        """The next fire time strictly after ``when`` (naive means UTC), aware, in UTC."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        zone = ZoneInfo(self.timezone)
        hour_is_wildcard = not self.fields.startswith("@") and self.fields.split()[1] == "*"
        from croniter import croniter  # imported on first use: most apps have no cron

        it = croniter(self.fields, when.astimezone(zone))
        fire: datetime = it.get_next(datetime)
        for _ in range(1000):
            if hour_is_wildcard or not _repeated_wall_time(fire, zone):
                break
            fire = it.get_next(datetime)
        return fire.astimezone(UTC)


def _repeated_wall_time(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether ``moment`` is the second occurrence of its wall time (clocks went back)."""
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second and moment.utcoffset() == second


def parse_cron(
    expr: str, *, function_id: str | None = None, field: str | None = None
) -> CronSchedule:
    """Parse ``"[TZ=Area/City ]m h dom mon dow"`` into a :class:`CronSchedule`.

    Raises :class:`CronError` naming the expression for bad fields, a schedule that never
    fires, or an unknown time zone.
    """
    if not isinstance(expr, str):
        raise CronError(
            f"a cron schedule must be a string, got {type(expr).__name__}",
            expression=repr(expr),
            function_id=function_id,
            field=field,
        )

    def fail(message: str) -> CronError:
        return CronError(message, expression=expr, function_id=function_id, field=field)

    zone_name, fields = "UTC", expr.strip()
    prefix = _TZ_PREFIX.match(expr)
    if prefix:
        zone_name, fields = prefix[1], (prefix[2] or "").strip()
        if not zone_name:
            raise fail("'TZ=' needs a time zone name such as 'Europe/Paris'")
        try:
            ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise fail(
                f"unknown time zone {zone_name!r}; use an IANA name such as 'Europe/Paris'"
            ) from None
    fields = " ".join(fields.split())
    if not fields:
        raise fail(f"it is empty; {_CRON_HINT}")
    if fields.startswith("@"):
        if fields not in _ALIASES:
            raise fail(f"unknown alias; known aliases: {', '.join(sorted(_ALIASES))}")
    elif len(fields.split()) != 5:
        raise fail(f"{len(fields.split())} field(s); {_CRON_HINT}")
    schedule = CronSchedule(source=expr, fields=fields, timezone=zone_name)
    from croniter import CroniterError

    try:
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except CroniterError as exc:
        reason = "it never fires" if "find next" in str(exc) else str(exc)
        raise fail(f"{reason}; {_CRON_HINT}") from None
    except (ValueError, KeyError, IndexError) as exc:
        raise fail(f"{exc}; {_CRON_HINT}") from None
    return schedule


# --------------------------------------------------------------------------- triggers


@dataclass(frozen=True, slots=True)
class EventTrigger:
    """Start a run when an event named ``event`` (a name or pattern) arrives and ``if_`` holds."""

    event: str
    if_: Expression | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the event (its wire form: ``name``, ``data``, ...) starts a run."""
        name = event.get("name")
        if not isinstance(name, str) or not event_name_matches(self.event, name):
            return False
        return self.if_ is None or self.if_.matches({"event": event})


@dataclass(frozen=True, slots=True)
class CronTrigger:
    """Start a run on a cron schedule."""

    cron: str
    schedule: CronSchedule


Trigger = EventTrigger | CronTrigger

_EVENT_KEYS = frozenset({"event", "if"})


def parse_trigger(raw: object, *, function_id: str, index: int) -> Trigger:
    """Read one entry of ``triggers=[...]``: ``{"event": NAME, "if"?: EXPR}`` or ``{"cron": S}``.

    Raises :class:`ConfigError` (or its :class:`ExpressionError` / :class:`CronError`
    subclasses) with ``function_id`` and ``field="triggers[INDEX]"``.
    """
    where = f"triggers[{index}]"

    def fail(message: str) -> ConfigError:
        return ConfigError(message, function_id=function_id, field=where)

    if not isinstance(raw, Mapping):
        raise fail(
            "a trigger must be an object such as {'event': 'order/created'} or "
            f"{{'cron': '0 12 * * 5'}}, got {type(raw).__name__}"
        )
    keys = [str(key) for key in raw]
    if "event" in raw and "cron" in raw:
        raise fail("a trigger has either 'event' or 'cron', not both; use two triggers")
    if "event" in raw:
        unknown = sorted(set(keys) - _EVENT_KEYS)
        if unknown:
            raise fail(
                f"unknown key(s) {', '.join(map(repr, unknown))}; "
                "an event trigger has 'event' and 'if'"
            )
        name = validate_event_pattern(raw["event"], function_id=function_id, field=where)
        condition = raw.get("if")
        if condition is None:
            return EventTrigger(event=name)
        try:
            expression = compile_expression(condition, variables=("event",), boolean=True)
        except ExpressionError as exc:
            raise exc.with_context(function_id=function_id, field=f"{where}.if") from None
        return EventTrigger(event=name, if_=expression)
    if "cron" in raw:
        unknown = sorted(set(keys) - {"cron"})
        if unknown:
            raise fail(
                f"unknown key(s) {', '.join(map(repr, unknown))}; a cron trigger has only 'cron'"
            )
        schedule = parse_cron(raw["cron"], function_id=function_id, field=where)
        return CronTrigger(cron=schedule.source, schedule=schedule)
    raise fail(
        "a trigger needs 'event' (such as {'event': 'order/created'}) "
        "or 'cron' (such as {'cron': '0 12 * * 5'})"
    )
