"""The step timeline of a run, laid out on a shared time axis. Pure: data in, rows out.

One row per step with a bar from its start to its end (or to now while it runs), drawn by kind:
``█`` step.run attempts, ``░`` sleeps, ``▒`` waits for an event, ``▓`` invokes, ``·`` the backoff
gap between two attempts; glyphs and colours come from :mod:`durable._presentation`. A step
with retries or errors gets one extra row per attempt, with that attempt's own bar and error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text

from durable._presentation import LEGEND as PALETTE_LEGEND
from durable._presentation import bar_glyph, bar_kind, bar_style, step_outcome

from .format import TERMINAL, clock_time, error_text, human_duration, parse_time

KIND_LABEL = {
    "run": "run",
    "sleep": "sleep",
    "wait_for_event": "wait",
    "invoke": "invoke",
    "send_event": "send",
}
LEGEND = Text("  ").join(
    Text.assemble((bar_glyph(kind), bar_style(kind, outcome)), f" {label}")
    for kind, outcome, label in PALETTE_LEGEND
)


@dataclass(frozen=True, slots=True)
class Axis:
    """The shared time axis: ``start`` to ``end`` over ``width`` cells."""

    start: datetime
    end: datetime
    width: int

    @property
    def span(self) -> float:
        """Seconds covered by the axis."""
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


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One line of the timeline: a step, or one attempt of a step (``attempt`` >= 1)."""

    key: str
    label: str
    kind: str
    status: str
    bar: Text
    duration: str
    detail: str
    attempt: int | None = None
    reused: bool = False  #: a rerun took this step's recorded result from the original run

    @property
    def row_key(self) -> str:
        """A unique row key for a table."""
        return f"{self.key}#{self.attempt}" if self.attempt else self.key


PENDING = frozenset({"sleeping", "waiting", "invoking", "running", "errored"})


def _span(
    step: dict[str, Any], now: datetime, run_end: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """When a step started and ended; a pending step runs to now (or to its run's end)."""
    attempts = step.get("attempts") or []
    starts = [parse_time(a.get("started_at")) for a in attempts]
    ends = [parse_time(a.get("ended_at")) for a in attempts]
    start = parse_time(step.get("started_at")) or min((s for s in starts if s), default=None)
    end = parse_time(step.get("ended_at")) or max((e for e in ends if e), default=None)
    if step.get("status") in PENDING:
        end = (end or run_end) if run_end is not None else max(end or now, now)
    if start is not None and end is not None and end < start:
        end = start
    return start, end


def run_end(run: dict[str, Any]) -> datetime | None:
    """When a finished run ended (None while it goes on)."""
    if run.get("status") not in TERMINAL:
        return None
    return parse_time(run.get("ended_at")) or parse_time(run.get("started_at"))


def make_axis(run: dict[str, Any], width: int, now: datetime) -> Axis:
    """The axis covering the run and every step and attempt in it."""
    moments = [parse_time(run.get("started_at")), parse_time(run.get("ended_at"))]
    ended = run_end(run)
    for step in run.get("steps") or []:
        moments.extend(_span(step, now, ended))
    if run.get("status") not in TERMINAL:
        moments.append(now)
    known = [m for m in moments if m is not None]
    start = min(known, default=now)
    end = max(known, default=now)
    if end <= start:
        end = start + timedelta(milliseconds=1)
    return Axis(start, end, max(4, width))


def _paint(
    cells: list[tuple[str, str]], axis: Axis, a: datetime, b: datetime, glyph: str, style: str
) -> None:
    for index in axis.cells(a, b):
        cells[index] = (glyph, style)


def _to_text(cells: list[tuple[str, str]]) -> Text:
    text = Text()
    for glyph, style in cells:
        text.append(glyph, style)
    return text


def _blank(axis: Axis) -> list[tuple[str, str]]:
    return [(" ", "")] * axis.width


def step_bar(
    step: dict[str, Any], axis: Axis, now: datetime, ended: datetime | None = None
) -> Text:
    """The bar of a whole step: every attempt, and the backoff gaps between them."""
    cells = _blank(axis)
    start, end = _span(step, now, ended)
    if start is None or end is None:
        return _to_text(cells)
    kind, status = bar_kind(step.get("kind", "run")), step.get("status", "")
    if ended is not None and status in PENDING:
        status = "cancelled"  # the run ended around it: cut short
    outcome = step_outcome(status, timed_out=kind == "wait" and timed_out(step))
    if kind != "run":
        _paint(cells, axis, start, end, bar_glyph(kind), bar_style(kind, outcome))
        return _to_text(cells)
    attempts = step.get("attempts") or []
    if any(attempt.get("error") for attempt in attempts):  # the gaps are backoffs
        _paint(cells, axis, start, end, bar_glyph("backoff"), bar_style("backoff", "failed"))
    elif status == "running" and ended is None:  # no attempt recorded yet: it runs now
        _paint(cells, axis, start, end, bar_glyph("run"), bar_style("run", "pending"))
    elif not attempts and status == "completed":  # reused by a rerun: done, no attempt
        _paint(cells, axis, start, end, bar_glyph("run"), bar_style("run", "ok"))
    for attempt in attempts:
        a = parse_time(attempt.get("started_at")) or start
        b = parse_time(attempt.get("ended_at")) or ended or now
        _paint(cells, axis, a, b, bar_glyph("run"), _attempt_style(attempt))
    if status == "running" and ended is None:
        _paint(cells, axis, end, end, bar_glyph("run"), bar_style("run", "pending"))
    return _to_text(cells)


def _attempt_style(attempt: dict[str, Any]) -> str:
    if attempt.get("error"):
        return bar_style("run", "failed")
    return bar_style("run", "ok" if attempt.get("ended_at") else "pending")


def timed_out(step: dict[str, Any]) -> bool:
    """Whether a completed wait for an event timed out (its output is null)."""
    return step.get("status") == "completed" and step.get("output") in (None, "null")


def attempt_bar(attempt: dict[str, Any], axis: Axis, now: datetime) -> Text:
    """The bar of one attempt."""
    cells = _blank(axis)
    a, b = parse_time(attempt.get("started_at")), parse_time(attempt.get("ended_at")) or now
    if a is not None:
        _paint(cells, axis, a, b, bar_glyph("run"), _attempt_style(attempt))
    return _to_text(cells)


def _step_detail(step: dict[str, Any], tz: Any) -> str:
    text = _kind_detail(step, tz)
    if step.get("reused"):
        return f"{reuse_text(step)} · {text}" if text else reuse_text(step)
    return text


def reuse_text(step: dict[str, Any]) -> str:
    """``↺ reused from RUN`` (``replaced`` when the rerun gave the step a new output)."""
    detail = step.get("detail") or {}
    verb = "replaced" if detail.get("replaced_output") else "reused"
    source = detail.get("reused_from")
    return f"↺ {verb} from {source}" if source else f"↺ {verb} from the original run"


def _kind_detail(step: dict[str, Any], tz: Any) -> str:
    detail = step.get("detail") or {}
    status = step.get("status")
    if step.get("error"):
        return error_text(step["error"])
    if step.get("kind") == "sleep":
        until = clock_time(detail.get("until") or step.get("wake_at"), tz)
        verb = {"sleeping": "wakes", "completed": "slept until"}.get(str(status), "was to wake")
        return f"{verb} {until}"
    if step.get("kind") == "wait_for_event":
        name = detail.get("event") or ""
        if status == "waiting":
            return f"waiting for {name}"
        if status != "completed":
            return f"{status} while waiting for {name}"
        return f"timed out: {name}" if timed_out(step) else f"got {name}"
    if step.get("kind") == "invoke":
        return f"→ {detail.get('function_id', '')} {detail.get('child_run_id', '')}".rstrip()
    if status == "errored" and step.get("wake_at"):
        return f"retry at {clock_time(step['wake_at'], tz)}"
    return ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return human_duration((end - start).total_seconds())


def timeline_rows(
    run: dict[str, Any], width: int, now: datetime, tz: Any = None
) -> tuple[Axis, list[TimelineRow]]:
    """The axis and the rows (steps, then their attempts) of ``run``'s timeline."""
    axis = make_axis(run, width, now)
    ended = run_end(run)
    rows: list[TimelineRow] = []
    for step in run.get("steps") or []:
        key, kind = str(step.get("key", "?")), str(step.get("kind", "run"))
        start, end = _span(step, now, ended)
        status = str(step.get("status", ""))
        if ended is not None and status in PENDING:
            status = str(run.get("status"))  # e.g. a wait cut short by a cancellation
        attempts = step.get("attempts") or []
        rows.append(
            TimelineRow(
                key=key,
                label=key,
                kind=KIND_LABEL.get(kind, kind),
                status=status,
                bar=step_bar(step, axis, now, ended),
                duration=_duration(start, end),
                detail=_step_detail({**step, "status": status}, tz),
                reused=bool(step.get("reused")),
            )
        )
        if len(attempts) > 1 or any(a.get("error") for a in attempts):
            for number, attempt in enumerate(attempts, start=1):
                a = parse_time(attempt.get("started_at"))
                b = parse_time(attempt.get("ended_at")) or (now if a else None)
                rows.append(
                    TimelineRow(
                        key=key,
                        label=f"  ↳ attempt {number}",
                        kind="",
                        status="failed" if attempt.get("error") else "completed",
                        bar=attempt_bar(attempt, axis, now),
                        duration=_duration(a, b),
                        detail=error_text(attempt.get("error")),
                        attempt=number,
                    )
                )
    return axis, rows


def axis_label(axis: Axis) -> str:
    """``0 ──── 3.2s`` sized to the axis width."""
    total = human_duration(axis.span)
    fill = max(1, axis.width - len(total) - 3)
    return f"0 {'─' * fill} {total}"
