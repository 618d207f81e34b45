"""The connection status bar at the bottom of every screen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..api import ConnectionState


def describe_connection(state: ConnectionState) -> Text:
    """``● connected · URL``, ``◌ connecting …`` or ``✖ disconnected … retrying in 2s``."""
    if state.state == "connected":
        tail = f" · {state.detail}" if state.detail else ""
        return Text.assemble(("● connected", "bold green"), f" · {state.url}{tail}")
    if state.state == "connecting":
        return Text.assemble(("◌ connecting", "bold yellow"), f" to {state.url} …")
    retry = f"retrying in {state.retry_in:g}s" if state.retry_in else "retrying"
    return Text.assemble(
        ("✖ disconnected", "bold red"), f" from {state.url} — {retry} · {state.detail}"
    )


class ConnectionBar(Static):
    """Shows the app's ``connection`` reactive; its CSS class follows the state."""

    def on_mount(self) -> None:
        """Follow the app's connection state."""
        self.watch(self.app, "connection", self.show_state, init=True)

    def show_state(self, state: ConnectionState) -> None:
        """Render ``state`` and set the ``-connected``/``-disconnected`` classes."""
        self.update(describe_connection(state))
        for name in ("connected", "connecting", "disconnected"):
            self.set_class(state.state == name, f"-{name}")
