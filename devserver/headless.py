"""Headless mode: one readable line per run, step and event change (for CI logs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

STATUS_STYLE = {
    "queued": "dim",
    "running": "cyan",
    "sleeping": "blue",
    "waiting": "magenta",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "errored": "red",
    "invoking": "magenta",
}


class HeadlessLog:
    """An orchestrator listener printing changes as they happen."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def _print(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        self.console.print(f"[dim]{stamp}[/dim] {text}")

    def __call__(self, kind: str, change: dict[str, Any]) -> None:
        if kind == "run":
            status = change["status"]
            style = STATUS_STYLE.get(status, "")
            extra = change.get("error") or change.get("reason")
            tail = f" [dim]{escape(str(extra))}[/dim]" if extra else ""
            self._print(
                f"run  {change['run_id']} {escape(change['function_id'])} "
                f"[{style}]{status}[/{style}]{tail}"
            )
        elif kind == "step":
            status = change["status"]
            style = STATUS_STYLE.get(status, "")
            attempts = change.get("attempts") or 0
            tries = f" (attempt {attempts})" if attempts > 1 else ""
            error = f" [dim]{escape(str(change['error']))}[/dim]" if change.get("error") else ""
            self._print(
                f"step {change['run_id']} {escape(change['function_id'])} "
                f"{escape(change['key'])} [{style}]{status}[/{style}]{tries}{error}"
            )
        elif kind == "event":
            runs = len(change.get("run_ids") or [])
            self._print(f"event {escape(change['name'])} {change['id']} -> {runs} run(s)")

    def info(self, text: str) -> None:
        """A server message (start, reload, errors)."""
        self._print(text)
