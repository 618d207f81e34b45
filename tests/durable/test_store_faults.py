"""The SQLite store under faults: all-or-nothing batches, damaged files, one server per file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable import Durable
from durable._errors import StoreError
from durable._stores.base import RunRecord
from durable._stores.sqlite import SQLiteStore
from durable.testing import TestEngine

START = 1_000_000.0


class FailingStore(SQLiteStore):
    """A real SQLite store whose ``fail_at``-th run insert is refused, as by a full disk."""

    fail_at: int | None = None
    inserts = 0

    def insert_run(self, run: RunRecord) -> None:
        self.inserts += 1
        if self.inserts == self.fail_at:
            raise StoreError("database or disk is full (injected)", reason="database_full")
        super().insert_run(run)


def shop() -> Durable:
    app = Durable(id="shop")

    @app.function(
        id="order",
        triggers=[{"event": "order/created"}],
        cancel_on=[{"event": "order/cancelled", "if": "event.data.id == async.data.id"}],
    )
    async def order(ctx: Any) -> str:
        await ctx.step.sleep("settle", "1h")
        return "done"

    @app.function(id="audit", triggers=[{"event": "durable/function.cancelled"}])
    async def audit(ctx: Any) -> str:
        return str(ctx.event.data["run_id"])

    return app


async def test_a_batch_that_fails_midway_changes_nothing(tmp_path: Path) -> None:
    store = FailingStore(tmp_path / "dev.db")
    engine = TestEngine(shop(), store=store, start=START)
    heard: list[tuple[str, dict[str, Any]]] = []
    engine.orchestrator.subscribe(lambda kind, change: heard.append((kind, change)))
    await engine.send({"name": "order/created", "data": {"id": "a"}})
    await engine.settle()
    first = engine.runs()[0]
    assert first.status == "sleeping"
    events_before = len(store.list_events(limit=1000))
    heard.clear()

    # cancels run a (and would emit its cancelled event), starts b, then c's insert fails
    batch = [
        {"name": "order/cancelled", "data": {"id": "a"}},
        {"name": "order/created", "data": {"id": "b"}},
        {"name": "order/created", "data": {"id": "c"}},
    ]
    store.fail_at = store.inserts + 3  # audit's run for the cancel, b's run, then c's
    with pytest.raises(StoreError, match="disk is full"):
        await engine.send(batch)

    assert len(store.list_events(limit=1000)) == events_before
    assert [run.status for run in engine.runs()] == ["sleeping"]
    assert heard == []  # nobody was told of what was rolled back
    await engine.settle()
    assert [run.status for run in engine.runs()] == ["sleeping"]

    store.fail_at = None  # the same batch, once the store takes it, applies whole
    await engine.send(batch)
    await engine.settle()
    by_function: dict[str, list[str]] = {}
    for run in engine.runs():
        by_function.setdefault(run.function_id, []).append(run.status)
    assert sorted(by_function["order"]) == ["cancelled", "sleeping", "sleeping"]
    assert by_function["audit"] == ["completed"]
    store.close()


def damage(path: Path) -> None:
    """Overwrite the middle of the file (its b-tree pages, not its header) with garbage."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2)
        file.write(b"\xa5" * 8192)


async def test_a_damaged_database_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    engine = TestEngine(shop(), store=SQLiteStore(db), start=START)
    await engine.send([{"name": "order/created", "data": {"id": str(i)}} for i in range(300)])
    await engine.settle()
    engine.store.close()
    damage(db)
    with pytest.raises(StoreError, match="is damaged") as caught:
        SQLiteStore(db)
    assert caught.value.reason == "database_damaged"
    assert str(db) in str(caught.value)


def registered(db: Path, server_id: str) -> SQLiteStore:
    store = SQLiteStore(db)
    store.register_server(server_id, START)
    return store


def test_a_second_server_on_the_same_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    first = registered(db, "first")
    second = SQLiteStore(db)  # readers (tests, tools) may open it: they are not servers
    with pytest.raises(StoreError, match=f"in use by another durable server \\(pid {os.getpid()}"):
        second.register_server("second", START)
    second.close()
    first.close()
    registered(db, "third").close()  # released on close


def test_a_killed_server_leaves_no_lock_behind(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from durable._stores.sqlite import SQLiteStore; "
            f"s = SQLiteStore({str(db)!r}); s.register_server('holder', 0.0); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        store = SQLiteStore(db)
        with pytest.raises(StoreError, match=f"pid {holder.pid}"):
            store.register_server("second", START)
        store.close()
    finally:
        holder.kill()  # SIGKILL: no clean-up runs in the holder
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    registered(db, "after").close()


def test_an_interrupt_right_after_the_migration_commits_stays_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (``durable dev`` raises SystemExit for it) landing just after the migration's
    COMMIT: the interrupt ends the open, not "cannot rollback - no transaction is active"
    (which ``durable dev`` reported as an unusable database, exit 2)."""
    from durable._stores import sqlite_connection

    original = sqlite_connection._Connection.execute

    def interrupted_after_commit(self: Any, sql: str, parameters: Any = (), /) -> Any:
        cursor = original(self, sql, parameters)
        if sql == "COMMIT":
            raise SystemExit(0)
        return cursor

    monkeypatch.setattr(sqlite_connection._Connection, "execute", interrupted_after_commit)
    with pytest.raises(SystemExit):
        SQLiteStore(tmp_path / "dev.db")
    monkeypatch.undo()
    store = SQLiteStore(tmp_path / "dev.db")  # migrated and committed: it opens
    assert store.schema_version > 0
    store.close()


def test_the_integrity_check_can_run_early_on_a_thread_and_the_store_takes_its_verdict(
    tmp_path: Path,
) -> None:
    """``durable dev`` starts the file's check at its first moment (the check reads the whole
    file); the store then uses that verdict, or checks again itself when it could not run."""
    from durable._stores.sqlite_precheck import Precheck, start_check

    db = tmp_path / "dev.db"
    assert start_check(str(db)) is None  # no file yet: nothing to check
    assert start_check(":memory:") is None
    assert start_check("postgresql://u@127.0.0.1/x") is None
    SQLiteStore(db).close()
    check = start_check(str(db))
    assert check is not None and check.rows() == [("ok",)]
    SQLiteStore(db, precheck=check).close()

    class Damning(Precheck):  # a verdict of damage, whatever the file says
        def __init__(self) -> None:
            pass

        def rows(self) -> list[Any]:
            return [("row 3 missing from index runs_ready",)]

    with pytest.raises(StoreError, match=r"is damaged .*row 3 missing from index runs_ready"):
        SQLiteStore(db, precheck=Damning())

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    unusable = start_check(str(garbage))
    assert unusable is not None and unusable.rows() is None  # could not run: the store checks
    with pytest.raises(Exception) as with_precheck:
        SQLiteStore(garbage, precheck=unusable)
    with pytest.raises(Exception) as without:
        SQLiteStore(garbage)
    assert type(with_precheck.value) is type(without.value)
    assert str(with_precheck.value) == str(without.value)
