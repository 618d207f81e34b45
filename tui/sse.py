"""Server-sent events parsing, free of I/O: feed lines, get ``(kind, data)`` messages out.

The dev server's ``GET /api/stream`` sends blocks like::

    event: run
    data: {"run_id": "...", "function_id": "...", "status": "running"}

separated by a blank line; lines starting with ``:`` are comments (heartbeats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: One stream message: its kind (``run``, ``step``, ``event``, ...) and its JSON object.
StreamMessage = tuple[str, dict[str, Any]]


@dataclass(slots=True)
class SSEParser:
    """Accumulates ``event:`` and ``data:`` lines; a blank line completes a message."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> StreamMessage | None:
        """Consume one line (without its newline); return a message when one completes."""
        line = line.rstrip("\r")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> StreamMessage | None:
        kind, data = self._event or "message", "\n".join(self._data)
        self._event, self._data = "", []
        if not data:
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        if not isinstance(payload, dict):
            payload = {"value": payload}
        return kind, payload
