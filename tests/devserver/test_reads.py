"""The API's listings read a SQLite file off the event loop, on a read connection of their own,
and see what the server wrote so far; other stores are read inline."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from durable._errors import StoreError
from durable._stores.base import RunRecord, RunStatus, Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore
from durable.devserver.reads import OffLoopReads


def queued(run_id: str) -> RunRecord:
    return RunRecord(run_id, "f", RunStatus.QUEUED, {"name": "e"}, created_at=1.0)


async def test_a_listing_reads_in_a_thread_and_sees_pending_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    reads = OffLoopReads(store, store.commit)
    try:
        store.insert_run(queued("r1"))  # not committed yet: the read commits it first
        seen: list[str] = []

        def listing(view: Store) -> list[RunRecord]:
            seen.append(threading.current_thread().name)
            return view.list_runs()

        runs = await reads(listing)
        assert [run.run_id for run in runs] == ["r1"]
        assert seen[0].startswith("durable-reads") and seen[0] != threading.main_thread().name
    finally:
        reads.close()
        store.close()


async def test_reads_go_on_while_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    store.insert_run(queued("r1"))
    store.commit()
    reads = OffLoopReads(store)
    writer = sqlite3.connect(tmp_path / "d.db")
    try:
        writer.execute("BEGIN IMMEDIATE")  # WAL: a reader does not wait for the writer
        runs = await reads(lambda view: view.list_runs(status="queued"))
        assert [run.run_id for run in runs] == ["r1"]
    finally:
        writer.rollback()
        writer.close()
        reads.close()
        store.close()


async def test_the_read_connection_cannot_write(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    reads = OffLoopReads(store)
    try:
        with pytest.raises((StoreError, sqlite3.OperationalError), match="readonly"):
            await reads(lambda view: view.insert_run(queued("r2")))
    finally:
        reads.close()
        store.close()


async def test_a_memory_store_is_read_inline() -> None:
    store = MemoryStore()
    store.insert_run(queued("r1"))
    reads = OffLoopReads(store)
    names: list[str] = []

    def listing(view: Store) -> list[RunRecord]:
        names.append(threading.current_thread().name)
        return view.list_runs()

    assert [run.run_id for run in await reads(listing)] == ["r1"]
    assert names == [threading.current_thread().name]
    reads.close()
