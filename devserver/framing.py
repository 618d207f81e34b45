"""The server <-> worker socket's framing: one JSON object per line, with a size limit.

A module of its own (stdlib only) so that the server can spawn a worker before it imports the
engine: see :mod:`durable.devserver.launch`.
"""

from __future__ import annotations

import json
from typing import Any

#: Largest message accepted on the socket: a pass's whole history can be 32 MB of state.
MESSAGE_LIMIT = 64 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    """One JSON line."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
