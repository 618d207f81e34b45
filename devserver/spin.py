"""Keep an event loop polling for a moment after a request, instead of sleeping at once.

A process sleeping in ``epoll_wait`` is woken by the kernel when its socket receives data;
on a virtual machine that wake-up (an idle virtual CPU to start again) costs tens of
microseconds, twice per checkpoint round trip (the server's answer, the worker's next
checkpoint). While the other side answers, this side polls instead: the answer is read as
soon as it arrives, without a wake-up. A loop polls for at most :data:`WINDOW` seconds after
its last request, until an answer is read (:meth:`Spinner.arrived`), only with a CPU to spare
(two or more), and not while ``may_spin`` says no (the worker: a sync step body on a thread
needs the interpreter lock the loop would hold).

Polling pays only when the answer comes within the window (no-op or fast steps). When the
other side is slower (steps that take milliseconds, a handler working between steps),
windows end with no answer read: after :data:`MISSES` such windows in a row, only about one
request in :data:`PROBE_EVERY` opens a window, until one catches an answer again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

#: How long a loop keeps polling after it sent a message that expects an answer.
WINDOW = 0.0003

#: Windows in a row that caught no answer before polling pauses.
MISSES = 3

#: While paused, one request in this many opens a window (to notice fast answers again).
PROBE_EVERY = 16

#: ``DURABLE_SPIN=0``: sleep at once (as a one-CPU machine does)
SPIN_ENV = "DURABLE_SPIN"


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class Spinner:
    """Polls the running loop for up to ``window`` seconds after an :meth:`expect`, until
    :meth:`arrived` (paused while windows catch nothing: see the module)."""

    def __init__(self, window: float = WINDOW, may_spin: Callable[[], bool] = lambda: True) -> None:
        enabled = os.environ.get(SPIN_ENV, "1") != "0" and cpus() >= 2
        self.window = window if enabled else 0.0
        self.may_spin = may_spin
        self._until = 0.0
        self._polled_at = 0.0  #: the last poll of the current window
        self._spinning = False
        self._loop: asyncio.AbstractEventLoop | None = None  #: the loop of the current chain
        self._caught = False  #: an answer was read during the current window
        self.misses = 0  #: windows in a row that were polled to their end and caught nothing
        self._skipped = 0  #: requests passed over while paused

    def expect(self) -> None:
        """A request went out and its answer is due soon: poll instead of sleeping."""
        if not self.window or not self.may_spin():
            return
        loop = asyncio.get_running_loop()
        if self._spinning and self._loop is not loop:  # (a chain left on a closed loop)
            self._spinning = False
        if self._spinning:
            if self._caught:  # an answer came this turn: this request opens a new window
                self._caught, self.misses = False, 0
            self._until = time.monotonic() + self.window
            return
        if self.misses >= MISSES:
            self._skipped += 1
            if self._skipped < PROBE_EVERY:
                return
        self._skipped = 0
        self._polled_at = time.monotonic()
        self._until = self._polled_at + self.window
        self._spinning, self._caught, self._loop = True, False, loop
        loop.call_soon(self._spin)

    def arrived(self) -> None:
        """An answer was read: the current window, if any, caught it."""
        self._caught = True

    def _spin(self) -> None:
        now = time.monotonic()
        if self._caught:
            self._spinning, self.misses = False, 0
        elif not self.may_spin():  # cut short (a sync body started): not a miss
            self._spinning = False
        elif now < self._until:
            self._polled_at = now
            asyncio.get_running_loop().call_soon(self._spin)  # the loop polls, not sleeps
        else:
            self._spinning = False
            if now - self._polled_at < self.window:  # (a loop blocked past the window
                self.misses += 1  # did not poll it: not a miss)
