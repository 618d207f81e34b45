"""PostgreSQL only: races between servers (two stores, two connections), heartbeats and
reaping on the database clock, wake-ups, migrations, and faults named in words.

The store contract itself runs over PostgreSQL through the ``store`` fixture (``postgres``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._errors import StoreError
from durable._orchestration.clock import VirtualClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.base import (
    EventRecord,
    RunStatus,
    SharedStore,
    StepRecord,
    StepStatus,
)
from durable._stores.open import open_store
from durable._stores.postgres import PostgresStore
from durable._stores.postgres_connection import redact
from durable._stores.postgres_schema import SCHEMA_VERSION
from durable._stores.sqlite import SchemaError, SQLiteStore
from tests.support.harness import free_port
from tests.support.pg_server import with_database
from tests.support.postgres import temporary_database
from tests.support.records import queued_run

T = TypeVar("T")
NOW = 1_000_000.0
DAY = 86_400.0


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` on threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def committed(store: PostgresStore, call: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        result = call()
        store.commit()
        return result

    return run


# -- races: one winner --------------------------------------------------------------------


def test_claims_of_two_servers_never_overlap(pair: tuple[PostgresStore, PostgresStore]) -> None:
    first, second = pair
    ids = [f"run-{n:02}" for n in range(40)]
    for run_id in ids:
        first.insert_run(queued_run(run_id, ready=True))
    first.commit()

    def claim_all(store: PostgresStore, server: str) -> list[str]:
        won = []
        for run_id in ids:
            if store.claim_run(run_id, server) is not None:
                won.append(run_id)
            store.commit()
        return won

    won_a, won_b = at_once(lambda: claim_all(first, "a"), lambda: claim_all(second, "b"))
    assert not set(won_a) & set(won_b)
    assert sorted(won_a + won_b) == ids  # a run held by nobody is claimed by someone


def test_a_run_held_in_an_open_transaction_is_skipped_not_waited_for(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    first.insert_run(queued_run("r", ready=True))
    first.commit()
    lease = first.claim_run("r", "a")  # not committed yet: the row is locked
    assert lease is not None
    began = time.monotonic()
    assert second.claim_run("r", "b") is None
    assert time.monotonic() - began < 0.5  # SKIP LOCKED: no wait on the other server
    second.commit()
    first.commit()
    assert second.claim_run("r", "b") is None  # committed: a live server holds it


def test_two_ingesters_of_one_event_id_have_one_winner(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for n in range(10):
        won = at_once(
            committed(first, lambda n=n: first.claim_event_id(f"e{n}", now=NOW, window=DAY)),
            committed(second, lambda n=n: second.claim_event_id(f"e{n}", now=NOW, window=DAY)),
        )
        assert sorted(won) == [False, True]


def test_two_ingesters_of_overlapping_batches_share_the_ids_out_without_a_deadlock(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for n in range(10):
        ids = [f"b{n}-{i}" for i in range(20)]
        won = at_once(
            committed(first, lambda ids=ids: first.claim_event_ids(ids, now=NOW, window=DAY)),
            committed(
                second, lambda ids=ids: second.claim_event_ids(ids[::-1], now=NOW, window=DAY)
            ),
        )
        mine, theirs = won[0], won[1][::-1]
        assert all(a != b for a, b in zip(mine, theirs, strict=True))  # one winner per id


def claim_key(store: PostgresStore, key: str, run_id: str) -> Callable[[], str | None]:
    return lambda: store.claim_idempotency("f", key, run_id, now=NOW, window=DAY)


def test_two_claimers_of_one_idempotency_key_have_one_winner(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for n in range(10):
        key = f"cart-{n}"
        got = at_once(
            committed(first, claim_key(first, key, "ra")),
            committed(second, claim_key(second, key, "rb")),
        )
        assert None in got and got.count(None) == 1
        winner = "ra" if got[0] is None else "rb"
        assert [g for g in got if g is not None] == [winner]


def test_a_cron_tick_fires_once_across_servers(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for n in range(10):
        tick = NOW + n * 60
        first.set_cron("f", "* * * * *", tick)
        first.commit()
        moved = at_once(
            committed(first, lambda t=tick: first.advance_cron("f", "* * * * *", t, t + 60)),
            committed(second, lambda t=tick: second.advance_cron("f", "* * * * *", t, t + 60)),
        )
        assert sorted(moved) == [False, True]


# -- heartbeats and reaping --------------------------------------------------------------


def reap_a(second: PostgresStore) -> int:
    """b beats and reaps a, whose last beat is older than 0.5 s (the database's clock). The
    margin is wide: on a loaded machine b's own beat, just made, was once over 0.2 s old by
    the time the reap ran, and b reaped itself too."""
    time.sleep(0.6)
    assert second.heartbeat("b", NOW)
    return second.reap_dead(NOW + 5, 0.5)


def test_a_lease_lost_mid_step_is_no_longer_held_and_the_reaped_server_claims_nothing(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    first.insert_run(queued_run("r", ready=True))
    lease = first.claim_run("r", "a")
    first.commit()
    assert lease is not None and first.holds_lease(lease)
    first.commit()
    assert reap_a(second) == 1  # a's step is still running, say
    assert not first.holds_lease(lease)
    assert not first.heartbeat("a", NOW)  # a hears it was reaped: it stops
    run = second.get_run("r")
    assert run is not None and run.ready_at == NOW + 5
    taken = second.claim_run("r", "b")
    second.commit()
    assert taken is not None and taken.epoch == lease.epoch + 1
    first.insert_run(queued_run("other", ready=True))
    first.commit()
    assert first.claim_run("other", "a") is None  # no server row: no claim
    first.rollback()


def test_a_reaper_cannot_slip_between_a_lease_check_and_its_commit(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    first.insert_run(queued_run("r", ready=True))
    lease = first.claim_run("r", "a")
    first.commit()
    assert lease is not None
    assert first.holds_lease(lease)  # the row is locked until a's commit
    first.upsert_step(  # the checkpoint the check guards
        StepRecord("r", "charge", "charge", "run", StepStatus.COMPLETED, 0, output='"ok"')
    )
    assert reap_a(second) == 0  # a is gone, but its run is mid-checkpoint: left for later
    first.commit()
    assert second.reap_dead(NOW + 6, 0.2) == 1  # the next round hands it back
    assert not first.holds_lease(lease)
    first.rollback()


def test_a_live_servers_heartbeat_keeps_it_alive(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    first.insert_run(queued_run("r", ready=True))
    assert first.claim_run("r", "a") is not None
    first.commit()
    time.sleep(0.25)
    assert first.heartbeat("a", NOW) and second.heartbeat("b", NOW)
    assert second.reap_dead(NOW, 0.2) == 0  # both beat within 0.2 s: nobody is reaped
    assert first.heartbeat("a", NOW) and second.heartbeat("b", NOW)


# -- wake-ups ------------------------------------------------------------------------------


def test_work_made_due_on_one_server_wakes_the_other_with_coalesced_notifies(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    assert isinstance(first, SharedStore)
    assert not isinstance(SQLiteStore(":memory:"), SharedStore)  # one server: needs nothing
    woken = threading.Event()
    first.listen_for_work(woken.set)
    time.sleep(0.3)  # listening
    woken.clear()
    for n in range(50):  # 50 commits that each made a run due, in a burst
        second.insert_run(queued_run(f"r{n}", ready=True))
        second.commit()
    assert woken.wait(2)
    time.sleep(0.1)
    sent = second._db.announcer.sent
    assert 1 <= sent < 50  # coalesced: never one per commit
    first.stop_listening()


# -- schema and faults --------------------------------------------------------------------


def test_servers_starting_at_once_migrate_a_new_database_once(postgres_database: str) -> None:
    with temporary_database(postgres_database) as url:
        stores = at_once(*[lambda: PostgresStore(url) for _ in range(3)])
        try:
            assert {store.schema_version for store in stores} == {SCHEMA_VERSION}
        finally:
            for store in stores:
                store.close()


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store._db.write("UPDATE durable_schema SET version=99")
    store.commit()
    store.close()
    try:
        with pytest.raises(SchemaError, match=r"schema version 99.*upgrade durable"):
            PostgresStore(postgres_url)
    finally:
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"UPDATE durable_schema SET version={SCHEMA_VERSION}")


def test_open_store_picks_the_backend_from_the_db_option(postgres_url: str, tmp_path: Any) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        store.close()
    sqlite = open_store(str(tmp_path / "d.db"))
    assert isinstance(sqlite, SQLiteStore)
    sqlite.close()


@pytest.mark.parametrize(
    ("url", "words", "reason"),
    [
        (
            "postgresql://postgres:s3cret@127.0.0.1:1/x",
            "unreachable",
            "database_unreachable",
        ),
        ("MISSING_DB", "does not exist", "database_error"),
        ("postgresql://no_such_user_here:s3cret@127.0.0.1:5432/postgres", "", "database_error"),
    ],
)
def test_connection_faults_are_named_without_the_password(
    url: str, words: str, reason: str, postgres_url: str
) -> None:
    if url == "MISSING_DB":
        url = with_database(postgres_url, "durable_no_such_database")
    with pytest.raises(StoreError) as info:
        open_store(url)
    assert info.value.reason == reason
    assert words in str(info.value)
    assert "s3cret" not in str(info.value)
    assert info.value.path is not None and "s3cret" not in info.value.path


def test_without_the_extra_a_postgres_url_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(StoreError, match=r"pip install 'durable\[postgres\]'"):
        open_store("postgresql://postgres@127.0.0.1:5432/postgres")


def test_a_dropped_connection_refuses_the_rest_of_its_transaction_then_reconnects(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    try:
        store.insert_run(queued_run("lost", ready=True))
        store.set_cron("f", "* * * * *", NOW)  # sent at once: the transaction has begun
        store._db.conn.close()  # as a restarted PostgreSQL would
        with pytest.raises(StoreError) as info:
            store.get_run("lost")
        assert info.value.reason == "database_unreachable" and info.value.transient
        store.rollback()
        store.insert_run(queued_run("again", ready=True))
        store.commit()
        assert store.get_run("lost") is None and store.get_run("again") is not None
        assert store.get_cron("f", "* * * * *") is None

        store.insert_run(queued_run("queued", ready=True))  # queued, not sent yet: nothing is lost
        store._db.conn.close()
        assert store.commit()
        assert store.get_run("queued") is not None
    finally:
        store.close()


def test_under_the_inspector_a_postgresql_servers_log_goes_to_dot_durable() -> None:
    from durable.devserver.dev.child import log_path

    assert str(log_path("postgresql://u:pw@db.internal:5432/app")) == ".durable/dev.log"
    assert str(log_path("data/dev.db")) == "data/dev.log"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        (
            "postgres://app@db/x?password=s3cret&sslmode=require",
            "postgres://app@db/x?password=***&sslmode=require",
        ),
        ("postgresql://db/x", "postgresql://db/x"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_durable_dev_on_an_unreachable_postgresql_exits_2_naming_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from durable import Durable\napp = Durable(id='x')\n")
    done = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui", "--port",
         str(free_port()), "--db", "postgresql://postgres:s3cret@127.0.0.1:1/x"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "unreachable" in done.stderr and "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


async def test_a_run_in_its_first_step_on_one_server_can_be_cancelled_from_another(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    app = Durable(id="t")
    started, release = asyncio.Event(), asyncio.Event()

    @app.function(id="slow", triggers=[{"event": "go"}])
    async def slow(ctx: Any) -> None:
        async def body() -> None:
            started.set()
            await release.wait()

        await ctx.step.run("body", body)

    def engine(store: PostgresStore, server_id: str) -> Orchestrator:
        functions = collect_functions([app])
        return Orchestrator(
            store,
            VirtualClock(NOW),
            InProcessExecutor(functions, lambda: NOW),
            [fn.config for fn in functions.values()],
            server_id=server_id,
        )

    first, second = engine(pair[0], "a"), engine(pair[1], "b")
    run_id = first.start_run("slow", {"name": "go", "data": {}}).run_id
    first.flush()
    await first.tick()  # a claims the run; its step starts and hangs
    await asyncio.wait_for(started.wait(), 5)
    began = time.monotonic()
    assert await second.cancel(run_id)  # b writes the run's row: a's claim is committed, not held
    assert time.monotonic() - began < 1
    release.set()
    await first.settle()
    run = pair[1].get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED


def test_a_session_ended_by_the_server_while_idle_is_replaced_unnoticed(
    postgres_url: str,
) -> None:
    store = PostgresStore(postgres_url)
    try:
        store.insert_run(queued_run("kept", ready=True))
        store.commit()
        assert store.get_run("kept") is not None  # a read: its transaction stays open
        import psycopg

        pid = store._db.conn.info.backend_pid
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        run = store.get_run("kept")  # nothing was written since the commit: just go on
        assert run is not None and run.run_id == "kept"
    finally:
        store.close()


def test_a_server_closing_its_store_hands_its_runs_back_at_once(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    first.insert_run(queued_run("r", ready=True))
    assert first.claim_run("r", "a") is not None
    first.commit()
    woken = threading.Event()
    second.listen_for_work(woken.set)
    time.sleep(0.3)  # listening
    woken.clear()
    first.close()  # a clean shutdown: no waiting for dead_after
    assert woken.wait(2)  # b hears at once
    assert [run.run_id for run in second.ready_runs(time.time() + 1, 10)] == ["r"]
    assert second.claim_run("r", "b") is not None
    second.commit()


def test_passes_ending_together_release_their_runs_at_once_and_announce_a_due_one(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for run_id in ("flagged", "parked", "stale"):
        first.insert_run(dataclasses.replace(queued_run(run_id, ready=True), ready_at=None))
    first.register_server("a", NOW)
    leases = {run_id: first.claim_run(run_id, "a") for run_id in ("flagged", "parked", "stale")}
    first.commit()
    assert all(leases.values())
    assert second.make_ready("flagged", NOW + 1)  # a wait matched on the other server
    second.commit()
    woken = threading.Event()
    second.listen_for_work(woken.set)
    time.sleep(0.3)  # listening
    woken.clear()
    for lease in leases.values():
        assert lease is not None
        first.release_run(lease)  # queued: one statement for the three
    stale = leases["stale"]
    assert stale is not None
    first.release_run(dataclasses.replace(stale, epoch=stale.epoch - 1))  # changes nothing
    assert first.commit()
    assert woken.wait(2)  # "flagged" is due again: the other servers are told
    second.stop_listening()
    runs = {run_id: second.get_run(run_id) for run_id in leases}
    assert runs["flagged"] is not None and runs["flagged"].ready_at == NOW + 1
    assert runs["parked"] is not None and runs["parked"].ready_at is None
    assert second.claim_run("parked", "a") is not None  # released: claimable again


def test_queued_rows_mixing_ints_and_floats_in_a_column_go_in_one_batch(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    store, other = pair
    whole = dataclasses.replace(
        queued_run("whole", ready=True), created_at=1_000_000, priority=120
    )  # ints
    half = dataclasses.replace(queued_run("half", ready=True), priority=0.5)
    store.insert_run(whole)  # type: ignore[arg-type]
    store.insert_run(half)
    for run_id, started in (("whole", 5), ("half", 5.5)):
        store.upsert_step(
            StepRecord(
                run_id=run_id, key="s", id="s", kind="run", status=StepStatus.COMPLETED,
                position=0, started_at=started, ended_at=started, wake_at=None,
            )
        )  # fmt: skip
    store.insert_event(EventRecord(id="e1", name="go", data={}, ts=1, received_at=7))
    store.insert_event(EventRecord(id="e2", name="go", data={}, ts=2, received_at=7.5))
    assert store.commit()
    stored = other.get_run("whole")
    assert stored is not None and (stored.created_at, stored.priority) == (1_000_000.0, 120.0)
    assert [s.started_at for s in other.get_steps("whole") + other.get_steps("half")] == [5, 5.5]
    assert [e.id for e in other.list_events(name="go")] == ["e2", "e1"]  # newest first


def test_ending_a_run_whose_lease_held_in_this_transaction_is_queued_and_won_once(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    store, other = pair
    store.register_server("a", NOW)
    run = dataclasses.replace(queued_run("r1", ready=True), ready_at=None)
    store.insert_run(run)
    lease = store.claim_run("r1", "a")
    assert lease is not None and store.commit()
    assert store.held_leases([lease]) == {"r1"}  # locked, unended: this transaction's to end
    done = dataclasses.replace(run, status=RunStatus.COMPLETED, ended_at=NOW + 1)
    assert store.end_run(done)  # queued: nobody can end it first
    assert not store.end_run(dataclasses.replace(done, status=RunStatus.FAILED))  # once
    store.release_run(lease)
    assert store.commit()
    stored = other.get_run("r1")
    assert stored is not None and stored.status is RunStatus.COMPLETED


def test_a_run_inserted_here_is_looked_up_once_another_server_may_have_written_its_steps(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    for store, server in ((first, "a"), (second, "b")):
        store.register_server(server, NOW)
    step = StepRecord(
        run_id="", key="s", id="s", kind="run", status=StepStatus.COMPLETED, position=0
    )
    for run_id in ("elsewhere", "rerun", "viewed"):
        first.insert_run(dataclasses.replace(queued_run(run_id, ready=True), ready_at=None))
    first.upsert_step(dataclasses.replace(step, run_id="rerun"))  # written with the run
    first.commit()
    for run_id in ("elsewhere", "viewed"):
        lease = second.claim_run(run_id, "b")  # the other server's pass runs first
        assert lease is not None and lease.epoch == 1
        second.upsert_step(dataclasses.replace(step, run_id=run_id))
        second.release_run(lease)
    second.commit()
    # read here (the run view, a wait or a child ending) without a claim of this server's
    assert [s.run_id for s in first.get_steps("viewed")] == ["viewed"]
    leases = first.claim_runs(["elsewhere", "rerun", "viewed"], "a")
    for run_id, lease in leases.items():  # each pass's start, under its claim
        assert [s.run_id for s in first.get_steps(run_id, claim=lease)] == [run_id]


def test_batches_on_a_table_without_statistics_use_the_indexes_and_nothing_is_jit_compiled(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    from durable._stores.postgres_rows import WRITE_RUNS, run_write_row

    store, _ = pair
    for n in range(1_500):  # a table grown since its last ANALYZE (here: never analyzed)
        store.insert_run(queued_run(f"r{n:05d}", ready=True))
    store.commit()
    rows = [
        run_write_row(queued_run(f"r{n:05d}", ready=True), "a", ending=False) for n in range(100)
    ]
    columns = [list(column) for column in zip(*rows, strict=True)]
    plan = "\n".join(row[0] for row in store._db.conn.execute("EXPLAIN " + WRITE_RUNS, columns))
    store.rollback()
    assert "Seq Scan on runs" not in plan, plan  # the batch finds its 100 rows by key
    reaping = store._db.conn.execute(  # a scan no index serves: priced high, not compiled
        "EXPLAIN SELECT server_id FROM servers WHERE heartbeat_at < clock_timestamp()"
    ).fetchall()
    store.rollback()
    assert not any("JIT" in row[0] for row in reaping), reaping


def test_a_batch_statement_run_again_and_again_is_planned_for_each_batch(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    from durable._stores.postgres_rows import WRITE_RUNS, run_write_row

    store, _ = pair
    for n in range(50):
        store.insert_run(queued_run(f"r{n:05d}", ready=True))
    store.commit()
    for size in (1, 50, 2, 40, 3, 30, 4, 20, 5, 10, 6, 7):  # prepared after 5 runs (psycopg)
        rows = [
            run_write_row(queued_run(f"r{n:05d}", ready=True), "a", ending=False)
            for n in range(size)
        ]
        store._db.conn.execute(WRITE_RUNS, [list(c) for c in zip(*rows, strict=True)])
    store.commit()
    plans = store._db.conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE "
        "'%unnest%'"
    ).fetchall()
    store.rollback()
    # a generic plan, made without the arrays, cost the backends 2-4x per step in some runs
    assert plans and all(generic == 0 and custom > 0 for generic, custom in plans), plans
