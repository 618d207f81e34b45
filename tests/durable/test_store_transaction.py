"""``async with store.transaction()``: every backend's unit of atomicity.

A transaction commits what was written before it, then its own writes together at its end
(or rolls them back if its body raises); two transactions of one store never overlap, even
when the first awaits. SQLite begins with ``BEGIN IMMEDIATE``: the file's write lock is taken
at the start, not at the first write. The journal's transactions nest within one task and
hold back what they tell listeners until they commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from durable._errors import StoreError
from durable._orchestration.journal import Journal
from durable._stores.base import Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore
from tests.support.records import queued_run

START = 1_000_000.0


def rolls_back(store: Store) -> bool:
    """Whether ``store`` undoes a failed block (the memory store never refuses a write, and
    only serialises its transactions)."""
    return not isinstance(store, MemoryStore)


def run_ids(store: Store) -> set[str]:
    return {run.run_id for run in store.list_runs(limit=100)}


async def test_the_writes_of_a_transaction_commit_together_at_its_end(store: Store) -> None:
    async with store.transaction() as tx:
        store.insert_run(queued_run("r1", at=START))
        store.insert_run(queued_run("r2", at=START))
        assert not tx.wrote  # not yet: it commits as the block ends
    assert tx.wrote
    assert run_ids(store) == {"r1", "r2"}
    async with store.transaction() as empty:
        pass
    assert not empty.wrote or not rolls_back(store)  # (memory: every commit "writes")


async def test_a_transaction_whose_body_raises_writes_nothing(store: Store) -> None:
    store.insert_run(queued_run("before", at=START))  # committed as the transaction begins
    with pytest.raises(RuntimeError, match="half way"):
        async with store.transaction():
            store.insert_run(queued_run("inside", at=START))
            raise RuntimeError("half way")
    store.rollback()  # nothing left to discard: "before" was committed
    expected = {"before"} if rolls_back(store) else {"before", "inside"}
    assert run_ids(store) == expected


async def test_two_transactions_never_overlap_even_when_the_first_awaits(store: Store) -> None:
    order: list[str] = []
    first_inside = asyncio.Event()
    go_on = asyncio.Event()

    async def first() -> None:
        with pytest.raises(RuntimeError):
            async with store.transaction():
                order.append("first begins")
                store.insert_run(queued_run("first", at=START))
                first_inside.set()
                await go_on.wait()  # the second asks for a transaction meanwhile
                order.append("first fails")
                raise RuntimeError("first fails")

    async def second() -> None:
        await first_inside.wait()
        order.append("second asks")
        async with store.transaction():
            order.append("second begins")
            store.insert_run(queued_run("second", at=START))

    both = asyncio.gather(first(), second())
    await first_inside.wait()
    await asyncio.sleep(0.01)
    assert order == ["first begins", "second asks"]  # the second waits for the first
    go_on.set()
    await both
    assert order == ["first begins", "second asks", "first fails", "second begins"]
    # the second's write was not made inside the first's transaction: it survives its rollback
    expected = {"second"} if rolls_back(store) else {"first", "second"}
    assert run_ids(store) == expected


async def test_sqlite_takes_the_write_lock_as_a_transaction_begins(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with store.transaction():
            # no write yet, and another connection cannot write: BEGIN IMMEDIATE holds the lock
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released at the commit
        other.execute("ROLLBACK")

        other.execute("BEGIN IMMEDIATE")  # another process writing now...
        store._db.execute("PRAGMA busy_timeout=20")
        ran = False
        with pytest.raises(StoreError, match="locked"):
            async with store.transaction():  # ...refuses the transaction before its body runs
                ran = True
        assert not ran
        other.execute("ROLLBACK")
        async with store.transaction():  # and the store goes on once the lock is free
            store.insert_run(queued_run("after", at=START))
        assert run_ids(store) == {"after"}
    finally:
        other.close()
        store.close()


async def test_a_refused_commit_raises_out_of_the_block_with_the_writes_rolled_back(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    commit = store.commit
    refusing = False

    def refuse() -> bool:
        if refusing:
            raise StoreError("database or disk is full", reason="disk_full")
        return commit()

    store.commit = refuse  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="disk is full"):
        async with store.transaction():
            store.insert_run(queued_run("lost", at=START))
            refusing = True
    refusing = False
    assert run_ids(store) == set()
    store.close()


# -- the journal's transactions -------------------------------------------------------------


async def test_journal_transactions_nest_in_one_task_and_tell_listeners_once_committed() -> None:
    store = MemoryStore()
    journal = Journal(store, lambda: 0)
    heard: list[str] = []
    journal.listeners.append(lambda kind, payload: heard.append(kind))
    async with journal.transaction():
        journal.notify("outer", {})
        async with journal.transaction():  # part of the outer one: no second lock
            journal.notify("inner", {})
        journal.after_commit(lambda: heard.append("effect"))
        assert heard == []
    assert heard == ["outer", "inner", "effect"]


async def test_a_journal_transaction_of_another_task_waits_and_keeps_its_notices_apart() -> None:
    store = MemoryStore()
    journal = Journal(store, lambda: 0)
    heard: list[str] = []
    journal.listeners.append(lambda kind, payload: heard.append(kind))
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with journal.transaction():
            journal.notify("first", {})
            inside.set()
            await go_on.wait()

    async def outside() -> None:
        await inside.wait()
        journal.notify("outside", {})  # not part of the first's transaction: told at once
        async with journal.transaction():
            journal.notify("second", {})

    both = asyncio.gather(first(), outside())
    await inside.wait()
    await asyncio.sleep(0.01)
    assert heard == ["outside"]
    go_on.set()
    await both
    assert heard == ["outside", "first", "second"]


async def test_a_refused_journal_transaction_reports_the_fault_and_tells_nobody(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    journal = Journal(store, lambda: 0)
    heard: list[str] = []
    journal.listeners.append(lambda kind, payload: heard.append(kind))
    commit = store.commit

    def refuse() -> bool:
        if store._db.in_transaction:
            raise StoreError("database or disk is full", reason="disk_full")
        return commit()

    store.commit = refuse  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        async with journal.transaction():
            store.insert_run(queued_run("lost", at=START))
            journal.notify("run", {})
    assert heard == [] and journal.store_problem is not None
    store.commit = commit  # type: ignore[method-assign]
    async with journal.transaction():
        store.insert_run(queued_run("kept", at=START))
    assert journal.store_problem is None  # a commit that wrote clears the fault
    assert run_ids(store) == {"kept"}
    store.close()


async def test_writes_before_a_transaction_that_cannot_be_committed_are_discarded_with_it(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    commit = store.commit

    def refuse() -> bool:
        raise StoreError("database or disk is full", reason="disk_full")

    store.insert_run(queued_run("before", at=START))  # pending: committed as a transaction begins
    store.commit = refuse  # type: ignore[method-assign]
    ran = False
    with pytest.raises(StoreError, match="disk is full"):
        async with store.transaction():
            ran = True
    assert not ran  # the transaction never began
    store.commit = commit  # type: ignore[method-assign]
    assert run_ids(store) == set()  # rolled back: nothing half-written is left to commit later
    store.close()


class SlowCommitStore(MemoryStore):
    """A memory store whose commits wait until ``release`` is set (as PostgreSQL's, made
    from a thread, let the event loop go on)."""

    def __init__(self) -> None:
        super().__init__()
        self.committing = asyncio.Event()
        self.release = asyncio.Event()

    async def _commit_async(self) -> bool:
        self.committing.set()
        await self.release.wait()
        return self.commit()


async def test_a_journal_transaction_cancelled_while_it_waits_leaves_the_open_one_whole() -> None:
    store = SlowCommitStore()
    journal = Journal(store, lambda: 0)
    heard: list[str] = []
    journal.listeners.append(lambda kind, payload: heard.append(kind))

    async def first() -> None:
        async with journal.transaction():
            store.insert_run(queued_run("first", at=START))
            journal.notify("first", {})

    async def second() -> None:
        async with journal.transaction():
            journal.notify("second", {})

    committing = asyncio.ensure_future(first())
    await store.committing.wait()  # the first commits...
    waiting = asyncio.ensure_future(second())
    await asyncio.sleep(0.01)  # ...the second waits for the store...
    waiting.cancel()  # ...and is cancelled (a shutdown, a reaped server's passes)
    await asyncio.gather(waiting, return_exceptions=True)
    store.release.set()
    await committing  # its notices and effects were not thrown away by the other's cancel
    assert heard == ["first"]
