"""Each screen pinned as an SVG snapshot, on canned data at a fixed time (support/tui_stub.py)."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from durable.tui.app import DurableApp
from tests.support.tui_pilot import until
from tests.support.tui_stub import NOW, StubClient
from tests.tui.snapshots import compare, take


def make_app(*, down: bool = False) -> DurableApp:
    return DurableApp(client=StubClient(down=down), tz=UTC, clock=lambda: NOW)


def rows(pilot: Pilot[Any], selector: str, count: int) -> Any:
    return until(
        pilot,
        lambda: pilot.app.screen.query_one(selector, DataTable).row_count == count,
        what=f"{count} rows in {selector}",
    )


async def no_blinking(pilot: Pilot[Any]) -> None:
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.pause()


async def snap(name: str, tmp_path: Path, run_before: Any, *, down: bool = False) -> None:
    compare(name, await take(make_app(down=down), run_before=run_before), tmp_path)


async def runs_listed(pilot: Pilot[Any]) -> None:
    """The five runs, with their step counts (which load after the rows)."""
    await rows(pilot, "#runs", 5)
    table = pilot.app.screen.query_one("#runs", DataTable)
    await until(pilot, lambda: str(table.get_row_at(0)[5]) == "2", what="the counts")


async def test_runs(tmp_path: Path) -> None:
    await snap("runs", tmp_path, runs_listed)


async def test_runs_filtered(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await runs_listed(pilot)
        await pilot.press("slash", *"status:failed", "enter")
        await rows(pilot, "#runs", 1)
        await pilot.press("slash")
        await no_blinking(pilot)

    await snap("runs_filtered", tmp_path, ready)


@pytest.mark.parametrize(("name", "row"), [("completed", 4), ("failed", 1), ("cancelled", 2)])
async def test_run_detail(tmp_path: Path, name: str, row: int) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await rows(pilot, "#runs", 5)
        await pilot.press(*["down"] * row, "enter")
        await until(pilot, lambda: pilot.app.screen.query_one("#timeline", DataTable).row_count)
        await pilot.pause(0.1)

    await snap(f"run_detail_{name}", tmp_path, ready)


async def test_events(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("2")
        await rows(pilot, "#events", 3)
        await pilot.press("down", "down")

    await snap("events", tmp_path, ready)


async def test_functions_with_a_reload_error(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await rows(pilot, "#functions", 3)

    await snap("functions", tmp_path, ready)


async def test_send_form_with_invalid_json(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await pilot.press("s", *"order/created")
        pilot.app.screen.query_one("#event-data", TextArea).text = '{"orderId": o-9}'
        await pilot.press("ctrl+s")
        await no_blinking(pilot)

    await snap("send_form_error", tmp_path, ready)


async def test_disconnected(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: pilot.app.connection.state == "disconnected")
        await pilot.pause(0.1)

    await snap("disconnected", tmp_path, ready, down=True)


async def test_cancel_asks_first(tmp_path: Path) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await runs_listed(pilot)  # (the counts load after the rows: a snapshot waits for them)
        await pilot.press("c")
        await until(pilot, lambda: pilot.app.screen.query_one("#confirm-no").has_focus)

    await snap("confirm_cancel", tmp_path, ready)
