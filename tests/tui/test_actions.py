"""The functions screen's actions against the real server: invoke one, run a cron function now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from durable.tui.app import DurableApp
from durable.tui.screens.functions import FunctionsScreen
from durable.tui.screens.run_detail import RunDetailScreen
from durable.tui.screens.send_event import SendEventScreen
from tests.support.extra_functions import add_function
from tests.support.live import LiveServer
from tests.support.tui_pilot import screen_text, until


@pytest.fixture
async def pilot(live_server: LiveServer, tmp_path: Path) -> AsyncIterator[Pilot[None]]:
    """The inspector on the functions screen of the live server (with a cron function)."""
    add_function(live_server)
    app = DurableApp(live_server.url, tz=UTC, fixtures_dir=tmp_path / "fixtures")
    async with app.run_test(size=(150, 40)) as pilot:
        await until(pilot, lambda: app.connection.state == "connected", what="the stream")
        await pilot.press("3")
        functions = await until(pilot, lambda: app.screen.query_one("#functions", DataTable))
        await until(pilot, lambda: functions.row_count == 7, what="the functions")
        yield pilot


def notices(pilot: Pilot[None]) -> str:
    """The notifications on screen, as text."""
    return "\n".join(notice.message for notice in pilot.app._notifications)


async def select(pilot: Pilot[None], function_id: str) -> None:
    table = pilot.app.screen.query_one("#functions", DataTable)
    table.move_cursor(row=table.get_row_index(function_id))
    await pilot.pause()


async def test_i_invokes_the_function_with_data_from_a_form(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    await select(pilot, "pipeline")
    await pilot.press("i")
    form = pilot.app.screen
    assert isinstance(form, SendEventScreen) and form.invoke_id == "pipeline"
    assert form.query_one("#event-name", Input).disabled
    form.query_one("#event-data", TextArea).text = "[1]"
    await pilot.press("ctrl+s")
    assert "data: must be a JSON object" in str(form.query_one("#send-error", Static).render())
    form.query_one("#event-data", TextArea).text = '{"n": 20}'
    await pilot.press("ctrl+s")
    detail = await until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen))
    assert detail
    run_id = pilot.app.screen.run_id  # type: ignore[attr-defined]
    run = live_server.wait_run(run_id)
    assert run["function_id"] == "pipeline" and run["output"] == {"a": 21, "b": 42}
    assert run["event"]["name"] == "durable/function.invoked"
    assert live_server.get("/api/events")["events"] == []  # no event: only this function ran
    await until(pilot, lambda: "✔ completed" in screen_text(pilot.app), what="the run's end")
    await pilot.press("3")  # the functions key shows the functions, not the invoked run
    await until(pilot, lambda: isinstance(pilot.app.screen, FunctionsScreen), what="functions")
    assert len(pilot.app.screen_stack) == 1
    await pilot.press("1")  # and the run is in the runs list
    runs = await until(pilot, lambda: pilot.app.screen.query_one("#runs", DataTable))
    await until(pilot, lambda: run_id in runs.rows, what="the invoked run in the list")


async def test_i_on_a_cron_function_runs_it_now(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    await select(pilot, "nightly")
    assert "cron 0 3 1 1 *" in screen_text(pilot.app)
    await pilot.press("i")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunDetailScreen), what="the run")
    run = live_server.wait_run(pilot.app.screen.run_id)  # type: ignore[attr-defined]
    assert run["function_id"] == "nightly" and run["event"]["name"] == "durable/scheduled.timer"
    await until(pilot, lambda: "durable/scheduled.timer" in screen_text(pilot.app))


async def test_e_sends_the_trigger_event_and_says_when_there_is_none(
    pilot: Pilot[None], live_server: LiveServer
) -> None:
    await select(pilot, "nightly")
    await pilot.press("e")
    await until(pilot, lambda: "has no event trigger" in notices(pilot), what="the notice")
    await select(pilot, "sleeper")
    await pilot.press("e")
    form = pilot.app.screen
    assert isinstance(form, SendEventScreen) and form.invoke_id is None
    assert form.query_one("#event-name", Input).value == "test/sleep"
    await pilot.press("ctrl+s")
    await until(pilot, lambda: not isinstance(pilot.app.screen, SendEventScreen))
    events = live_server.get("/api/events")["events"]
    assert [e["name"] for e in events] == ["test/sleep"] and len(events[0]["run_ids"]) == 1
