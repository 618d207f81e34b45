"""PostgreSQL: the API's listings read in the reads' thread on a read-only connection of their
own (the event loop keeps going during a long read), and the stream's looks at other servers'
run changes go through the same thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from durable._stores.base import RunRecord, RunStatus, Store
from durable._stores.postgres import PostgresStore
from durable.devserver.reads import OffLoopReads
from tests.support.postgres import postgres_database, postgres_url  # noqa: F401 (fixtures)

NOW = 1_000_000.0


def queued(run_id: str) -> RunRecord:
    return RunRecord(run_id, "f", RunStatus.QUEUED, {"name": "go", "data": {}}, created_at=NOW)


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:  # noqa: F811 (the fixture's name)
    store = PostgresStore(postgres_url)
    store.register_server("a", NOW)
    yield store
    store.close()


async def test_a_long_listing_reads_in_the_thread_while_the_loop_goes_on(
    store: PostgresStore,
) -> None:
    reads = OffLoopReads(store, store.commit, server_id="a")
    try:
        store.insert_run(queued("r1"))  # not committed yet: the read commits it first
        seen: list[tuple[str, int]] = []

        def slow_listing(view: Store) -> list[RunRecord]:
            assert isinstance(view, PostgresStore) and view is not store
            row = view._db.one("SELECT pg_backend_pid() FROM pg_sleep(0.8)")
            assert row is not None
            seen.append((threading.current_thread().name, int(row[0])))
            return view.list_runs()

        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(ticking())
        started = time.monotonic()
        runs = await reads(slow_listing)
        took = time.monotonic() - started
        ticker.cancel()
        assert [run.run_id for run in runs] == ["r1"]
        assert took >= 0.8 and ticks >= 30  # the loop ran all along the read
        [(thread, pid)] = seen
        assert thread.startswith("durable-reads")
        assert pid != store._db.conn.info.backend_pid  # a connection of its own
        store.get_run("r1")  # the server's own connection was free meanwhile
    finally:
        reads.close()


async def test_the_stream_looks_at_other_servers_changes_through_the_reads(
    store: PostgresStore,
    postgres_url: str,  # noqa: F811 (the fixture)
) -> None:
    reads = OffLoopReads(store, store.commit, server_id="a")
    other = PostgresStore(postgres_url)
    other.register_server("b", NOW)
    try:
        assert reads.follows_other_servers
        assert await reads.run_changes(restart=True) == []
        other.insert_run(queued("theirs"))
        other.commit()
        store.insert_run(queued("mine"))
        store.commit()
        changes = await reads.run_changes()
        assert changes == [{"run_id": "theirs", "function_id": "f", "status": "queued"}]
        assert await reads.run_changes() == []
    finally:
        other.close()
        reads.close()
