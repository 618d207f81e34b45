"""PostgreSQL only: a transaction's commit is sent from a thread, and the event loop goes on.

While one transaction's rows and ``COMMIT`` travel, the server's loop keeps decoding the next
checkpoints; a statement (or a commit) the loop makes meanwhile waits for that commit and
belongs to the next transaction, even when the thread starts late; a refused commit raises out
of the ``async with``, rolled back in its thread, and the rows the loop queued meanwhile are
kept; a run released as due again is announced with the commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from durable._errors import StoreError
from durable._stores.base import RunStatus
from durable._stores.postgres import PostgresStore
from tests.support.records import queued_run

START = 1_000_000.0


def store_with_runs(url: str, *run_ids: str, lock_timeout: str) -> PostgresStore:
    """A store holding queued runs ``run_ids``, whose statements wait ``lock_timeout`` at
    most for a row lock."""
    store = PostgresStore(url)
    for run_id in run_ids:
        store.insert_run(queued_run(run_id, at=START))
    store.commit()
    store._db.conn.execute(f"SET lock_timeout = '{lock_timeout}'")
    store.commit()
    return store


def holding_row(url: str, run_id: str) -> Any:
    """Another connection, holding the row of ``run_id`` locked (until its rollback)."""
    import psycopg

    holder = psycopg.connect(url)
    holder.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))
    return holder


async def mark_running(store: PostgresStore, run_id: str) -> None:
    """A transaction that sets ``run_id`` running (a queued row: sent from the commit
    thread)."""
    async with store.transaction():
        run = store.get_run(run_id)
        assert run is not None
        run.status = RunStatus.RUNNING
        store.update_run(run)


async def test_the_event_loop_runs_while_a_commit_waits_and_later_statements_follow_it(
    postgres_url: str,
) -> None:
    # (5 s: a commit made on the loop would block it, fail, and fail this test, not hang it)
    store = store_with_runs(postgres_url, "r", "other", lock_timeout="5s")
    holder = holding_row(postgres_url, "r")  # the commit waits for it
    try:
        task = asyncio.ensure_future(mark_running(store, "r"))
        turns = 0
        while turns < 10 and not task.done():
            await asyncio.sleep(0.01)  # the loop is free while the commit waits for the row
            turns += 1
        assert turns == 10 and not task.done()

        threading.Timer(0.2, holder.rollback).start()  # the row is free in 0.2 s
        seen = store.get_run("r")  # the loop's next statement waits for that commit...
        assert seen is not None and seen.status is RunStatus.RUNNING  # ...and sees it
        await task
    finally:
        holder.close()
        store.close()


async def test_a_commit_refused_in_its_thread_raises_and_the_store_goes_on(
    postgres_url: str,
) -> None:
    store = store_with_runs(postgres_url, "r", lock_timeout="50ms")
    holder = holding_row(postgres_url, "r")
    try:
        with pytest.raises(StoreError) as refused:
            await mark_running(store, "r")
        assert "lock" in str(refused.value)
        holder.rollback()
        stored = store.get_run("r")
        assert stored is not None and stored.status is RunStatus.QUEUED  # rolled back
        await mark_running(store, "r")  # the next transaction works
        again = store.get_run("r")
        assert again is not None and again.status is RunStatus.RUNNING
    finally:
        holder.close()
        store.close()


def slowed_commit_thread(store: PostgresStore, seconds: float) -> None:
    """Make the commit thread start late (as on a busy machine)."""
    session = store._db
    original = session._send_and_commit

    def late(*args: Any) -> Any:
        time.sleep(seconds)
        return original(*args)

    session._send_and_commit = late  # type: ignore[method-assign]


async def test_a_flush_on_the_loop_never_commits_half_of_a_transaction_in_flight(
    postgres_url: str,
) -> None:
    store = store_with_runs(postgres_url, "r", "x", lock_timeout="200ms")
    store.register_server("a", START)
    store.commit()
    holder = holding_row(postgres_url, "r")  # the transaction's queued row is refused
    slowed_commit_thread(store, 0.05)
    try:

        async def both() -> None:
            async with store.transaction():
                assert store.claim_run("x", "a") is not None  # a statement sent at once
                run = store.get_run("r")
                assert run is not None
                run.status = RunStatus.RUNNING
                store.update_run(run)  # queued: sent from the commit thread, then refused

        task = asyncio.ensure_future(both())
        await asyncio.sleep(0)  # the transaction's commit is under way...
        store.commit()  # ...when the loop commits (an API read, a scheduler round do)
        with pytest.raises(StoreError):
            await task
        holder.rollback()
        assert store.claim_run("x", "a") is not None  # the claim went with its transaction
        epoch = store._db.one("SELECT epoch FROM runs WHERE run_id = 'x'")
        assert epoch == (1,)  # claimed once (here), not twice
    finally:
        holder.close()
        store.close()


async def test_writes_the_loop_queues_while_a_commit_fails_are_kept(postgres_url: str) -> None:
    store = store_with_runs(postgres_url, "r", "y", lock_timeout="200ms")
    holder = holding_row(postgres_url, "r")
    try:
        task = asyncio.ensure_future(mark_running(store, "r"))
        await asyncio.sleep(0)  # committing, from the thread
        other = queued_run("y", at=START)
        other.status = RunStatus.RUNNING
        store.update_run(other)  # queued meanwhile: the next transaction's
        with pytest.raises(StoreError):
            await task
        holder.rollback()
        store.commit()
        kept = store.get_run("y")
        assert kept is not None and kept.status is RunStatus.RUNNING
        refused = store.get_run("r")
        assert refused is not None and refused.status is RunStatus.QUEUED
    finally:
        holder.close()
        store.close()


async def test_a_run_released_as_due_again_is_announced_with_its_commit(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    store.register_server("a", START)
    store.insert_run(queued_run("r", at=START))
    store.commit()
    lease = store.claim_run("r", "a")
    assert lease is not None
    store.commit()
    assert store.make_ready("r", START + 1)  # flagged: due once its pass releases it
    store.commit()
    announced: list[bool] = []
    store._db.announcer.announce = lambda: announced.append(True)  # type: ignore[method-assign]
    async with store.transaction():
        store.release_run(lease)  # queued; its RETURNING says the run is due again
    assert announced == [True]
    store.close()
