"""A second, read-only connection to a server's SQLite file, for reads off the event loop.

In WAL mode readers never block the writer nor wait for it: the server's listings
(``GET /api/runs``, ``/api/events``) read through this connection in a thread while the event
loop keeps checkpointing. It sees what the writer has committed.
"""

from __future__ import annotations

from pathlib import Path

from .sqlite import SQLiteStore
from .sqlite_connection import BUSY_TIMEOUT_MS, connect

__all__ = ["SQLiteReader"]


class SQLiteReader(SQLiteStore):
    """The read methods of :class:`SQLiteStore` on a connection of their own (``query_only``:
    any write raises). Opens no server lock and migrates nothing: the server's store did."""

    def __init__(self, path: str | Path) -> None:  # no super().__init__: it opens the writer
        self.path = str(path)
        self._lock = None
        self._leases = {}
        self._db = connect(self.path)
        try:
            self._db.execute("PRAGMA query_only=ON")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection (there is nothing to commit)."""
        self._db.close()
