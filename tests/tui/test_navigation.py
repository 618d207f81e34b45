"""Where keys lead: the runs cursor under arriving runs, mode keys, rerun and Escape."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from textual.widgets import DataTable

from durable.tui.app import DurableApp
from durable.tui.screens.runs import RunsScreen
from tests.support.tui_pilot import until
from tests.support.tui_stub import NOW, ManyRunsClient, run


def arrive(client: ManyRunsClient, run_id: str, second: float) -> None:
    """A new run on top, as the server streams it."""
    client.all_runs.insert(0, run(run_id, "fn-new", "running", second, None))
    client.index = {r["run_id"]: i for i, r in enumerate(client.all_runs)}
    client.push("run", {"run_id": run_id, "status": "running"})


def cursor_run(table: DataTable[Any]) -> str:
    return str(table.get_row_at(table.cursor_row)[2])


async def test_the_runs_cursor_stays_on_its_run_or_on_top_as_new_runs_arrive() -> None:
    client = ManyRunsClient(20)
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(120, 32)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == 20, what="the runs")
        await pilot.press("down", "down", "down")
        chosen = cursor_run(table)
        assert chosen == client.all_runs[3]["run_id"]
        for n in range(3):
            arrive(client, f"01JHQ5Z8R6NZZZZZZZZZZZZZZ{n}", 31 + n)
            await until(pilot, lambda n=n: table.row_count == 21 + n, what=f"new run {n}")
            await pilot.pause(0.05)
            assert cursor_run(table) == chosen  # it stays on the run it is on
        await pilot.press("home")
        assert table.cursor_row == 0
        arrive(client, "01JHQ5Z8R6NZZZZZZZZZZZZZZ9", 40)
        await until(pilot, lambda: table.row_count == 24, what="one more")
        await pilot.pause(0.05)
        assert table.cursor_row == 0  # on the top row: it stays on the top row, the newest
        assert cursor_run(table) == "01JHQ5Z8R6NZZZZZZZZZZZZZZ9"
        assert isinstance(app.screen, RunsScreen)
