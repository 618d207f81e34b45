"""Durations (``"250ms"``, ``"1h30m"``, seconds, ``timedelta``) and instants (ISO-8601).

Duration strings are one or more ``<number><unit>`` parts, largest unit first, each unit at
most once, optionally separated by whitespace: ``"1h30m"``, ``"1m 30s 500ms"``, ``"1.5h"``.
Units are case-sensitive (``m`` is minutes; there are no months). Zero is allowed; negative
durations are not.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from .._errors import InvalidDurationError, InvalidInstantError

#: Units accepted in duration strings, largest first, with their length in microseconds.
UNITS: dict[str, int] = {
    "w": 7 * 86_400_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
}
_UNIT_RANK = {unit: rank for rank, unit in enumerate(UNITS)}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|[wdhms])(?![a-z])", re.ASCII)
_HINT = (
    "accepted units: ms, s, m, h, d, w (e.g. '250ms', '30s', '5m', '1h30m'), "
    "a number of seconds, or a timedelta"
)
_MAX_US = (timedelta.max.days + 1) * 86_400_000_000 - 1


def _fail(value: object, reason: str) -> InvalidDurationError:
    return InvalidDurationError(f"invalid duration {value!r}: {reason}; {_HINT}", value=value)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Read a duration: ``"250ms"``, ``"1h30m"``, seconds as int/float, or a ``timedelta``.

    Raises :class:`InvalidDurationError` (a ``ValueError``) for anything else, for negative,
    NaN or infinite values, and for unknown units.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise _fail(value, "a duration cannot be negative")
        return value
    if isinstance(value, bool):
        raise _fail(value, "a bool is not a duration")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(value, "a duration must be finite")
        if value < 0:
            raise _fail(value, "a duration cannot be negative")
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise _fail(value, "too large") from None
    if isinstance(value, str):
        return timedelta(microseconds=_parse_string(value))
    raise _fail(value, f"expected a string, a number or a timedelta, got {type(value).__name__}")


def _parse_string(text: str) -> int:
    """The duration ``text`` spells, in whole microseconds."""
    if not text.strip():
        raise _fail(text, "empty string")
    if text.lstrip().startswith("-"):
        raise _fail(text, "a duration cannot be negative")
    total = Decimal(0)
    last_rank = -1
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        match = _PART.match(text, pos)
        if match is None:
            rest = text[pos:end].strip()
            if re.fullmatch(r"\d+(?:\.\d+)?", rest):
                raise _fail(text, f"{rest!r} has no unit")
            raise _fail(text, f"cannot read {rest!r}")
        number, unit = match.groups()
        rank = _UNIT_RANK[unit]
        if rank <= last_rank:
            raise _fail(text, f"unit {unit!r} out of order or repeated (largest unit first)")
        last_rank = rank
        total += Decimal(number) * UNITS[unit]
        pos = match.end()
    micros = int(total.to_integral_value(rounding=ROUND_HALF_EVEN))
    if micros > _MAX_US:
        raise _fail(text, "too large")
    return micros


def format_duration(td: timedelta) -> str:
    """A compact human form of ``td``: ``"1h30m"``, ``"250ms"``, ``"2d3h"``, ``"0s"``.

    Uses d, h, m, s and ms; sub-millisecond parts become a decimal of ms (``"1.5ms"``).
    The result reads back with :func:`parse_duration` (for non-negative values).
    """
    micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        count, micros = divmod(micros, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if micros:
        millis, sub = divmod(micros, 1_000)
        parts.append(f"{millis}.{sub:03d}".rstrip("0") + "ms" if sub else f"{millis}ms")
    return sign + "".join(parts)


def human_duration(seconds: float | None, *, compact: bool = False, missing: str = "-") -> str:
    """A short duration for people: ``12ms``, ``1.24s``, ``3m04s``, ``2h05m``, ``1d03h``.

    ``compact`` saves characters for narrow columns (the inspector): one decimal under 10 s,
    none from 10 s (``4.2s``, ``42s``), hours in days unpadded (``3d4h``). None shows as
    ``missing``; negative values (clock skew) as zero; under a millisecond as ``<1ms``.
    """
    if seconds is None:
        return missing
    seconds = max(seconds, 0.0)
    if seconds < 0.001:
        return "<1ms" if seconds > 0 else "0ms"
    # Round first, then pick the unit: 0.9996 s is "1.00s", not "1000ms".
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if not compact and round(seconds, 2) < 60:
        return f"{seconds:.2f}s"
    if compact and round(seconds, 1) < 10:
        return f"{seconds:.1f}s"
    if compact and round(seconds) < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if compact else f"{days}d{hours:02d}h"


def parse_instant(value: datetime | str) -> datetime:
    """Read a point in time: a ``datetime`` or an ISO-8601 string (``"...Z"`` accepted).

    Returns a timezone-aware UTC datetime; naive values are taken as UTC. Raises
    :class:`InvalidInstantError` (a ``ValueError``) for anything else.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("z", "Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInstantError(
                f"invalid time {value!r}: expected an ISO-8601 date-time such as "
                "'2024-05-01T12:00:00Z' or '2024-05-01T14:00:00+02:00'",
                value=value,
            ) from None
    else:
        raise InvalidInstantError(
            f"invalid time {value!r}: expected a datetime or an ISO-8601 string, "
            f"got {type(value).__name__}",
            value=value,
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInstantError(f"invalid time {value!r}: out of range", value=value) from None
