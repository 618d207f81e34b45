"""Log lines written in batches: at most one write (and flush) of a stream per 50 ms.

Both server logs (``durable dev``'s headless log, ``durable start``'s JSON log) print a line
per run and step change; a write and flush per line cost more than the change itself.
"""

from __future__ import annotations

import asyncio
from typing import TextIO


class BatchedLines:
    """Lines gathered and written to ``stream`` within 50 ms (at once outside an event loop)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending: list[str] = []
        self._flush_scheduled = False

    def add(self, line: str) -> None:
        """Queue one line (with its newline)."""
        self._pending.append(line)
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_later(0.05, self.flush)

    def flush(self) -> None:
        """Write the lines gathered so far."""
        self._flush_scheduled = False
        if self._pending:
            lines, self._pending = self._pending, []
            self.stream.write("".join(lines))
            self.stream.flush()
