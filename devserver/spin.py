"""Keep an event loop polling for a moment after a request, instead of sleeping at once.

A process sleeping in ``epoll_wait`` is woken by the kernel when its socket receives data;
on a virtual machine that wake-up (an idle virtual CPU to start again) costs tens of
microseconds, twice per checkpoint round trip (the server's answer, the worker's next
checkpoint). While the other side answers, this side polls instead: the answer is read as
soon as it arrives, without a wake-up. A loop spins only for :data:`WINDOW` seconds after
its last message, only with a CPU to spare (two or more), and not while ``may_spin`` says
no (the worker: a sync step body on a thread needs the interpreter lock the loop would hold).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

#: How long a loop keeps polling after it sent a message that expects an answer.
WINDOW = 0.0003

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

    def expect(self) -> None:
        """An answer is due soon: poll instead of sleeping until ``window`` has passed."""
        if not self.window or not self.may_spin():
            return
        self._until = time.monotonic() + self.window
        if not self._spinning:
            self._spinning = True
            asyncio.get_running_loop().call_soon(self._spin)

    def _spin(self) -> None:
        if time.monotonic() < self._until and self.may_spin():
            asyncio.get_running_loop().call_soon(self._spin)  # the loop polls, not sleeps
        else:
            self._spinning = False
