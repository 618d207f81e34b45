"""``async with store.transaction()``: the unit of atomicity every store offers.

A transaction holds the store's writer lock (an :class:`asyncio.Lock`, one transaction at a
time per store, whatever its body awaits), commits what was written before it (so that a
rollback discards only its own writes), begins (SQLite: ``BEGIN IMMEDIATE``, taking the
file's write lock at once instead of at the first write), and at its end commits, or rolls
back if the body raised. A commit the database refuses raises
:class:`~durable._errors.StoreError` out of the ``async with``, with the transaction rolled
back.

The operations themselves stay plain calls: on one event loop they cannot interleave unless a
body awaits, and the lock keeps two bodies that await from writing into one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class Transaction:
    """What ``async with store.transaction() as tx`` gives: ``tx.wrote`` says, once the block
    has ended, whether its commit wrote anything."""

    wrote: bool = False


class Transactions:
    """Mixin: :meth:`transaction` over a store's ``commit`` / ``rollback``.

    A backend may override :meth:`_begin` (start the transaction) and :meth:`_commit_async`
    (commit without blocking the event loop, where the database allows it).
    """

    _writer: asyncio.Lock | None = None
    _writer_loop: asyncio.AbstractEventLoop | None = None

    def commit(self) -> bool:  # pragma: no cover - every store defines it
        raise NotImplementedError

    def rollback(self) -> None:  # pragma: no cover - every store defines it
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One transaction: the writes of the block commit together when it ends, or roll
        back together if it raises (a refused commit raises
        :class:`~durable._errors.StoreError`). Transactions of one store never overlap: a
        second waits until the first has ended, even when the first awaits."""
        async with self._writer_lock():
            try:
                self.commit()
                self._begin()
            except BaseException:  # (what came before was refused: it is discarded too)
                with contextlib.suppress(Exception):
                    self.rollback()
                raise
            handle = Transaction()
            try:
                yield handle
            except BaseException:
                with contextlib.suppress(Exception):
                    self.rollback()
                raise
            handle.wrote = await self._commit_async()  # (rolls back itself if refused)

    def _writer_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer_loop is not loop:
            # (a store outlives an event loop in tests and in ``durable replay``: a lock is
            # bound to the loop it is first used on)
            self._writer, self._writer_loop = asyncio.Lock(), loop
        return self._writer

    def _begin(self) -> None:
        """Start the transaction (nothing: the first write starts one)."""

    async def _commit_async(self) -> bool:
        """Commit the transaction; True if it wrote anything. If the commit is refused, the
        transaction is rolled back here, before the error is raised (what others write
        after the body is theirs: a backend that commits off the loop keeps it)."""
        try:
            return self.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.rollback()
            raise
