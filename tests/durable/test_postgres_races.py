"""Races between two servers on one PostgreSQL (two connections) for the conditional writes,
the lock order of waits and events, and flow control's counters: one winner, nothing missed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from durable._stores.base import EventRecord, RunStatus, WaitRecord
from durable._stores.postgres import PostgresStore
from tests.support.records import queued_run

T = TypeVar("T")
NOW = 1_000_000.0


def in_thread(call: Callable[[], T]) -> tuple[threading.Thread, list[T]]:
    """Start ``call`` on a thread; its result lands in the returned list."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def test_a_wait_registered_while_an_event_is_ingested_sees_that_event(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    ingester, registrar = pair
    ingester.lock_event_names(["order/paid"], exclusive=False)
    ingester.insert_event(EventRecord(id="e1", name="order/paid", data={}, ts=0, received_at=NOW))

    def register() -> list[str]:  # what a wait registration reads before adding its wait
        registrar.lock_event_names(["order/paid"], exclusive=True)
        found = [e.id for e in registrar.events_since("order/paid", NOW - 1)]
        registrar.rollback()
        return found

    thread, found = in_thread(register)
    time.sleep(0.3)
    assert thread.is_alive()  # the registration waits for the ingest in flight...
    ingester.commit()
    thread.join(5)
    assert found == [["e1"]]  # ...and then reads its event: nothing falls between


def test_an_event_ingested_while_a_wait_is_registered_sees_that_wait(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    ingester, registrar = pair
    registrar.insert_run(queued_run("r1"))
    registrar.commit()
    registrar.lock_event_names(["order/paid"], exclusive=True)
    registrar.add_wait(
        WaitRecord(
            run_id="r1",
            step_key="paid",
            event_name="order/paid",
            condition=None,
            expires_at=NOW + 60,
            since=NOW,
        )
    )

    def ingest() -> list[str]:  # what an ingest reads after storing its event
        ingester.lock_event_names(["order/paid"], exclusive=False)
        found = [w.run_id for w in ingester.waits_for("order/paid", {})]
        ingester.rollback()
        return found

    thread, found = in_thread(ingest)
    time.sleep(0.3)
    assert thread.is_alive()  # the ingest waits for the registration in flight...
    registrar.commit()
    thread.join(5)
    assert found == [["r1"]]  # ...and then finds its wait


def test_two_writers_ending_one_run_have_one_winner(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    run = queued_run("r1")
    first.insert_run(run)
    first.commit()
    assert first.end_run(dataclasses.replace(run, status=RunStatus.COMPLETED, ended_at=NOW))
    thread, won = in_thread(
        lambda: second.end_run(dataclasses.replace(run, status=RunStatus.CANCELLED))
    )
    time.sleep(0.2)
    first.commit()  # the first writer's end lands; the second, waiting on the row, loses
    thread.join(5)
    second.commit()
    assert won == [False]
    stored = first.get_run("r1")
    assert stored is not None and stored.status is RunStatus.COMPLETED


def test_a_run_woken_by_another_server_mid_pass_is_due_when_the_pass_ends(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    owner, other = pair
    owner.insert_run(queued_run("r1"))
    lease = owner.claim_run("r1", "a")
    owner.commit()
    assert lease is not None
    assert other.make_ready("r1", NOW + 2)  # a wait of r1 matched on the other server
    other.commit()
    assert owner.ready_runs(NOW + 5, 10) == []  # held: not due while the pass goes on
    owner.release_run(lease)
    owner.commit()
    assert [r.run_id for r in other.ready_runs(NOW + 5, 10)] == ["r1"]


def test_concurrency_slots_never_pass_their_limit_across_servers(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = pair
    barrier = threading.Barrier(2)

    def take_all(store: PostgresStore, server: str) -> int:
        barrier.wait()
        won = 0
        for n in range(15):
            won += store.acquire_slots(f"{server}-{n}", [("llm", 4), (f"user-{n % 3}", 2)])
            store.commit()
        return won

    with ThreadPoolExecutor(2) as pool:
        won = sum(pool.map(lambda pair_: take_all(*pair_), [(first, "a"), (second, "b")]))
    assert first.slots_in_use("llm") == won == 4
    assert all(first.slots_in_use(f"user-{n}") <= 2 for n in range(3))


async def test_a_pass_whose_claim_was_rolled_back_leaves_its_run_due_not_stranded(
    postgres_url: str,
) -> None:
    from typing import Any

    from durable import Durable
    from durable._engine.inprocess import InProcessExecutor, collect_functions
    from durable._orchestration.clock import VirtualClock
    from durable._orchestration.orchestrator import Orchestrator

    app = Durable(id="t")
    bodies: list[str] = []

    @app.function(id="f", triggers=[{"event": "go"}], retries=0)
    async def f(ctx: Any) -> str:
        await ctx.step.run("one", lambda: bodies.append("one"))
        return "done"

    store = PostgresStore(postgres_url)
    try:
        store.register_server("a", NOW)
        clock = VirtualClock(NOW)
        functions = collect_functions([app])
        engine = Orchestrator(
            store,
            clock,
            InProcessExecutor(functions, clock.now),
            [fn.config for fn in functions.values()],
            server_id="a",
        )
        run_id = engine.start_run("f", {"name": "go", "data": {}}).run_id
        engine.flush()
        await engine.tick()  # the claim is written, not committed yet...
        store.rollback()  # ...and its transaction is rolled back (a deadlock, say)
        await engine.settle()
        run = store.get_run(run_id)
        assert run is not None and run.status is RunStatus.COMPLETED  # due again, not stuck
        assert run.output == '"done"'
    finally:
        store.close()
