"""When a ``RetryAfterError`` asks to be retried: a delay or an absolute time."""

from __future__ import annotations

from datetime import datetime, timedelta

from .durations import parse_duration, parse_instant


def retry_at_from(after: str | float | int | timedelta | datetime, *, now: float) -> float:
    """The epoch second of the next attempt, never in the past."""
    if isinstance(after, datetime):
        return max(now, parse_instant(after).timestamp())
    if isinstance(after, str):
        try:
            return now + parse_duration(after).total_seconds()
        except ValueError:
            return max(now, parse_instant(after).timestamp())
    return now + parse_duration(after).total_seconds()
