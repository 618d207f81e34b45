"""A filter change shows the new filter's runs even when live changes arrive meanwhile."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from textual.widgets import DataTable

from durable.tui.api import RunPage
from durable.tui.app import DurableApp
from durable.tui.messages import StreamChange
from durable.tui.screens.runs import RunsScreen
from tests.support.tui_pilot import until
from tests.support.tui_stub import NOW, RUNS, StubClient


class SlowFilterClient(StubClient):
    """``runs(status=...)`` waits for :attr:`gate` the first time (a slow server)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = 0  #: filtered calls waiting at the gate

    async def runs(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        if status is not None and not self.gate.is_set() and not self.held:
            self.held += 1
            await self.gate.wait()
        return await super().runs(status=status, function=function, limit=limit, cursor=cursor)


async def test_a_stream_change_during_a_filter_reload_keeps_the_new_filter() -> None:
    client = SlowFilterClient()
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == len(RUNS), what="every run")
        screen = app.screen
        assert isinstance(screen, RunsScreen)

        await pilot.press("slash", *"status:failed", "enter")
        await until(pilot, lambda: client.held == 1, what="the reload in flight")
        # a run changed while the filtered page is on its way; the refresh timer fires
        app.broadcast(StreamChange("run", {"run_id": RUNS[0]["run_id"], "status": "running"}))
        await until(pilot, lambda: screen.dirty, what="the change")
        screen.flush_changes()
        client.gate.set()

        await until(pilot, lambda: table.row_count == 1, timeout=2, what="the failed run only")
        assert str(table.get_row_at(0)[0]) == "✖ failed"
        assert set(screen.runs) == {RUNS[1]["run_id"]}
        assert screen.next_cursor is None


class SlowDetailsClient(StubClient):
    """``run(run_id)`` (the per-row counts) waits for :attr:`gate` while it is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = 0

    async def run(self, run_id: str) -> dict[str, Any]:
        if not self.gate.is_set():
            self.held += 1
            await self.gate.wait()
        return await super().run(run_id)


async def test_counts_fetched_under_the_old_filter_do_not_bring_its_runs_back() -> None:
    client = SlowDetailsClient()
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        table = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        await until(pilot, lambda: table.row_count == len(RUNS), what="every run")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await until(pilot, lambda: client.held > 0, what="the counts on their way")

        await pilot.press("slash", *"status:failed", "enter")
        await until(pilot, lambda: table.row_count == 1, what="the failed run only")
        client.gate.set()  # the old filter's details arrive now
        await pilot.pause(0.3)
        assert table.row_count == 1 and set(screen.runs) == {RUNS[1]["run_id"]}
