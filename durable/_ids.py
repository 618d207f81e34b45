"""Sortable unique ids (ULID layout: 48-bit millisecond time + 80 random bits, Crockford base32)."""

from __future__ import annotations

import hashlib
import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: every 10-bit value as its two characters: an id is 13 look-ups (a character at a time,
#: with ``divmod``, took three times as long: two ids per event ingested)
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]


def _encode(number: int, length: int) -> str:
    """The low ``5 * length`` bits of ``number`` in ``length`` characters (``length`` even)."""
    return "".join([_PAIRS[(number >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


_RANDOM_MAX = (1 << 80) - 1
_last = [-1, 0]  #: the millisecond and random part of the previous id of this process
_lock = threading.Lock()


def new_id(ms: int | None = None) -> str:
    """A new 26-character id that sorts by creation time.

    Ids made in the same millisecond by this process sort in the order they were made (the
    random part counts up, as in monotonic ULIDs), so "newest first" holds even when a virtual
    clock stands still.
    """
    stamp = (int(time.time() * 1000) if ms is None else ms) & ((1 << 48) - 1)
    with _lock:
        if stamp == _last[0] and _last[1] < _RANDOM_MAX:
            random = _last[1] + 1
        else:
            random = int.from_bytes(os.urandom(10), "big") >> 1  # room to count up
        _last[0], _last[1] = stamp, random
    return _encode(stamp << 80 | random, 26)


def derived_id(*parts: str) -> str:
    """A deterministic id derived from ``parts`` (same parts, same id), e.g. for sent events."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return _encode(int.from_bytes(digest, "big") >> 2, 26)
