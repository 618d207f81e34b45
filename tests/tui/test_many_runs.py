"""10,000 runs: the runs screen loads a page at a time, and a live change touches one row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC
from typing import Any

from textual.widgets import DataTable, Static

from durable.tui.app import DurableApp
from durable.tui.screens.runs import PAGE_SIZE
from tests.support.tui_pilot import until
from tests.support.tui_stub import NOW, ManyRunsClient, run

COUNT = 10_000


def spy(table: DataTable[Any], calls: Counter[str]) -> None:
    """Count the table's row-level operations from now on."""

    def counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return method(*args, **kwargs)

        return wrapper

    for name in ("add_row", "update_cell", "remove_row", "sort", "clear"):
        setattr(table, name, counting(name, getattr(table, name)))


async def test_ten_thousand_runs_page_in_and_a_change_redraws_one_row() -> None:
    client = ManyRunsClient(COUNT)
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(120, 32)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == PAGE_SIZE, what="the first page")
        # only the first page asked for, not 10,000 runs (the stream's "connected" may ask
        # for the top page once more, if it lands after the first load)
        assert set(client.calls) == {(PAGE_SIZE, None)} and len(client.calls) <= 2
        info = app.screen.query_one("#runs-info", Static)
        assert "100 runs shown · scroll down for older runs" in str(info.render())
        newest = client.all_runs[0]["run_id"]
        assert str(table.get_row_at(0)[2]) == newest
        # the steps/attempts columns are filled for the rows on screen only
        await until(pilot, lambda: str(table.get_row_at(0)[5]) == "0", what="the counts")
        assert 0 < len(client.details) <= pilot.app.size.height

        asked = len(client.calls)
        await pilot.press("end")  # the cursor near the last loaded row fetches the next page
        await until(pilot, lambda: table.row_count == 2 * PAGE_SIZE, what="the second page")
        # (the stream's late "connected" may refresh the top page meanwhile: cursor None)
        paged = [call for call in client.calls[asked:] if call[1] is not None]
        assert paged == [(PAGE_SIZE, client.all_runs[PAGE_SIZE - 1]["run_id"])]
        assert str(table.get_row_at(PAGE_SIZE)[2]) == client.all_runs[PAGE_SIZE]["run_id"]
        await pilot.press("end")
        await until(pilot, lambda: table.row_count == 3 * PAGE_SIZE, what="the third page")
        await pilot.press("home")
        await pilot.pause(0.1)

        calls: Counter[str] = Counter()
        spy(table, calls)
        pages_before, details_before = len(client.calls), len(client.details)
        client.all_runs[0]["status"] = "failed"
        client.push("run", {"run_id": newest, "status": "failed"})
        await until(pilot, lambda: "failed" in str(table.get_row_at(0)[0]), what="the change")
        await until(pilot, lambda: len(client.calls) > pages_before, what="the top refresh")
        await pilot.pause(0.1)
        assert client.calls[pages_before:] == [(PAGE_SIZE, None)]  # the top page, once
        assert len(client.details) - details_before <= 2  # the changed run's counts
        assert calls["add_row"] == calls["remove_row"] == calls["clear"] == calls["sort"] == 0
        assert calls["update_cell"] <= 7  # one row's cells at most, not 300 rows
        assert table.row_count == 3 * PAGE_SIZE

        calls.clear()
        fresh = run("01JHQ5Z8R6NZZZZZZZZZZZZZZZ", "fn-new", "running", 31, None)
        client.all_runs.insert(0, fresh)
        client.index = {r["run_id"]: i for i, r in enumerate(client.all_runs)}
        client.push("run", {"run_id": fresh["run_id"], "status": "running"})
        await until(pilot, lambda: table.row_count == 3 * PAGE_SIZE + 1, what="the new run")
        assert str(table.get_row_at(0)[2]) == fresh["run_id"]  # newest first
        assert calls["add_row"] == 1 and calls["clear"] == 0
