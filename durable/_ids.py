"""Sortable unique ids (ULID layout: 48-bit millisecond time + 80 random bits, Crockford base32)."""

from __future__ import annotations

import hashlib
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(ms: int | None = None) -> str:
    """A new 26-character id that sorts by creation time."""
    stamp = int(time.time() * 1000) if ms is None else ms
    return _encode(stamp & ((1 << 48) - 1), 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


def derived_id(*parts: str) -> str:
    """A deterministic id derived from ``parts`` (same parts, same id), e.g. for sent events."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return _encode(int.from_bytes(digest, "big") >> 2, 26)
