"""Pilots driving the inspector against the real dev server (tests/support/live.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from durable.tui.app import DurableApp
from durable.tui.screens.run_detail import RunDetailScreen
from durable.tui.screens.runs import RunsScreen
from durable.tui.screens.send_event import SendEventScreen
from durable.tui.widgets.confirm import ConfirmScreen
from tests.support.live import LiveServer, settle
from tests.support.tui_pilot import screen_text, until

SIZE = (150, 40)


@pytest.fixture
async def pilot(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[Pilot[None]]:
    """The inspector on the live server, connected (nothing loaded by key presses)."""
    app = DurableApp(live_server.url, tz=UTC, fixtures_dir=tmp_path / "fixtures")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.connection.state == "connected", what="the stream")
        yield pilot


def table(pilot: Pilot[None], selector: str = "#runs") -> DataTable[Any]:
    return pilot.app.screen.query_one(selector, DataTable)


def cell(pilot: Pilot[None], row: int, column: int, selector: str = "#runs") -> str:
    return str(table(pilot, selector).get_row_at(row)[column])


async def test_runs_appear_and_update_live_without_key_presses(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    assert table(pilot).row_count == 0
    run_id = live_server.start("test/sleep")
    await until(pilot, lambda: table(pilot).row_count == 1, what="the new run's row")
    await until(pilot, lambda: "sleeping" in cell(pilot, 0, 0), what="sleeping")
    assert cell(pilot, 0, 2) == run_id and cell(pilot, 0, 1) == "sleeper"
    live_server.start("test/pipeline", {"n": 1})
    await until(pilot, lambda: table(pilot).row_count == 2, what="a second row")
    await until(pilot, lambda: "completed" in cell(pilot, 0, 0), what="completed")
    await until(pilot, lambda: cell(pilot, 0, 5) == "3", what="the step count")
    assert cell(pilot, 1, 2) == run_id  # newest first
    assert "● connected" in screen_text(pilot.app)


async def test_enter_opens_a_run_with_its_timeline_and_escape_goes_back(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    run_id = live_server.start("test/flaky")
    await settle(live_server, run_id)
    await until(pilot, lambda: table(pilot).row_count == 1)
    await pilot.press("enter")
    screen = pilot.app.screen
    assert isinstance(screen, RunDetailScreen) and screen.run_id == run_id
    await until(pilot, lambda: table(pilot, "#timeline").row_count == 4, what="the timeline")
    text = screen_text(pilot.app)
    for expected in ("unstable", "attempt 1", "RuntimeError: boom 0", "attempt 3", '"ok"'):
        assert expected in text, expected
    assert "✖ failed" in text and "✔ completed" in text
    await pilot.press("escape")
    assert isinstance(pilot.app.screen, RunsScreen)


async def test_logs_of_the_run_or_of_the_selected_step(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    run_id = live_server.start("test/pipeline", {"n": 4})
    await settle(live_server, run_id)
    await until(pilot, lambda: table(pilot).row_count == 1)
    await pilot.press("enter")
    logs = pilot.app.screen.query_one("#run-logs", Static)
    await until(pilot, lambda: "pipeline starting with n=4" in str(logs.render()), what="logs")
    assert "[a] adding one" in str(logs.render())
    await pilot.press("l")  # the selected step (a) only
    title = pilot.app.screen.query_one("#logs-title", Static)
    await until(pilot, lambda: "step a" in str(title.render()), what="step logs")
    await until(pilot, lambda: "pipeline starting" not in str(logs.render()))
    assert "adding one" in str(logs.render())


async def test_c_cancels_a_sleeping_run(pilot: Pilot[None], live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    await settle(live_server, run_id, "sleeping")
    await until(pilot, lambda: "sleeping" in cell(pilot, 0, 0))
    await pilot.press("c")  # asks first; "n" (or Escape) leaves the run alone
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
    assert f"Cancel run {run_id}?" in screen_text(pilot.app)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="the list")
    await pilot.press("c", "enter")  # Enter is "No": the focused button
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="the list")
    assert live_server.get(f"/api/runs/{run_id}")["status"] == "sleeping"
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
    await pilot.press("y")
    await until(pilot, lambda: "cancelled" in cell(pilot, 0, 0), what="the cancelled row")
    run = live_server.get(f"/api/runs/{run_id}")
    assert run["status"] == "cancelled" and run["cancel_reason"] == "cancelled by request"
    await pilot.press("enter")
    await until(pilot, lambda: "⊘ cancelled: cancelled by request" in screen_text(pilot.app))


async def test_rerun_from_the_selected_step_and_export(
    pilot: Pilot[None], live_server: LiveServer, tmp_path: Path
) -> None:
    run_id = live_server.start("test/chain")
    await settle(live_server, run_id)
    await until(pilot, lambda: table(pilot).row_count == 1)
    await pilot.press("enter")
    await until(pilot, lambda: table(pilot, "#timeline").row_count == 3)
    await pilot.press("down", "down", "R")  # from step "three": reuse one and two
    await until(pilot, lambda: len(live_server.get("/api/runs")["runs"]) == 2, what="a rerun")
    new = live_server.get("/api/runs")["runs"][0]
    rerun = await settle(live_server, new["run_id"])
    original = live_server.get(f"/api/runs/{run_id}")
    assert rerun["output"]["one"] == original["output"]["one"]  # memoized, not run again
    await until(pilot, lambda: getattr(pilot.app.screen, "run_id", None) == new["run_id"])
    await pilot.press("x")
    path = tmp_path / "fixtures" / f"{new['run_id']}.json"
    await until(pilot, path.exists, what="the fixture file")
    assert str(path) in str(pilot.app.screen.sub_title)
    await pilot.press("escape")  # the rerun took the original's place: back to the list
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), what="the list")
    assert len(pilot.app.screen_stack) == 1


async def test_send_an_event_through_the_form(pilot: Pilot[None], live_server: LiveServer) -> None:
    await pilot.press("s")
    form = pilot.app.screen
    assert isinstance(form, SendEventScreen)
    await pilot.press(*"test/pipeline")
    assert form.query_one("#event-name", Input).value == "test/pipeline"
    form.query_one("#event-data", TextArea).text = '{"n": 7,'
    await pilot.press("ctrl+s")
    error = form.query_one("#send-error", Static)
    assert "data: invalid JSON" in str(error.render()) and error.display
    assert pilot.app.screen is form  # still open, nothing sent
    assert live_server.get("/api/events")["events"] == []
    form.query_one("#event-data", TextArea).text = '{"n": 7}'
    await pilot.press("ctrl+s")
    await until(pilot, lambda: not isinstance(pilot.app.screen, SendEventScreen))
    events = live_server.get("/api/events")["events"]
    assert [(e["name"], e["data"]) for e in events] == [("test/pipeline", {"n": 7})]
    await until(pilot, lambda: table(pilot).row_count == 1, what="the run it started")


async def test_filter_by_status(pilot: Pilot[None], live_server: LiveServer) -> None:
    failed = live_server.start("test/doomed")
    done = live_server.start("test/pipeline")
    await settle(live_server, failed)
    await settle(live_server, done)
    await until(pilot, lambda: table(pilot).row_count == 2)
    await pilot.press("slash", *"status:failed", "enter")
    await until(pilot, lambda: table(pilot).row_count == 1, what="the filtered table")
    assert cell(pilot, 0, 2) == failed and "✖ failed" in cell(pilot, 0, 0)
    assert "filter: status:failed" in screen_text(pilot.app)
    live_server.start("test/pipeline")  # a completed run does not show up under the filter
    await pilot.pause(0.5)
    assert table(pilot).row_count == 1
    await pilot.press("escape")
    await until(pilot, lambda: table(pilot).row_count == 3, what="the unfiltered table")


async def test_events_and_functions_screens(pilot: Pilot[None], live_server: LiveServer) -> None:
    live_server.start("test/pipeline", {"n": 2})
    await pilot.press("2")
    await until(pilot, lambda: table(pilot, "#events").row_count == 1, what="the event")
    assert "test/pipeline" in screen_text(pilot.app)
    live_server.send("test/nobody-listens")
    await until(pilot, lambda: table(pilot, "#events").row_count == 2, what="a live event")
    await pilot.press("down", "e")  # re-send the first event: the form is filled in
    form = pilot.app.screen
    assert isinstance(form, SendEventScreen)
    assert form.query_one("#event-name", Input).value == "test/pipeline"
    await pilot.press("ctrl+s")
    await until(pilot, lambda: table(pilot, "#events").row_count == 3, what="the re-sent event")
    await pilot.press("3")
    await until(pilot, lambda: table(pilot, "#functions").row_count == 6, what="the functions")
    assert "test/sleep" in screen_text(pilot.app)
