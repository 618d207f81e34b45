"""PostgreSQL only: a transaction's commit is sent from a thread, and the event loop goes on.

While one transaction's rows and ``COMMIT`` travel, the server's loop keeps decoding the next
checkpoints; a statement the loop needs meanwhile waits for that commit and belongs to the
next transaction; a refused commit raises out of the ``async with``, rolled back.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from durable._errors import StoreError
from durable._stores.base import RunStatus
from durable._stores.postgres import PostgresStore
from tests.support.records import queued_run

START = 1_000_000.0


async def test_the_event_loop_runs_while_a_commit_waits_and_later_statements_follow_it(
    postgres_url: str,
) -> None:
    import psycopg

    store = PostgresStore(postgres_url)
    store.insert_run(queued_run("r", at=START))
    store.insert_run(queued_run("other", at=START))
    store.commit()
    store._db.conn.execute("SET lock_timeout = '5s'")  # (a commit made on the loop would
    store.commit()  # block it, fail after 5 s, and fail this test rather than hang it)
    holder = psycopg.connect(postgres_url)
    holder.execute("SELECT 1 FROM runs WHERE run_id = 'r' FOR UPDATE")  # the commit waits
    try:

        async def write() -> None:
            async with store.transaction():
                run = store.get_run("r")
                assert run is not None
                run.status = RunStatus.RUNNING
                store.update_run(run)  # queued: sent with the COMMIT, from a thread

        task = asyncio.ensure_future(write())
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
    import psycopg

    store = PostgresStore(postgres_url)
    store.insert_run(queued_run("r", at=START))
    store.commit()
    store._db.conn.execute("SET lock_timeout = '50ms'")
    store.commit()
    holder = psycopg.connect(postgres_url)
    holder.execute("SELECT 1 FROM runs WHERE run_id = 'r' FOR UPDATE")
    try:
        with pytest.raises(StoreError) as refused:
            async with store.transaction():
                run = store.get_run("r")
                assert run is not None
                run.status = RunStatus.RUNNING
                store.update_run(run)
        assert "lock" in str(refused.value)
        holder.rollback()
        stored = store.get_run("r")
        assert stored is not None and stored.status is RunStatus.QUEUED  # rolled back
        async with store.transaction():  # the next transaction works
            assert stored is not None
            stored.status = RunStatus.RUNNING
            store.update_run(stored)
        again = store.get_run("r")
        assert again is not None and again.status is RunStatus.RUNNING
    finally:
        holder.close()
        store.close()
