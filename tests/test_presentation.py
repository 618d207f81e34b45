"""One palette: the CLI, the inspector and the headless log take their colours from
durable._presentation, and a wait that got its event is never drawn in the failure red."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console
from rich.text import Text

from durable._presentation import (
    BAR_GLYPH,
    STATUS_STYLE,
    ansi_sgr,
    bar_glyph,
    bar_style,
)
from durable.cli import runs as cli_runs
from durable.cli.client import styled_status
from durable.devserver.dev.headless import HeadlessLog
from durable.tui.format import status_text
from durable.tui.timeline import LEGEND, timeline_rows
from tests.support.tui_stub import NOW, at, run, step

STATUSES = sorted(STATUS_STYLE)


@pytest.mark.parametrize("status", STATUSES)
def test_the_three_faces_colour_a_status_alike(status: str) -> None:
    style = STATUS_STYLE[status]
    assert status_text(status).style == style  # the inspector
    assert styled_status(status) == f"[{style}]{status}[/]"  # the CLI
    out = io.StringIO()
    log = HeadlessLog(out, colour=True)
    log("run", {"run_id": "R1", "function_id": "f", "status": status})
    log.flush()
    assert f"\x1b[{ansi_sgr(style)}m{status}\x1b[0m" in out.getvalue()  # the headless log


def test_cancelled_is_one_colour_everywhere() -> None:
    assert STATUS_STYLE["cancelled"] == "yellow"
    assert ansi_sgr("bold red") == "1;31" and ansi_sgr("bright_blue") == "94"


def spans(text: object) -> set[tuple[str, str]]:
    """(glyph, style) of every painted cell of a bar."""
    assert isinstance(text, Text)
    found = set()
    for index, char in enumerate(text.plain):
        if char != " ":
            styles = [str(s.style) for s in text.spans if s.start <= index < s.end]
            found.add((char, styles[-1] if styles else ""))
    return found


RUN = run(
    "R1",
    "f",
    "completed",
    0,
    10,
    steps=[
        step("await", "wait_for_event", "completed", 0, 4, output={"name": "x"}),
        step("child", "invoke", "completed", 4, 8, output=1),
        step("nap", "sleep", "completed", 8, 10),
    ],
)


def test_tui_bars_take_glyphs_and_styles_from_the_palette_and_success_is_not_red() -> None:
    _, rows = timeline_rows(RUN, 40, NOW, UTC)
    wait, invoke, sleep = (spans(row.bar) for row in rows)
    assert wait == {(bar_glyph("wait"), bar_style("wait", "ok"))}
    assert invoke == {(bar_glyph("invoke"), bar_style("invoke", "ok"))}
    assert sleep == {(bar_glyph("sleep"), bar_style("sleep", "ok"))}
    for kind in ("wait", "invoke", "sleep"):
        assert "red" not in bar_style(kind, "ok") and "red" not in bar_style(kind, "pending")
    assert bar_style("run", "failed") == "red"
    legend = LEGEND.plain
    assert all(glyph in legend for glyph in BAR_GLYPH.values())


def test_cli_bars_take_glyphs_and_styles_from_the_palette() -> None:
    now = datetime(2025, 1, 31, 12, 0, 30, tzinfo=UTC)
    for step_ in RUN["steps"]:
        kind = {"wait_for_event": "wait"}.get(step_["kind"], step_["kind"])
        segments = cli_runs._step_segments(step_, now)
        assert [(s.char, s.style) for s in segments] == [(bar_glyph(kind), bar_style(kind, "ok"))]
    failed = {"started_at": at(0), "ended_at": at(1), "error": {"name": "E"}}
    segment = cli_runs._attempt_segment(failed, now)
    assert segment is not None and (segment.char, segment.style) == ("█", "red")
    Console(file=io.StringIO()).print(styled_status("cancelled"))  # valid markup


def test_a_running_step_is_not_drawn_as_a_backoff() -> None:
    live = run(
        "R2",
        "f",
        "running",
        0,
        None,
        steps=[
            step("fresh", "run", "running", 20, None),  # no attempt recorded yet
            step("open", "run", "running", 25, None, attempts=[{"started_at": at(25)}]),
        ],
    )
    _, rows = timeline_rows(live, 40, NOW, UTC)
    for row in rows:
        assert spans(row.bar) == {(bar_glyph("run"), bar_style("run", "pending"))}
