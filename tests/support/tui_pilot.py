"""Helpers of the inspector tests: waiting on the app, reading the screen as text."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (for asserts and debugging)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, color_system=None
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def until(
    pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 5.0, what: str = ""
) -> Any:
    """Let the app run until ``predicate()`` is truthy (checked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # a widget not mounted yet, a row not there yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what or predicate}\n{screen_text(pilot.app)}"
            )
        await pilot.pause(0.02)
