"""``durable start``'s log: one JSON object per line (``ts``, ``level``, ``msg``, ``fields``).

:class:`JsonLog` is a :class:`~.server.ServerLog` (run, step and event changes, server
messages); :class:`JsonLogHandler` puts the ``logging`` records of the engine (the scheduler,
the workers) in the same shape on the same stream. Lines are gathered and written in batches:
at thousands of steps per second, a write per line would cost more than the steps.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from rich.errors import MarkupError
from rich.text import Text

from .lines import BatchedLines

__all__ = ["JsonLog", "JsonLogHandler", "json_line", "plain"]


_second: list[Any] = [None, ""]  #: the last whole second formatted, and its text


def _ts(at: float) -> str:
    """``2026-11-30T23:01:02.345Z``: the second's text is formatted once per second."""
    whole = int(at)
    if _second[0] != whole:
        _second[0] = whole
        _second[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((at - whole) * 1000):03d}Z"


_encode = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def json_line(level: str, msg: str, fields: dict[str, Any] | None = None) -> str:
    """One log line: ``{"ts": ..., "level": ..., "msg": ..., "fields": {...}}`` and a newline."""
    record = {"ts": _ts(time.time()), "level": level, "msg": msg, "fields": fields or {}}
    return _encode(record) + "\n"


def plain(text: str) -> str:
    """``text`` without its rich markup (``[bold red]error[/bold red]`` -> ``error``)."""
    try:
        return Text.from_markup(text).plain
    except MarkupError:
        return text


class JsonLog:
    """An orchestrator listener and server log writing JSON lines to ``stream``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._lines = BatchedLines(self.stream)

    def emit(self, level: str, msg: str, fields: dict[str, Any] | None = None) -> None:
        """Queue one line (written within 50 ms, or at once outside an event loop)."""
        self._lines.add(json_line(level, msg, fields))

    def flush(self) -> None:
        """Write the lines gathered so far."""
        self._lines.flush()

    def __call__(self, kind: str, change: dict[str, Any]) -> None:
        level = "error" if change.get("status") == "failed" else "info"
        self.emit(level, kind, dict(change))

    def info(self, text: str) -> None:
        """A server message (rich markup removed); ``error ...`` lines are errors."""
        msg = plain(text)
        self.emit("error" if msg.startswith("error") else "info", msg)

    def worker_output(self, line: str) -> None:
        """A line a worker printed."""
        self.emit("info", "worker output", {"line": line})


class JsonLogHandler(logging.Handler):
    """A logging handler writing records as JSON lines through a :class:`JsonLog`."""

    def __init__(self, log: JsonLog) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info:
            fields["exception"] = logging.Formatter().formatException(record.exc_info)
        self.log.emit(record.levelname.lower(), record.getMessage(), fields)
        self.log.flush()
