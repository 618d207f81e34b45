"""Cross-server wake-ups over PostgreSQL: a coalesced ``NOTIFY``, a ``LISTEN`` thread.

A commit that made work due (an event ingested, a run made ready or released) asks the
:class:`Announcer` to tell the other servers; it sends at most one ``NOTIFY durable_ready``
per :data:`COALESCE_SECONDS` however many commits asked (a NOTIFY per checkpoint would halve
the throughput). Each server's :class:`Listener` waits on its own connection and wakes its
scheduler; the scheduler also polls (at most a second apart) in case a wake-up is lost.
Both run on threads with connections of their own, off the event loop and its transaction.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from .._errors import StoreError
from .postgres_connection import connect

logger = logging.getLogger("durable.postgres")

#: The channel servers announce due work on.
CHANNEL = "durable_ready"
#: At most one NOTIFY per this many seconds from one server.
COALESCE_SECONDS = 0.01
#: How long a failed connection waits before the next attempt.
RECONNECT_SECONDS = 1.0


class Announcer:
    """Sends coalesced ``NOTIFY durable_ready`` (payload: the sender's id) from a thread."""

    def __init__(self, url: str, sender: Callable[[], str]) -> None:
        self.url = url
        self._sender = sender
        self._wanted = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0  #: NOTIFYs sent so far (tests and metrics)

    def announce(self) -> None:
        """Work became due: tell the other servers soon (coalesced with other requests)."""
        if self._closed.is_set():
            return
        self._wanted.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name="durable-notify", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        conn: Any = None
        while not self._closed.is_set():
            self._wanted.wait()
            if self._closed.is_set():
                break
            self._wanted.clear()
            try:
                if conn is None or conn.closed:
                    conn = connect(self.url, autocommit=True)
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self._sender()))
                self.sent += 1
            except Exception as exc:  # a lost NOTIFY is covered by the pollers
                logger.debug("NOTIFY failed: %s", exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                self._closed.wait(RECONNECT_SECONDS)
                self._wanted.set()  # try again: the work is still due
                continue
            self._closed.wait(COALESCE_SECONDS)  # commits meanwhile share the next NOTIFY
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Stop the thread (what was not sent yet is dropped: the pollers cover it)."""
        self._closed.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class Listener:
    """``LISTEN durable_ready`` on a connection of its own; calls ``wake`` (from its thread)
    on each other server's announcement."""

    def __init__(self, url: str, own_id: Callable[[], str], wake: Callable[[], None]) -> None:
        self.url = url
        self._own_id = own_id
        self._wake = wake
        self._closed = threading.Event()
        self.heard = 0  #: announcements heard from other servers
        self._thread = threading.Thread(target=self._loop, name="durable-listen", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            conn: Any = None
            try:
                conn = connect(self.url, autocommit=True)
                conn.execute(f"LISTEN {CHANNEL}")
                self._wake()  # announcements may have been missed while not listening
                while not self._closed.is_set():
                    for note in conn.notifies(timeout=0.5):
                        if note.payload != self._own_id():
                            self.heard += 1
                            self._wake()
            except (StoreError, Exception) as exc:
                if not self._closed.is_set():
                    logger.debug("LISTEN failed: %s", exc)
                    self._closed.wait(RECONNECT_SECONDS)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()

    def close(self) -> None:
        """Stop listening (returns within about half a second)."""
        self._closed.set()
        self._thread.join(timeout=2)
