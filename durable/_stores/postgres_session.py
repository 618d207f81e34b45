"""The PostgreSQL store's connections: the implicit transaction, and a side connection.

:class:`Session` runs the store's statements in one transaction that lasts until
:meth:`Session.commit` (as SQLite's does), turns database faults into
:class:`~durable._errors.StoreError`, never commits the rest of a transaction whose
connection dropped, and runs heartbeats and reaping on a second connection, each in a short
transaction of its own (the orchestration's open transaction is not theirs to commit).

:meth:`Session.commit_async` sends a transaction's queued rows and its ``COMMIT`` from a
thread, so the event loop goes on meanwhile (decoding the next checkpoints) instead of waiting
for the round trips; the connection has one user at a time (``_wire``): a statement the loop
runs meanwhile waits for that commit, and belongs to the next transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._errors import StoreError
from .postgres_connection import connect, redact, require_psycopg, store_error
from .postgres_queue import Batch, Returned, WriteQueue
from .postgres_signals import Announcer


class Session:
    """One store's connections to ``url``."""

    def __init__(self, url: str, sender: Callable[[], str]) -> None:
        self.url = url
        self.where = redact(url)
        self.dirty = False  #: writes sent since the last commit (not counting queued rows)
        self.announce = False  #: the open transaction made work due: tell other servers
        self.conn: Any = connect(url)
        #: held while the connection is in use: by the event loop, or a commit in a thread
        self._wire = threading.RLock()
        #: the thread commits go from (its own: a busy shared pool must not hold one back
        #: while the loop waits for it to take the connection)
        self._committer: ThreadPoolExecutor | None = None
        self._side: Any = None
        #: rows queued by :meth:`defer` (set ``queue`` anew to choose the sending order)
        self.queue = WriteQueue()
        #: runs whose rows this transaction locked and found unended (a lease check): no
        #: other transaction ends them before this one does
        self.live_locked: set[str] = set()
        #: event names this transaction holds a shared lock on and found no wait for: no
        #: other server registers one before it ends (it would need the exclusive lock)
        self.unwaited: set[str] = set()
        self.announcer = Announcer(url, sender)

    def fault(self, exc: Exception) -> Exception:
        """The StoreError naming a database fault; the open transaction, which PostgreSQL
        aborted with the error, is rolled back at once (its writes are lost: the journal
        tells the passes that made them). An error of no known kind (a conflict a statement
        did not expect) is a StoreError too: the passes go again from their last commit,
        rather than each later statement of the aborted transaction failing too."""
        self._roll_back_aborted()
        return self._named(exc)

    def _named(self, exc: Exception) -> StoreError:
        """The StoreError naming database fault ``exc`` (nothing rolled back here)."""
        known = store_error(exc, self.url)
        if known is not None:
            return known
        return StoreError(
            f"PostgreSQL at {self.where} refused a statement ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}); the "
            "transaction was rolled back and durable retries from the last commit",
            reason="database_error",
            path=self.where,
        )

    def _roll_back_aborted(self) -> None:
        psycopg = require_psycopg()
        with self._wire:
            if self.conn.closed:
                return
            if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                try:
                    self.conn.rollback()
                except psycopg.Error:
                    return
                self._ended()

    def _lost(self, when: str) -> StoreError:
        return StoreError(
            f"PostgreSQL at {self.where} closed the connection {when}; durable reconnects "
            "and retries",
            reason="database_unreachable",
            path=self.where,
        )

    def _ended(self) -> None:
        """The open transaction ends (commit or rollback): forget what was only its own."""
        self.dirty = self.announce = False
        self.queue.clear()
        self.unwaited.clear()
        self.live_locked.clear()

    def defer(
        self,
        sql: str,
        key: Hashable,
        row: Sequence[Any],
        returned: Returned | None = None,
        run: str | None = None,
    ) -> None:
        """Queue ``row`` for ``sql``, a write that takes one array per column (many rows in
        one statement: ``... SELECT * FROM unnest(%b::text[], ...)``), sent before the next
        statement or commit (see :mod:`.postgres_queue`; ``run``: the run it writes, whose
        writes keep their order). ``row`` must not change after this call (encode JSON
        values first); ``returned`` is given the rows of a ``RETURNING`` statement."""
        if self.queue.must_send_first(sql, run):
            self._send_deferred()
        self.queue.add(sql, key, row, returned, run)

    def _send_deferred(self) -> None:
        for batch in self.queue.take():
            cursor = self._exec(batch.sql, batch.columns)
            self.dirty = True
            if batch.returned is not None:
                batch.returned(cursor.fetchall())

    def exec(self, sql: str, params: Any = None) -> Any:
        """Run ``sql`` in the open transaction (after the rows :meth:`defer` queued); its
        cursor."""
        if self.queue:
            self._send_deferred()
        return self._exec(sql, params)

    def _exec(self, sql: str, params: Any) -> Any:
        with self._wire:
            return self._exec_now(sql, params)

    def _exec_now(self, sql: str, params: Any) -> Any:
        psycopg = require_psycopg()
        if self.conn.closed:  # dropped: its open transaction was lost with it
            if self.dirty:  # never commit the rest of a transaction whose start was lost
                raise self._lost("mid-transaction")
            self.conn = connect(self.url)
        try:
            return self.conn.execute(sql, params)
        except psycopg.Error as exc:
            if not (self.conn.closed and not self.dirty):
                raise self.fault(exc) from exc
        # The connection dropped (a restarted server, an idle session ended) while nothing
        # was written in its transaction: nothing is lost, go on with a new one.
        self.conn = connect(self.url)
        try:
            return self.conn.execute(sql, params)
        except psycopg.Error as exc:
            raise self.fault(exc) from exc

    def write(self, sql: str, params: Any = None) -> Any:
        """Run a writing statement; its cursor."""
        cursor = self.exec(sql, params)
        self.dirty = True
        return cursor

    def all(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql``."""
        rows: list[tuple[Any, ...]] = self.exec(sql, params).fetchall()
        return rows

    def one(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        """The first row of ``sql``, or None."""
        row: tuple[Any, ...] | None = self.exec(sql, params).fetchone()
        return row

    def write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a writing statement once per row of parameters."""
        psycopg = require_psycopg()
        self.exec("SELECT 1")  # reconnects (or refuses) as any statement would
        try:
            with self._wire, self.conn.cursor() as cursor:
                cursor.executemany(sql, rows)
        except psycopg.Error as exc:
            raise self.fault(exc) from exc
        self.dirty = True

    def side(self, body: Callable[[Any], Any]) -> Any:
        """``body(connection)`` in a transaction of the side connection, committed at once."""
        psycopg = require_psycopg()
        if self._side is None or self._side.closed:
            self._side = connect(self.url)
        try:
            result = body(self._side)
            self._side.commit()
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                self._side.rollback()
            raise self.fault(exc) from exc
        return result

    def commit(self) -> bool:
        """Commit the open transaction; True if it wrote anything."""
        psycopg = require_psycopg()
        with self._wire:
            if self.queue:  # (on a new connection if the old one dropped before any write)
                self._send_deferred()
            wrote, announce = self.dirty, self.announce
            self._ended()
            if self.conn.closed:
                if wrote:
                    raise self._lost("before the commit")
                return False
            try:
                self.conn.commit()
            except psycopg.Error as exc:
                raise self.fault(exc) from exc
        if announce:
            self.announcer.announce()
        return wrote

    async def commit_async(self) -> bool:
        """:meth:`commit`, with the queued rows and the ``COMMIT`` sent from a thread: the
        event loop goes on meanwhile. True if the transaction wrote anything.

        What the loop writes meanwhile belongs to the next transaction: its rows queue anew,
        and its statements wait for the connection. If the commit fails, the thread rolls
        the transaction back before it lets go of the connection, and the
        :class:`StoreError` raised here leaves those later writes alone. If the caller is
        cancelled meanwhile, the thread still finishes the commit (or its rollback).
        """
        if not self.dirty and not self.queue:  # reads and locks only: nothing worth a thread
            return self.commit()
        batches, sent, announce = self.queue.take(), self.dirty, self.announce
        self._ended()
        answers: list[tuple[Returned, list[tuple[Any, ...]]]] = []
        holding = threading.Event()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="durable-commit")
        done = asyncio.get_running_loop().run_in_executor(
            self._committer, self._send_and_commit, batches, answers, sent, holding
        )
        # Not one statement of this loop before the thread holds the connection: a commit
        # made here first would end this transaction with its rows unsent (and its row
        # locks, which those rows rely on, released).
        holding.wait()
        error = await done
        if error is not None:
            raise error if isinstance(error, StoreError) else self._named(error)
        later, self.announce = self.announce, False  # (set by the next transaction's writes)
        for returned, rows in answers:
            returned(rows)  # (a run released as due again asks for an announcement)
        released, self.announce = self.announce, later
        if announce or released:
            self.announcer.announce()
        return True

    def _send_and_commit(
        self,
        batches: list[Batch],
        answers: list[tuple[Returned, list[tuple[Any, ...]]]],
        sent: bool,
        holding: threading.Event,
    ) -> Exception | None:
        """In a thread: send ``batches`` (the rows of those with a ``returned`` go to
        ``answers``) and commit, or roll back; the error, if any (raised on the event loop,
        which owns this session's state). ``holding`` is set once the connection is this
        thread's. ``sent``: the transaction wrote before (lost if the connection dropped);
        else its rows go on a new connection."""
        try:
            psycopg = require_psycopg()
            with self._wire:
                holding.set()
                if self.conn.closed:
                    if sent:
                        return self._lost("before the commit")
                    try:
                        self.conn = connect(self.url)
                    except StoreError as exc:
                        return exc
                try:
                    for batch in batches:
                        cursor = self.conn.execute(batch.sql, batch.columns)
                        if batch.returned is not None:
                            answers.append((batch.returned, cursor.fetchall()))
                    self.conn.commit()
                except psycopg.Error as exc:
                    with contextlib.suppress(psycopg.Error):
                        self.conn.rollback()  # (before the loop's next statement may run)
                    error: Exception = exc
                    return error
            return None
        finally:
            holding.set()  # (also if it failed before it took the connection)

    def rollback(self) -> None:
        """Discard the open transaction (nothing to do if the connection dropped)."""
        psycopg = require_psycopg()
        with self._wire:
            self._ended()
            if self.conn.closed:
                return
            try:
                self.conn.rollback()
            except psycopg.Error as exc:
                if not self.conn.closed:
                    raise self.fault(exc) from exc

    def close(self) -> None:
        """Commit what is pending and close both connections."""
        try:
            if not self.conn.closed:
                self.commit()
        finally:
            if self._committer is not None:
                self._committer.shutdown(wait=True)
            self.announcer.close()
            for conn in (self.conn, self._side):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
