"""The server <-> worker socket's framing: one JSON object per line, with a size limit.

A module of its own (stdlib only) so that the server can spawn a worker before it imports the
engine: see :mod:`durable.devserver.dev.launch`.
"""

from __future__ import annotations

import json
from typing import Any

#: one encoder for every message (``json.dumps`` with options builds a new one per call)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: Largest message accepted on the socket: a pass's whole history can be 32 MB of state.
MESSAGE_LIMIT = 64 * 1024 * 1024


class MessageTooLarge(ValueError):
    """A message would be a line longer than the other side reads: it is not sent."""

    def __init__(self, size: int, limit: int = MESSAGE_LIMIT) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"the message is {size:,} bytes, over the worker socket's limit of "
            f"{limit // (1024 * 1024)} MB"
        )


def encode(message: dict[str, Any], limit: int = MESSAGE_LIMIT) -> bytes:
    """One JSON line, or :class:`MessageTooLarge` if it is over ``limit`` bytes.

    A lone surrogate in a string (which UTF-8 cannot hold) goes out as its JSON escape
    ``\\udcff``, exactly what ``backslashreplace`` writes there: encoding never fails on text,
    and the other side reads the same string back.
    """
    text = _encode(message)
    data = text.encode("utf-8", "backslashreplace") + b"\n"
    if len(data) > limit:
        raise MessageTooLarge(len(data), limit)
    return data
