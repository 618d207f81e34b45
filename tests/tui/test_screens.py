"""The inspector's screens as a new user met them: events sharing an id, a parked run's
clock, confirmations and screenshots, step panels, and tables that use the width they get."""

from __future__ import annotations

import copy
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from durable.tui.app import DurableApp
from durable.tui.format import human_duration
from durable.tui.panels import step_head
from durable.tui.screens.run_detail import RunDetailScreen
from durable.tui.screens.runs import RunsScreen
from durable.tui.timeline import timeline_rows
from durable.tui.widgets.confirm import ConfirmScreen
from tests.support.tui_pilot import screen_text, until
from tests.support.tui_stub import EVENTS, NOW, RUNS, StubClient, step

RUNNING, FINISHED = RUNS[0]["run_id"], RUNS[-1]["run_id"]


class DuplicateEventClient(StubClient):
    """Two records with one id: the send that started a run, and its skipped duplicate."""

    async def events(self, *, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        first = copy.deepcopy(EVENTS[0])
        again = {**first, "run_ids": [], "skipped": "duplicate event id", "ts": first["ts"] + 1}
        return [again, first]


async def test_two_events_sharing_an_id_both_show() -> None:
    app = DurableApp(client=DuplicateEventClient(), tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("2")
        table = await until(pilot, lambda: app.screen.query_one("#events", DataTable))
        await until(pilot, lambda: table.row_count == 2, what="both events")
        runs = [str(table.get_row_at(row)[3]) for row in range(2)]
        assert runs == ["0", "1"]  # the skipped duplicate, and the event that started the run
        assert "skipped: duplicate event id" in screen_text(app)
        await pilot.press("down")
        await until(pilot, lambda: RUNNING in screen_text(app), what="the started run")


async def test_a_parked_run_keeps_its_clock_ticking() -> None:
    clock = [NOW]
    app = DurableApp(client=StubClient(), tz=UTC, clock=lambda: clock[0])
    async with app.run_test(size=(140, 36)) as pilot:
        app.push_screen(RunDetailScreen(RUNNING))
        table = await until(pilot, lambda: app.screen.query_one("#timeline", DataTable))
        await until(pilot, lambda: table.row_count == 2, what="the timeline")
        summary = app.screen.query_one("#run-summary", Static)
        assert f"duration {human_duration(5)}" in str(summary.render())
        assert str(table.get_row_at(1)[4]) == human_duration(4.5)  # "charge" runs since 25.5 s
        clock[0] = NOW + timedelta(seconds=60)  # no change streamed: the run is parked
        await until(
            pilot,
            lambda: f"duration {human_duration(65)}" in str(summary.render()),
            what="the run's duration to tick",
        )
        await until(pilot, lambda: str(table.get_row_at(1)[4]) == human_duration(64.5))


async def test_cancel_and_rerun_of_a_live_run_ask_first() -> None:
    client = StubClient()
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == len(RUNS), what="the runs")
        await pilot.press("r")  # the top run is still running
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert "still running" in screen_text(app)
        await pilot.press("escape")
        assert client.reruns == []
        await pilot.press("r", "y")
        await until(pilot, lambda: client.reruns == [(RUNNING, None)], what="the rerun")
        await pilot.press("end", "r")  # a finished run: rerun at once, nothing at stake
        await until(pilot, lambda: len(client.reruns) == 2, what="the second rerun")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("c")  # it already ended: nothing to cancel, no dialog
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunsScreen) and client.cancelled == []
        await pilot.press("home", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="the run")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: client.cancelled == [RUNNING], what="the cancel")


async def test_p_saves_a_screenshot_and_no_dead_palette_icon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = DurableApp(client=StubClient(), tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(140, 30)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == len(RUNS), what="the runs")
        assert "⭘" not in screen_text(app)  # the palette is off: no icon to click in vain
        await pilot.press("p")
        saved = await until(
            pilot, lambda: list(tmp_path.glob("durable-*.svg")), what="the screenshot"
        )
        assert "process-order" in saved[0].read_text()
        notices = "\n".join(str(n.message) for n in app._notifications)
        assert f"saved {saved[0]}" in notices or saved[0].name in notices


def test_step_panels_count_attempts_only_for_steps_that_retry() -> None:
    invoke = step("child", "invoke", "completed", 0, 1, detail={"function_id": "f"})
    assert step_head(invoke).plain == "step child  invoke  ✔ completed"
    sleep = step("nap", "sleep", "sleeping", 0, None)
    assert "attempt" not in step_head(sleep).plain
    charge = RUNS[-1]["steps"][1]
    assert step_head(charge).plain == "step charge  run  ✔ completed  · 3 attempts"
    reused = {**charge, "reused": True}
    assert step_head(reused).plain.endswith("· ↺ reused from the original run")
    reused["detail"] = {"reused_from": "01JHQ5Z8R6N000000000000001"}
    assert step_head(reused).plain.endswith("· ↺ reused from 01JHQ5Z8R6N000000000000001")
    reused["detail"]["replaced_output"] = True
    assert "↺ replaced from 01JHQ5Z8R6N000000000000001" in step_head(reused).plain


def test_a_reused_step_shows_in_the_timeline_and_tolerates_servers_without_the_flag() -> None:
    source = "01JHQ5Z8R6N000000000000001"
    rerun = copy.deepcopy(RUNS[-1])
    first = rerun["steps"][0]
    first.update(reused=True, attempts=[], detail={"reused_from": source})
    first["ended_at"] = first["started_at"]
    _, rows = timeline_rows(rerun, 40, NOW, UTC)
    assert rows[0].reused and rows[0].detail == f"↺ reused from {source}"
    assert rows[0].bar.plain.strip() == "█"  # done, taking no time
    _, plain = timeline_rows(RUNS[-1], 40, NOW, UTC)  # no "reused" key at all
    assert not any(row.reused or "reused" in row.detail for row in plain)


async def test_tables_use_the_width_they_get_and_cut_with_an_ellipsis() -> None:
    wide = DurableApp(client=StubClient(), tz=UTC, clock=lambda: NOW)
    trigger = "order/paid, user/action if event.data.amount > 100"
    async with wide.run_test(size=(200, 30)) as pilot:
        await pilot.press("3")
        table = await until(pilot, lambda: wide.screen.query_one("#functions", DataTable))
        await until(pilot, lambda: table.row_count == 3, what="the functions")
        assert trigger in screen_text(wide)  # the whole triggers text, not cut at 30
    narrow = DurableApp(client=StubClient(), tz=UTC, clock=lambda: NOW)
    async with narrow.run_test(size=(90, 30)) as pilot:
        await pilot.press("3")
        table = await until(pilot, lambda: narrow.screen.query_one("#functions", DataTable))
        await until(pilot, lambda: table.row_count == 3, what="the functions")
        line = next(x for x in screen_text(narrow).splitlines() if "send-receipt" in x)
        assert "order/paid, user" in line and "…" in line and trigger not in line


async def test_a_long_step_key_is_cut_with_an_ellipsis_in_the_timeline() -> None:
    key = "reserve-the-stock-in-every-warehouse-of-the-region"
    run = copy.deepcopy(RUNS[-1])
    run["steps"][0]["key"] = key

    class LongKeyClient(StubClient):
        async def run(self, run_id: str) -> dict[str, Any]:
            return copy.deepcopy(run)

    app = DurableApp(client=LongKeyClient(), tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(160, 36)) as pilot:
        app.push_screen(RunDetailScreen(FINISHED))
        table = await until(pilot, lambda: app.screen.query_one("#timeline", DataTable))
        await until(pilot, lambda: table.row_count > 1, what="the timeline")
        cell = table.get_row_at(0)[0]
        assert isinstance(cell, Text) and cell.overflow == "ellipsis" and cell.no_wrap
        row = next(line for line in screen_text(app).splitlines() if key[:25] in line)
        assert "…" in row and key not in row  # the timeline row; the step panel has it whole
