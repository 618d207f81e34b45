"""Messages to one socket, written together once per pass of the event loop.

With many runs in flight, a group commit answers dozens of checkpoints in one pass of the
server's loop, and the worker's passes send their checkpoints in one pass of its loop: each
message written on its own was one ``send`` system call (and a wake-up of the other process)
per message. An :class:`Outbox` gathers the messages of one loop pass and writes them as one
block at its end, in order (several checkpoints per frame).

Two exceptions keep the other side busy instead of waiting for a long loop pass to end (a
round starting a hundred passes reads each one's history first): the first message after a
quiet spell goes at once, and a block whose oldest message has waited :data:`LINGER` seconds
is written with the next message queued (there is no timer: a block nobody adds to waits for
the end of its loop pass).
"""

from __future__ import annotations

import asyncio
import math
import time

#: How long a queued block may wait before the next message queued writes it at once.
LINGER = 0.001


class Outbox:
    """Encoded messages for ``writer``, written in one block by :meth:`flush`: at the end of
    the current event-loop pass, or at once when the caller must not wait (:meth:`flush`)."""

    def __init__(self, writer: asyncio.StreamWriter, linger: float = LINGER) -> None:
        self.writer = writer
        self.linger = linger
        self._pending: list[bytes] = []
        self._since = 0.0  #: when the oldest queued message was queued
        self._flushed_at = -math.inf  #: when the last block was written
        #: one future per :meth:`put_and_wait` caller, done by the next :meth:`flush` (one
        #: each: a waiter that is cancelled cancels its own future, not the others')
        self._written: list[asyncio.Future[None]] = []

    def put(self, data: bytes, *, now: bool = False) -> None:
        """Queue ``data`` (whole lines) behind what is queued already; ``now``: write it at
        once, with what is queued (nothing else would join it, or it must not wait)."""
        moment = time.monotonic()
        if not self._pending:
            if now or moment - self._flushed_at > self.linger:  # (the other side is idle)
                self._pending.append(data)
                self.flush()
                return
            asyncio.get_running_loop().call_soon(self.flush)
            self._since = moment
        self._pending.append(data)
        if now or moment - self._since > self.linger:
            self.flush()

    def put_and_wait(self, data: bytes) -> asyncio.Future[None]:
        """Queue ``data`` like :meth:`put`; the future returned is done once it is handed to
        the socket (with the rest of this loop pass's block), or once nothing more can be
        written (the socket is closing)."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written.append(written)
        self.put(data)
        return written

    def flush(self) -> None:
        """Write everything queued now (nothing if the socket is closing)."""
        written, self._written = self._written, []
        try:
            if self._pending:
                data = b"".join(self._pending)
                self._pending = []
                self._flushed_at = time.monotonic()
                if not self.writer.is_closing():
                    self.writer.write(data)
        finally:  # (a write that raised must not leave its waiters waiting forever)
            for future in written:
                if not future.done():
                    future.set_result(None)
