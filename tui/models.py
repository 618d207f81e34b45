"""View models of the runs table: filters and row cells. Pure: no widgets, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from rich.text import Text

from .format import RUN_STATUSES, clock_time, elapsed, error_text, human_duration, status_text

RUN_COLUMNS = ("status", "function", "run id", "started", "duration", "steps", "attempts")


class FilterError(ValueError):
    """A filter query that cannot be understood (e.g. an unknown status)."""


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What the runs table shows: the server filters status and function, text is local."""

    status: str | None = None
    function: str | None = None
    text: str = ""

    def matches(self, run: dict[str, Any]) -> bool:
        """Whether ``run`` passes every part of the filter."""
        if self.status and run.get("status") != self.status:
            return False
        if self.function and run.get("function_id") != self.function:
            return False
        if self.text:
            haystack = " ".join(
                str(part)
                for part in (
                    run.get("run_id"),
                    run.get("function_id"),
                    run.get("status"),
                    (run.get("event") or {}).get("name"),
                    error_text(run.get("error")),
                )
                if part
            ).lower()
            return all(word in haystack for word in self.text.lower().split())
        return True

    def describe(self) -> str:
        """``status:failed function:f text`` (empty when nothing is filtered)."""
        parts = []
        if self.status:
            parts.append(f"status:{self.status}")
        if self.function:
            parts.append(f"function:{self.function}")
        if self.text:
            parts.append(self.text)
        return " ".join(parts)


def parse_filter(query: str) -> RunFilter:
    """``status:failed fn:process-order card`` -> a :class:`RunFilter`.

    ``status:`` (or ``s:``) takes a run status (a unique prefix is enough), ``function:`` (or
    ``fn:``/``f:``) a function id; every other word is free text matched against run id,
    function, status, event name and error.
    """
    status = function = None
    words = []
    for word in query.split():
        name, sep, value = word.partition(":")
        if sep and name in ("status", "s") and value:
            found = [s for s in RUN_STATUSES if s.startswith(value.lower())]
            if len(found) != 1:
                raise FilterError(f"unknown status {value!r}: one of {', '.join(RUN_STATUSES)}")
            status = found[0]
        elif sep and name in ("function", "fn", "f") and value:
            function = value
        else:
            words.append(word)
    return RunFilter(status, function, " ".join(words))


def run_counts(run: dict[str, Any]) -> tuple[int, int] | None:
    """(steps, attempts) of a run with its timeline, None without one (the list view).

    ``attempts`` is the most attempts any one step needed: 1 means no retries.
    """
    steps = run.get("steps")
    if not isinstance(steps, list):
        return None
    attempts = [len(s.get("attempts") or []) for s in steps if isinstance(s, dict)]
    return len(steps), max(attempts, default=0)


def run_cells(
    run: dict[str, Any],
    now: datetime,
    tz: tzinfo | None,
    counts: tuple[int, int] | None = None,
) -> tuple[Any, ...]:
    """The runs-table cells of ``run`` in :data:`RUN_COLUMNS` order (counts: "—" if unknown)."""
    steps, attempts = counts or run_counts(run) or (None, None)
    duration = elapsed(run.get("started_at"), run.get("ended_at"), now)
    return (
        status_text(run.get("status")),
        str(run.get("function_id", "")),
        Text(str(run.get("run_id", "")), style="dim"),
        clock_time(run.get("started_at") or run.get("created_at"), tz),
        human_duration(duration),
        Text("—" if steps is None else str(steps), justify="right"),
        Text("—" if attempts is None else str(attempts), justify="right"),
    )
