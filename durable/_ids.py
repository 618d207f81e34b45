"""Sortable unique ids (ULID layout: 48-bit millisecond time + 80 random bits, Crockford base32)."""

from __future__ import annotations

import hashlib
import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


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
    return _encode(stamp, 10) + _encode(random, 16)


def derived_id(*parts: str) -> str:
    """A deterministic id derived from ``parts`` (same parts, same id), e.g. for sent events."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return _encode(int.from_bytes(digest, "big") >> 2, 26)
