"""PostgreSQL only: the read-only reader connection, and the look at other servers' run changes
(schema 3 stamps) that the live stream follows: commit order, not id or clock order."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from durable._errors import StoreError
from durable._stores.base import RunRecord, RunStatus
from durable._stores.postgres import PostgresStore
from durable._stores.postgres_reader import APPLICATION_NAME, PostgresReader
from durable._stores.postgres_schema import MIGRATIONS, SCHEMA_VERSION
from tests.support.postgres import temporary_database

NOW = 1_000_000.0


def queued(run_id: str) -> RunRecord:
    return RunRecord(run_id, "f", RunStatus.QUEUED, {"name": "go", "data": {}}, created_at=NOW)


@pytest.fixture
def servers(postgres_url: str) -> Iterator[tuple[PostgresStore, PostgresStore, PostgresReader]]:
    """Server a's and b's stores, and a reader (server a's) on the same database."""
    a, b = PostgresStore(postgres_url), PostgresStore(postgres_url)
    a.register_server("a", NOW)
    b.register_server("b", NOW)
    reader = PostgresReader(postgres_url)
    yield a, b, reader
    reader.close()
    a.close()
    b.close()


def ids(changes: list[dict[str, object]]) -> list[object]:
    return [(change["run_id"], change["status"]) for change in changes]


def test_run_writes_are_stamped_with_the_writer(
    servers: tuple[PostgresStore, PostgresStore, PostgresReader], postgres_url: str
) -> None:
    a, b, _ = servers
    b.insert_run(queued("r1"))
    b.commit()
    run = queued("r1")
    run.status = RunStatus.RUNNING
    a.update_run(run)  # the last writer is the one stamped
    a.commit()
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT updated_by, updated_at, updated_xid IS NOT NULL FROM runs WHERE run_id='r1'"
        ).fetchone()
    assert row is not None
    assert row[0] == "a" and abs(row[1] - time.time()) < 30 and row[2] is True
    assert a.schema_version == SCHEMA_VERSION == 3


def test_a_look_shows_other_servers_changes_once_in_commit_order(
    servers: tuple[PostgresStore, PostgresStore, PostgresReader], postgres_url: str
) -> None:
    a, b, reader = servers
    c = PostgresStore(postgres_url)
    c.register_server("c", NOW)
    try:
        first = reader.run_changes(None, "a")
        assert first.changes == []  # a first look only notes where the next one starts
        b.insert_run(queued("late"))  # written first (the older transaction id)...
        c.insert_run(queued("early"))
        c.commit()
        second = reader.run_changes(first.snapshot, "a")
        assert ids(second.changes) == [("early", "queued")]  # "late" is not committed yet
        b.commit()  # ...committed after the look: the next look still sees it
        third = reader.run_changes(second.snapshot, "a")
        assert ids(third.changes) == [("late", "queued")]
        assert reader.run_changes(third.snapshot, "a").changes == []  # nothing twice
        a.insert_run(queued("mine"))  # this server's own writes: its journal told them
        a.commit()
        done = queued("late")
        done.status, done.error = RunStatus.FAILED, {"name": "Boom", "message": "it broke"}
        assert b.end_run(done)
        b.commit()
        fourth = reader.run_changes(third.snapshot, "a")
        assert fourth.changes == [
            {"run_id": "late", "function_id": "f", "status": "failed", "error": "it broke"}
        ]
    finally:
        c.close()


def test_the_reader_is_read_only_on_a_connection_of_its_own(
    servers: tuple[PostgresStore, PostgresStore, PostgresReader], postgres_url: str
) -> None:
    a, _, reader = servers
    a.insert_run(queued("r1"))
    a.commit()
    assert [run.run_id for run in reader.list_runs()] == ["r1"]
    assert reader.backend_pid() != a._db.conn.info.backend_pid
    with pytest.raises(StoreError, match="read-only"):
        reader.insert_run(queued("r2"))
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # so does the database
        reader._db.exec("DELETE FROM runs")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid=%s AND application_name=%s",
            (reader.backend_pid(), APPLICATION_NAME),
        ).fetchone()
    assert row == (1,)
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # the database drops it
        conn.execute("SELECT pg_terminate_backend(%s)", (reader.backend_pid(),))
    assert [run.run_id for run in reader.list_runs()] == ["r1"]  # read again, reconnected
    reader.close()  # closed: opened again on the next read
    assert [run.run_id for run in reader.list_runs()] == ["r1"]


def test_migration_3_keeps_existing_runs_out_of_the_looks(postgres_database: str) -> None:
    with temporary_database(postgres_database) as url:
        with psycopg.connect(url) as conn:  # a schema-2 database with a run in it
            conn.execute("CREATE TABLE durable_schema (version integer NOT NULL)")
            for migration in MIGRATIONS[:2]:
                conn.execute(migration)
            conn.execute("INSERT INTO durable_schema (version) VALUES (2)")
            conn.execute(
                "INSERT INTO runs (run_id, function_id, status, created_at, trigger, event) "
                "VALUES ('old', 'f', 'queued', 1, 'event', '{}')"
            )
        store = PostgresStore(url)
        reader = PostgresReader(url)
        try:
            assert store.schema_version == 3
            start = reader.run_changes(None, "a")
            store.register_server("b", NOW)
            store.insert_run(queued("new"))
            store.commit()
            assert ids(reader.run_changes(start.snapshot, "a").changes) == [("new", "queued")]
            assert [run.run_id for run in reader.list_runs()] == ["new", "old"]
        finally:
            reader.close()
            store.close()
