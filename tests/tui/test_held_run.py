"""The inspector's run view says why a queued run is held back."""

from __future__ import annotations

from pathlib import Path

from durable.tui.app import DurableApp
from tests.support.held import REASON, hold_a_run
from tests.support.live import LiveServer
from tests.support.tui_pilot import screen_text, until


async def test_the_run_view_says_why_a_run_is_held_back(
    live_server: LiveServer, tmp_path: Path
) -> None:
    run_id = hold_a_run(live_server)
    app = DurableApp(live_server.url, fixtures_dir=tmp_path / "fixtures")
    async with app.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: app.connection.state == "connected", what="the stream")
        await pilot.press("enter")
        await until(pilot, lambda: run_id in screen_text(app), what="the run view")
        await until(pilot, lambda: f"⏸ held back: {REASON}" in screen_text(app), what="reason")
