"""The step timeline of a run, as Rich text rows. Pure: data in, rows out.

One row per step with a bar from its start to its end (or to now while it runs), drawn by kind:
``█`` step.run attempts, ``░`` sleeps, ``▒`` waits for an event, ``▓`` invokes, ``·`` the backoff
gap between two attempts. The layout (axis, spans, segments), glyphs and colours come from
:mod:`durable.presentation`, shared with ``durable run``. A step with retries or errors gets one
extra row per attempt, with that attempt's own bar and error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text

from durable.presentation import (
    KIND_LABEL,
    PENDING,
    Axis,
    Segment,
    attempt_segment,
    bar_glyph,
    bar_style,
    make_axis,
    run_end,
    step_segments,
    step_span,
    timed_out,
)
from durable.presentation import LEGEND as PALETTE_LEGEND

from .format import clock_time, error_text, human_duration, parse_time

__all__ = [
    "KIND_LABEL",
    "LEGEND",
    "TimelineRow",
    "attempt_bar",
    "axis_label",
    "reuse_text",
    "step_bar",
    "timeline_rows",
]

LEGEND = Text("  ").join(
    Text.assemble((bar_glyph(kind), bar_style(kind, outcome)), f" {label}")
    for kind, outcome, label in PALETTE_LEGEND
)


def _to_text(axis: Axis, segments: Iterable[Segment]) -> Text:
    text = Text()
    for glyph, style in axis.paint(segments):
        text.append(glyph, style)
    return text


def step_bar(
    step: dict[str, Any], axis: Axis, now: datetime, ended: datetime | None = None
) -> Text:
    """The bar of a whole step: every attempt, and the backoff gaps between them."""
    return _to_text(axis, step_segments(step, now, ended))


def attempt_bar(attempt: dict[str, Any], axis: Axis, now: datetime) -> Text:
    """The bar of one attempt."""
    segment = attempt_segment(attempt, now)
    return _to_text(axis, [segment] if segment else [])


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
        start, end = step_span(step, now, ended)
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
