"""How the faces of durable show things: one palette, one way to read and write times and
durations, one timeline layout. The CLI, the inspector (``durable tui``) and the headless log
import these names from here, so they agree on every colour, glyph and bar.

Pure functions and data (no typer, Textual or Rich): each face turns them into its own
renderables::

    from durable.presentation import make_axis, step_segments, run_end

    axis = make_axis(run, width=40, now=now)
    cells = axis.paint(step_segments(step, now, run_end(run)))  # [(glyph, style), ...]

Styles are Rich style names (``"bold red"``); :func:`ansi_sgr` turns one into ANSI codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._define.durations import human_duration, parse_duration
from ._lazy import lazy_names
from ._presentation import (
    BAR_GLYPH,
    BAR_STYLE,
    LEGEND,
    STATUS_STYLE,
    STATUS_SYMBOL,
    ansi_sgr,
    bar_glyph,
    bar_kind,
    bar_style,
    elapsed,
    error_line,
    format_moment,
    parse_time,
    status_style,
    status_symbol,
    step_outcome,
)

if TYPE_CHECKING:
    from ._timeline import (
        KIND_LABEL,
        PENDING,
        Axis,
        Segment,
        attempt_segment,
        attempt_style,
        attempts_of,
        make_axis,
        run_end,
        step_segments,
        step_span,
        timed_out,
    )

#: The timeline's names load on first use: ``durable dev`` imports this module (for
#: ``parse_duration``) before it spawns its worker, and draws no timeline.
_TIMELINE = (
    "KIND_LABEL",
    "PENDING",
    "Axis",
    "Segment",
    "attempt_segment",
    "attempt_style",
    "attempts_of",
    "make_axis",
    "run_end",
    "step_segments",
    "step_span",
    "timed_out",
)

__all__ = [
    "BAR_GLYPH",
    "BAR_STYLE",
    "KIND_LABEL",
    "LEGEND",
    "PENDING",
    "STATUS_STYLE",
    "STATUS_SYMBOL",
    "Axis",
    "Segment",
    "ansi_sgr",
    "attempt_segment",
    "attempt_style",
    "attempts_of",
    "bar_glyph",
    "bar_kind",
    "bar_style",
    "elapsed",
    "error_line",
    "format_moment",
    "human_duration",
    "make_axis",
    "parse_duration",
    "parse_time",
    "run_end",
    "status_style",
    "status_symbol",
    "step_outcome",
    "step_segments",
    "step_span",
    "timed_out",
]

__getattr__, __dir__ = lazy_names(
    __name__, dict.fromkeys(_TIMELINE, "._timeline"), __all__, globals(), cache=True
)
