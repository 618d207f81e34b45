"""A worker dies with its server. Runs in worker processes, standard library only.

When the server is killed (``kill -9``, the OOM killer), its worker must not go on running a
step while the restarted server retries that step in a new worker. Two guards:

- on Linux, the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the
  worker is killed the moment the server process is gone;
- everywhere, a watcher thread polling the worker's socket for the server's end closing
  (``POLLRDHUP``/``POLLHUP``): the worker exits at once, even while a step body runs in
  another thread or holds up the event loop.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import threading

#: ``prctl`` option number of ``PR_SET_PDEATHSIG`` (linux/prctl.h).
PR_SET_PDEATHSIG = 1

#: The worker's exit code when its server went away.
EXIT_SERVER_GONE = 75


def die_with_parent(parent_pid: int | None) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit at once if
    the parent ``parent_pid`` is already gone (it died before the request took effect)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the socket watcher still guards
            pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(EXIT_SERVER_GONE)


def exit_when_closed(fd: int) -> threading.Thread:
    """Start a daemon thread that ends this process when the peer of socket ``fd`` closes.

    It only polls for hang-up, never reads, so the event loop keeps the socket's data. A
    closed ``fd`` (this process shutting down by itself) ends the thread quietly.
    """
    hangup = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR
    poller = select.poll()
    poller.register(fd, hangup)

    def watch() -> None:
        while True:
            for _, events in poller.poll():
                if events & select.POLLNVAL:
                    return
                if events & hangup:
                    os._exit(EXIT_SERVER_GONE)

    thread = threading.Thread(target=watch, name="durable-lifeline", daemon=True)
    thread.start()
    return thread
