"""Keep an event loop polling for a moment after a request, instead of sleeping at once.

A process sleeping in ``epoll_wait`` is woken by the kernel when its socket receives data;
on a virtual machine that wake-up (an idle virtual CPU to start again) costs tens of
microseconds, twice per checkpoint round trip (the server's answer, the worker's next
checkpoint). While the other side answers, this side polls instead: the answer is read as
soon as it arrives, without a wake-up. A loop spins only for :data:`WINDOW` seconds after
its last message, only with a CPU to spare (two or more), and not while ``may_spin`` says
no (the worker: a sync step body on a thread needs the interpreter lock the loop would hold).

Polling pays only when the answer comes within the window (no-op or fast steps). When the
other side is slower (steps that take milliseconds), windows end with nothing read: after
:data:`MISSES` such windows in a row, only one ``expect`` in :data:`PROBE_EVERY` polls, until
one catches an answer again. Polling costs at most a sixteenth of a window per message then.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

#: How long a loop keeps polling after it sent a message that expects an answer.
WINDOW = 0.0003

#: Windows in a row that caught no message before polling pauses.
MISSES = 3

#: While paused, one ``expect`` in this many polls (to notice that answers come fast again).
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
    """Polls the running loop for ``window`` seconds after each :meth:`expect`."""

    def __init__(self, window: float = WINDOW, may_spin: Callable[[], bool] = lambda: True) -> None:
        enabled = os.environ.get(SPIN_ENV, "1") != "0" and cpus() >= 2
        self.window = window if enabled else 0.0
        self.may_spin = may_spin
        self._until = 0.0
        self._spinning = False
        self._caught = False  #: a message was read during the current window
        self.misses = 0  #: windows in a row that ended with nothing read
        self._skipped = 0  #: expects passed over while paused

    def expect(self) -> None:
        """An answer is due soon: poll instead of sleeping until ``window`` has passed, or
        until a message is read (:meth:`arrived`)."""
        if not self.window or not self.may_spin():
            return
        if self.misses >= MISSES and not self._spinning:
            self._skipped += 1
            if self._skipped < PROBE_EVERY:
                return
        self._skipped = 0
        self._until = time.monotonic() + self.window
        if not self._spinning:
            self._spinning, self._caught = True, False
            asyncio.get_running_loop().call_soon(self._spin)

    def arrived(self) -> None:
        """A message was read: the current window, if any, caught its answer."""
        self._caught = True

    def _spin(self) -> None:
        if not self._caught and time.monotonic() < self._until and self.may_spin():
            asyncio.get_running_loop().call_soon(self._spin)  # the loop polls, not sleeps
            return
        self._spinning = False
        self.misses = 0 if self._caught else self.misses + 1
