"""The layout of a run's step timeline: one time axis shared by every row, and the segments
(attempts, backoff gaps, sleeps, waits, invokes) drawn on it. Pure: API dicts in, cells out.

The CLI (``durable run``) and the inspector draw the same layout; each only turns the cells
(``(glyph, style)`` pairs, styles named as in :mod:`durable._presentation`) into its own
renderable. A step runs from its first attempt to its end (to now while it goes on, to its
run's end when the run ended around it); a step with failed attempts shows the gaps between
them as backoff.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from ._presentation import bar_glyph, bar_kind, bar_style, parse_time, step_outcome
from ._stores.base import TERMINAL_STATUSES

#: Step statuses that are not over yet: their bar runs to now.
PENDING: Final = frozenset({"sleeping", "waiting", "invoking", "running", "errored"})
#: Short labels of the step kinds, so a timeline fits narrow terminals.
KIND_LABEL: Final[dict[str, str]] = {
    "run": "run",
    "sleep": "sleep",
    "wait_for_event": "wait",
    "invoke": "invoke",
    "send_event": "send",
}

Cell = tuple[str, str]  #: (glyph, style)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time drawn on a bar with ``char`` in ``style``."""

    start: datetime
    end: datetime
    char: str
    style: str


@dataclass(frozen=True, slots=True)
class Axis:
    """The shared time axis: ``start`` to ``end`` over ``width`` cells."""

    start: datetime
    end: datetime
    width: int

    @property
    def span(self) -> float:
        """Seconds covered by the axis (at least a millisecond)."""
        return max((self.end - self.start).total_seconds(), 1e-3)

    def cell(self, moment: datetime) -> int:
        """The cell index of ``moment`` (clamped to the axis)."""
        offset = (moment - self.start).total_seconds() / self.span
        return min(self.width - 1, max(0, int(offset * self.width)))

    def cells(self, a: datetime, b: datetime) -> range:
        """The cells the interval ``[a, b)`` covers: at least one."""
        first = self.cell(a)
        offset = (b - self.start).total_seconds() / self.span
        stop = min(self.width, round(offset * self.width))
        return range(first, max(first + 1, stop))

    def paint(self, segments: Iterable[Segment]) -> list[Cell]:
        """The ``width`` cells of a bar; later segments paint over earlier ones."""
        cells: list[Cell] = [(" ", "")] * self.width
        for segment in segments:
            for index in self.cells(segment.start, segment.end):
                cells[index] = (segment.char, segment.style)
        return cells


def attempts_of(step: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A step's attempts (dicts only)."""
    return [a for a in step.get("attempts") or [] if isinstance(a, dict)]


def timed_out(step: Mapping[str, Any]) -> bool:
    """Whether a completed wait for an event timed out (its output is null)."""
    return step.get("status") == "completed" and step.get("output") in (None, "null")


def run_end(run: Mapping[str, Any]) -> datetime | None:
    """When a finished run ended (None while it goes on)."""
    if run.get("status") not in TERMINAL_STATUSES:
        return None
    return parse_time(run.get("ended_at")) or parse_time(run.get("started_at"))


def step_span(
    step: Mapping[str, Any], now: datetime, ended: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """When a step started and ended; a pending step runs to now (or to its run's end,
    ``ended``, when the run is over)."""
    attempts = attempts_of(step)
    starts = [parse_time(a.get("started_at")) for a in attempts]
    ends = [parse_time(a.get("ended_at")) for a in attempts]
    start = parse_time(step.get("started_at")) or min((s for s in starts if s), default=None)
    end = parse_time(step.get("ended_at")) or max((e for e in ends if e), default=None)
    if step.get("status") in PENDING:
        end = (end or ended) if ended is not None else max(end or now, now)
    if start is not None and end is not None and end < start:
        end = start
    return start, end


def make_axis(run: Mapping[str, Any], width: int, now: datetime) -> Axis:
    """The axis covering the run and every step and attempt in it (at least 4 cells)."""
    moments = [parse_time(run.get("started_at")), parse_time(run.get("ended_at"))]
    ended = run_end(run)
    for step in run.get("steps") or []:
        moments.extend(step_span(step, now, ended))
    if run.get("status") not in TERMINAL_STATUSES:
        moments.append(now)
    known = [m for m in moments if m is not None]
    start = min(known, default=now)
    end = max(known, default=now)
    if end <= start:
        end = start + timedelta(milliseconds=1)
    return Axis(start, end, max(4, width))


def attempt_style(attempt: Mapping[str, Any]) -> str:
    """The style of one attempt's bar: failed, done, or still running."""
    if attempt.get("error"):
        return bar_style("run", "failed")
    return bar_style("run", "ok" if attempt.get("ended_at") else "pending")


def attempt_segment(attempt: Mapping[str, Any], now: datetime) -> Segment | None:
    """One attempt's bar, alone on its row (None without a start)."""
    a, b = parse_time(attempt.get("started_at")), parse_time(attempt.get("ended_at")) or now
    return None if a is None else Segment(a, b, bar_glyph("run"), attempt_style(attempt))


def step_segments(
    step: Mapping[str, Any], now: datetime, ended: datetime | None = None, *, backoff: bool = True
) -> list[Segment]:
    """What a step's bar shows, in paint order: its span for sleeps, waits and invokes; for
    ``step.run`` the backoff gaps (unless ``backoff`` is false: the CLI leaves them blank),
    then each attempt (and the cell where it runs now)."""
    start, end = step_span(step, now, ended)
    if start is None or end is None:
        return []
    kind, status = bar_kind(step.get("kind", "run")), step.get("status", "")
    if ended is not None and status in PENDING:
        status = "cancelled"  # the run ended around it: cut short
    outcome = step_outcome(status, timed_out=kind == "wait" and timed_out(step))
    if kind != "run":
        return [Segment(start, end, bar_glyph(kind), bar_style(kind, outcome))]
    running = status == "running" and ended is None
    attempts = attempts_of(step)
    segments: list[Segment] = []
    if any(attempt.get("error") for attempt in attempts):  # the gaps are backoffs
        if backoff:
            glyph, style = bar_glyph("backoff"), bar_style("backoff", "failed")
            segments.append(Segment(start, end, glyph, style))
    elif running:  # no attempt recorded yet: it runs now
        segments.append(Segment(start, end, bar_glyph("run"), bar_style("run", "pending")))
    elif not attempts and status == "completed":  # reused by a rerun: done, no attempt
        segments.append(Segment(start, end, bar_glyph("run"), bar_style("run", "ok")))
    for attempt in attempts:
        a = parse_time(attempt.get("started_at")) or start
        b = parse_time(attempt.get("ended_at")) or ended or now
        segments.append(Segment(a, b, bar_glyph("run"), attempt_style(attempt)))
    if running:
        segments.append(Segment(end, end, bar_glyph("run"), bar_style("run", "pending")))
    return segments
