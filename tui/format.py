"""Pure formatting: statuses (colour and symbol), times, durations, JSON. No I/O, no widgets."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from durable.presentation import (
    STATUS_STYLE,
    STATUS_SYMBOL,
    error_line,
    format_moment,
    parse_time,
)
from durable.presentation import elapsed as _elapsed
from durable.presentation import human_duration as _human_duration
from durable.statuses import RUN_STATUSES, TERMINAL_STATUSES

__all__ = [
    "RUN_STATUSES",
    "STATUS",
    "TERMINAL",
    "clock_time",
    "date_time",
    "elapsed",
    "error_text",
    "human_duration",
    "parse_time",
    "pretty_json",
    "shorten",
    "status_text",
]

#: status -> (symbol, style), from the palette every face shares (durable.presentation).
STATUS: dict[str, tuple[str, str]] = {
    name: (STATUS_SYMBOL[name], style) for name, style in STATUS_STYLE.items()
}
TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)


def status_text(status: str | None) -> Text:
    """``✔ completed`` in green, ``✖ failed`` in red, ..."""
    name = status or "?"
    symbol, style = STATUS.get(name, ("?", ""))
    return Text(f"{symbol} {name}", style=style)


def clock_time(value: Any, tz: tzinfo | None = None, *, millis: bool = False) -> str:
    """``14:03:07`` (or ``14:03:07.123``) in ``tz`` (local time when None)."""
    return format_moment(parse_time(value), tz, ms=millis)


def date_time(value: Any, tz: tzinfo | None = None) -> str:
    """``2025-01-31 14:03:07`` in ``tz`` (local time when None)."""
    return format_moment(parse_time(value), tz, date=True)


def human_duration(seconds: float | None) -> str:
    """``850ms``, ``4.2s``, ``3m05s``, ``2h10m``, ``3d4h``; ``—`` when unknown."""
    return _human_duration(seconds, compact=True, missing="—")


def elapsed(start: Any, end: Any, now: datetime) -> float | None:
    """Seconds from ``start`` to ``end`` (or to ``now`` while unfinished)."""
    return _elapsed(parse_time(start), parse_time(end), now)


def pretty_json(value: Any) -> str:
    """Indented JSON for panels (falls back to ``repr`` for odd values)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def error_text(error: Any) -> str:
    """``Name: message`` from an error object (``{"name", "message", ...}``) or a string."""
    return error_line(error)


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"
