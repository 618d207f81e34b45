"""The server <-> worker socket's framing: one JSON object per line, with a size limit.

A module of its own (no engine import) so that the server can spawn a worker before it
imports the engine: see :mod:`durable.devserver.dev.launch`.

Lines are written and read by orjson (about 10x faster than the standard library on these
small messages, which the worker and the server exchange three of per step). A message
orjson refuses (an integer beyond 64 bits, a lone surrogate, a key that is not a string) goes
out through the standard library instead, marked by a leading space (JSON allows it), and is
read back by it: orjson would read such an integer as a float. Frames carry strict JSON only
(events are validated, step results travel as text), so orjson's NaN -> null never applies.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: the standard library's encoder, for what orjson refuses (one encoder, not one per call)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: a dataclass or a datetime in a message is a bug: refused, as the standard library does
#: (orjson would still write an Enum or a UUID, which the standard library refuses: messages
#: are built from wire dicts of plain values, so neither reaches it)
_ORJSON = (
    orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)

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
    try:
        data = orjson.dumps(message, option=_ORJSON)
    except TypeError:  # (orjson.JSONEncodeError is one) read back by the standard library
        data = b" " + _encode(message).encode("utf-8", "backslashreplace") + b"\n"
    if len(data) > limit:
        raise MessageTooLarge(len(data), limit)
    return data


def decode(line: bytes) -> Any:
    """The message of one line written by :func:`encode`; ValueError if it is not JSON."""
    if line[:1] == b"{":
        return orjson.loads(line)  # (orjson.JSONDecodeError is a ValueError)
    return json.loads(line)
