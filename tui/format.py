"""Pure formatting: statuses (colour and symbol), times, durations, JSON. No I/O, no widgets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Any

from rich.text import Text

from durable._durations import human_duration as _human_duration
from durable._presentation import STATUS_STYLE, STATUS_SYMBOL
from durable._store import TERMINAL_STATUSES, RunStatus

#: status -> (symbol, style), from the palette every face shares (durable._presentation).
STATUS: dict[str, tuple[str, str]] = {
    name: (STATUS_SYMBOL[name], style) for name, style in STATUS_STYLE.items()
}
RUN_STATUSES = tuple(status.value for status in RunStatus)  #: a run's statuses, in order
TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)


def status_text(status: str | None) -> Text:
    """``✔ completed`` in green, ``✖ failed`` in red, ..."""
    name = status or "?"
    symbol, style = STATUS.get(name, ("?", ""))
    return Text(f"{symbol} {name}", style=style)


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string (or epoch seconds) as an aware datetime; None when absent or bad."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def clock_time(value: Any, tz: tzinfo | None = None, *, millis: bool = False) -> str:
    """``14:03:07`` (or ``14:03:07.123``) in ``tz`` (local time when None)."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    text = local.strftime("%H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03d}" if millis else text


def date_time(value: Any, tz: tzinfo | None = None) -> str:
    """``2025-01-31 14:03:07`` in ``tz`` (local time when None)."""
    moment = parse_time(value)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def human_duration(seconds: float | None) -> str:
    """``850ms``, ``4.2s``, ``3m05s``, ``2h10m``, ``3d4h``; ``—`` when unknown."""
    return _human_duration(seconds, compact=True, missing="—")


def elapsed(start: Any, end: Any, now: datetime) -> float | None:
    """Seconds from ``start`` to ``end`` (or to ``now`` while unfinished)."""
    began = parse_time(start)
    if began is None:
        return None
    finished = parse_time(end) or now
    return max(0.0, (finished - began).total_seconds())


def pretty_json(value: Any) -> str:
    """Indented JSON for panels (falls back to ``repr`` for odd values)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def error_text(error: Any) -> str:
    """``Name: message`` from an error object (``{"name", "message", ...}``) or a string."""
    if not error:
        return ""
    if isinstance(error, dict):
        name, message = error.get("name"), error.get("message")
        if name and message:
            return f"{name}: {message}"
        return str(message or name or pretty_json(error))
    return str(error)


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"
