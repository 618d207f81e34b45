"""Headless mode: one readable line per run, step and event change (for CI logs).

Lines are formatted as plain strings (ANSI colours on a terminal) and written in batches:
at thousands of steps per second, a rich render per line would cost more than the steps.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from durable.presentation import STATUS_STYLE, ansi_sgr, format_moment

from ..lines import BatchedLines

if TYPE_CHECKING:
    from rich.console import Console

#: status -> ANSI SGR codes, from the palette every face shares.
_COLOURS = {status: ansi_sgr(style) for status, style in STATUS_STYLE.items()}


def _now() -> str:
    """The local time of a log line, to the millisecond: ``14:03:07.123``."""
    return format_moment(datetime.now().astimezone(), ms=True)


class _Stamps:
    """``_now()`` for many lines a second: the local ``14:03:07`` is formatted once per
    second (a timezone conversion and a ``strftime``), the milliseconds per line."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        micros = round(time.time() * 1_000_000)  # as datetime.fromtimestamp rounds
        second, within = divmod(micros, 1_000_000)
        if second != self._second:
            self._second = second
            self._text = format_moment(datetime.fromtimestamp(second).astimezone())
        return f"{self._text}.{within // 1000:03d}"


class HeadlessLog:
    """An orchestrator listener printing changes as they happen."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.colour = self.stream.isatty() if colour is None else colour
        self._console: Console | None = None
        self._lines = BatchedLines(self.stream)
        self._now = _Stamps()
        #: status -> that status painted (ANSI colours on a terminal)
        self._statuses: dict[str, str] = {}

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def _stamp(self) -> str:
        return self._paint(self._now(), "2") if self.colour else self._now()

    def _status(self, status: str) -> str:
        painted = self._statuses.get(status)
        if painted is None:
            painted = self._statuses[status] = self._paint(status, _COLOURS.get(status, ""))
        return painted

    def _emit(self, line: str) -> None:
        self._lines.add(f"{self._stamp()} {line}\n")

    def flush(self) -> None:
        """Write the lines gathered so far."""
        self._lines.flush()

    def __call__(self, kind: str, change: dict[str, Any]) -> None:
        if kind == "run":
            status = change["status"]
            extra = change.get("error") or change.get("reason")
            tail = f" {self._paint(str(extra), '2')}" if extra else ""
            self._emit(
                f"run   {change['run_id']} {change['function_id']} {self._status(status)}{tail}"
            )
        elif kind == "step":
            status = change["status"]
            attempts = change.get("attempts") or 0
            tries = f" (attempt {attempts})" if attempts > 1 else ""
            error = f" {self._paint(str(change['error']), '2')}" if change.get("error") else ""
            self._emit(
                f"step  {change['run_id']} {change['function_id']} {change['key']} "
                f"{self._status(status)}{tries}{error}"
            )
        elif kind == "event":
            runs = len(change.get("run_ids") or [])
            skipped = f" ({change['skipped']})" if change.get("skipped") else ""
            self._emit(f"event {change['name']} {change['id']} -> {runs} run(s){skipped}")

    @property
    def console(self) -> Console:
        """The rich console of :meth:`info`, made at its first line (rich costs ~25 ms to
        import: not on a restart's way to its first step)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, soft_wrap=True)
        return self._console

    def info(self, text: str) -> None:
        """A server message (start, reload, errors), with rich markup."""
        self.flush()
        self.console.print(f"[dim]{_now()}[/dim] {text}")
