"""Store reads of the API's listings, off the server's event loop.

``GET /api/runs`` and ``/api/events`` can read many rows; on the event loop they would hold up
every checkpoint and ``/health`` meanwhile. With a SQLite file, :class:`OffLoopReads` runs them
in one thread on a read connection of its own (WAL: readers and the writer do not wait for each
other), after committing what the server wrote so far, so a listing sees it. Other stores
(memory, a ``:memory:`` file) are read inline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from durable._errors import StoreError
from durable._stores.base import Store
from durable._stores.sqlite import SQLiteStore
from durable._stores.sqlite_reader import SQLiteReader

__all__ = ["OffLoopReads"]

T = TypeVar("T")


class OffLoopReads:
    """Runs read-only store calls in a thread when the store allows it."""

    def __init__(self, store: Store, flush: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.flush = flush  #: commits the server's pending writes
        self._reader: SQLiteReader | None = None
        self._thread: ThreadPoolExecutor | None = None
        if isinstance(store, SQLiteStore) and store.path != ":memory:":
            self._reader = SQLiteReader(store.path)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="durable-reads")

    async def __call__(self, read: Callable[[Store], T]) -> T:
        """``read(store)``: in the reading thread, or inline."""
        if self._reader is None or self._thread is None:
            return read(self.store)
        with contextlib.suppress(StoreError):  # a locked database: read what is committed
            self.flush()
        return await asyncio.get_running_loop().run_in_executor(self._thread, read, self._reader)

    def close(self) -> None:
        """Stop the thread and close the read connection."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
