"""A lost server shows in the status bar, never as a crash, and the app recovers by itself."""

from __future__ import annotations

import asyncio
from datetime import UTC
from urllib.parse import urlsplit

from textual.widgets import DataTable

from durable.tui.api import DurableClient
from durable.tui.app import DurableApp
from tests.support.live import LiveServer
from tests.support.tui_pilot import screen_text, until
from tests.support.tui_stub import StubClient
from tests.tui.proxy import Proxy


async def test_disconnected_then_recovered(live_server: LiveServer) -> None:
    address = urlsplit(live_server.url)
    proxy = Proxy(address.hostname or "127.0.0.1", address.port or 0)
    await proxy.start()
    app = DurableApp(proxy.url, tz=UTC, health_every=0.2)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            runs = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
            await until(pilot, lambda: app.connection.state == "connected")
            live_server.start("test/pipeline")
            await until(pilot, lambda: runs.row_count == 1, what="the first run")

            await proxy.stop()
            await until(pilot, lambda: app.connection.state == "disconnected", what="the outage")
            text = await until(
                pilot, lambda: "✖ disconnected" in screen_text(app) and screen_text(app)
            )
            assert "✖ disconnected from http://127.0.0.1:" in text and "retrying" in text
            assert runs.row_count == 1  # what was loaded stays on screen
            await pilot.press("2", "3", "1", "enter")  # keys work; calls fail quietly
            await pilot.press("escape")
            live_server.start("test/pipeline")  # happens while the inspector is cut off

            await proxy.start()
            await until(pilot, lambda: app.connection.state == "connected", what="recovery")
            await until(pilot, lambda: runs.row_count == 2, what="the run missed meanwhile")
            await until(pilot, lambda: "● connected" in screen_text(app))
    finally:
        await proxy.stop()


async def test_starting_without_a_server_shows_disconnected() -> None:
    proxy = Proxy("127.0.0.1", 9)  # nothing listens behind it once it is stopped
    await proxy.start()
    await proxy.stop()
    app = DurableApp(proxy.url, health_every=0.2)
    async with app.run_test(size=(100, 20)) as pilot:
        await until(pilot, lambda: app.connection.state == "disconnected")
        await pilot.press("2", "3", "s", "escape", "1")
        await until(pilot, lambda: "✖ disconnected" in screen_text(app))


class HungHealthClient(StubClient):
    """The stream came up, then the server froze: ``/health`` connects but never answers."""

    health = DurableClient.health


async def test_a_hung_server_shows_disconnected() -> None:
    answered = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answered.wait()  # accepted, read nothing, say nothing (like a SIGSTOPped server)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    client = HungHealthClient()
    client.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    app = DurableApp(client=client, health_every=0.2, health_timeout=0.3)
    try:
        async with app.run_test(size=(100, 20)) as pilot:
            await until(pilot, lambda: app.connection.state == "connected", what="the stream")
            await until(pilot, lambda: app.connection.state == "disconnected", 2, "the hung server")
            assert app.connection.detail == "timed out"
    finally:
        answered.set()
        server.close()
        await server.wait_closed()
