"""Messages the app sends to its screens (widgets talk through these, never by reaching in)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class StreamChange(Message):
    """A change from the server's stream: ``run``, ``step``, ``event``, or ``connected``.

    ``connected`` follows every (re)connection: screens reload, since changes made while the
    stream was down were not seen.
    """

    def __init__(self, kind: str, data: dict[str, Any]) -> None:
        self.kind = kind
        self.data = data
        super().__init__()


class FunctionsReloaded(Message):
    """The server loaded user code again (``/health`` counted a reload or new errors)."""

    def __init__(self, reloads: int, errors: int) -> None:
        self.reloads = reloads
        self.errors = errors
        super().__init__()
