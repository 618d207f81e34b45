"""Clocks: real for the dev server, virtual for ``durable.testing`` and ``durable replay``."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in epoch seconds, and a way to wait for it."""

    def now(self) -> float:
        """The current time, epoch seconds."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once ``now() >= when`` (or earlier: callers re-check)."""
        ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))


class VirtualClock:
    """A clock that moves only when told to: days of sleeps take no time."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"a virtual clock only moves forward, got {seconds} seconds")
        self._now += seconds

    def set(self, when: float) -> None:
        """Move time forward to ``when`` (ignored if it lies in the past)."""
        self._now = max(self._now, when)

    async def sleep_until(self, when: float) -> None:
        self.set(when)
        await asyncio.sleep(0)
