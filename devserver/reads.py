"""Store reads of the API's listings, off the server's event loop.

``GET /api/runs`` and ``/api/events`` can read many rows; on the event loop they would hold up
every checkpoint and ``/health`` meanwhile. :class:`OffLoopReads` runs them in one thread on a
read connection of its own, after committing what the server wrote so far, so a listing sees
it: with a SQLite file, a second connection (WAL: readers and the writer do not wait for each
other); with PostgreSQL, a read-only autocommit connection (:mod:`durable._stores.
postgres_reader`), which also serves the live stream's look at other servers' run changes
(:meth:`OffLoopReads.run_changes`). Other stores (memory, a ``:memory:`` file) are read inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from durable._errors import StoreError
from durable._stores.base import Store
from durable._stores.sqlite import SQLiteStore
from durable._stores.sqlite_reader import SQLiteReader

if TYPE_CHECKING:
    from durable._stores.postgres import PostgresStore

__all__ = ["OffLoopReads"]

T = TypeVar("T")


class OffLoopReads:
    """Runs read-only store calls in a thread when the store allows it."""

    def __init__(
        self, store: Store, flush: Callable[[], None] = lambda: None, *, server_id: str = ""
    ) -> None:
        self.store = store
        self.flush = flush  #: commits the server's pending writes
        self.server_id = server_id  #: this server: its own run changes are not looked for
        self._reader: Store | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._since: str | None = None  #: where the next look at other servers' changes starts
        if isinstance(store, SQLiteStore) and store.path != ":memory:":
            self._reader = SQLiteReader(store.path)
        elif (shared := _postgres(store)) is not None:
            from durable._stores.postgres_reader import PostgresReader

            self._reader = PostgresReader(shared.url)  # connects in the thread, on first use
        if self._reader is not None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="durable-reads")

    @property
    def follows_other_servers(self) -> bool:
        """Whether other servers share the store, so the stream looks for their changes."""
        return _postgres(self.store) is not None and self._reader is not None

    async def __call__(self, read: Callable[[Store], T]) -> T:
        """``read(store)``: in the reading thread, or inline."""
        if self._reader is None or self._thread is None:
            return read(self.store)
        with contextlib.suppress(StoreError):  # a locked database: read what is committed
            self.flush()
        return await asyncio.get_running_loop().run_in_executor(self._thread, read, self._reader)

    async def run_changes(self, restart: bool = False) -> list[dict[str, Any]]:
        """The runs other servers changed since the last call, as ``run`` changes (in the
        reading thread). ``restart``: forget the last look; this one only notes where the
        next starts (a stream that had no client is following again). Without other
        servers (not PostgreSQL): none."""
        if not self.follows_other_servers or self._thread is None:
            return []
        from durable._stores.postgres_reader import PostgresReader

        reader = self._reader
        assert isinstance(reader, PostgresReader)
        since = None if restart else self._since
        found = await asyncio.get_running_loop().run_in_executor(
            self._thread, reader.run_changes, since, self.server_id
        )
        self._since = found.snapshot
        return found.changes

    def close(self) -> None:
        """Stop the thread and close the read connection."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()


def _postgres(store: Store) -> PostgresStore | None:
    """``store`` if it is a PostgreSQL store. Its module is not imported for the question:
    a SQLite server never loads it (~10 ms of a restart)."""
    module = sys.modules.get("durable._stores.postgres")
    return store if module is not None and isinstance(store, module.PostgresStore) else None
