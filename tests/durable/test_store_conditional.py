"""Conditional writes of the store: ending a run is won once, a wake-up is never lost.

Two orchestrators on one store stand for two servers on one database: whichever ends a run
first wins, and only the winner emits the run's system event.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._orchestration.clock import VirtualClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.base import RunRecord, RunStatus, Store
from tests.support.records import queued_run

START = 1_000_000.0


def queued(store: Store, run_id: str = "r1") -> RunRecord:
    for server in ("a", "b"):  # a store shared by servers lets only registered ones claim
        store.register_server(server, START)
    run = queued_run(run_id, at=START)
    store.insert_run(run)
    store.commit()
    return run


def test_ending_a_run_is_won_once(store: Store) -> None:
    run = queued(store)
    cancelled = dataclasses.replace(run, status=RunStatus.CANCELLED, ended_at=START + 1)
    completed = dataclasses.replace(run, status=RunStatus.COMPLETED, ended_at=START + 2)
    assert store.end_run(cancelled)
    assert not store.end_run(completed)  # the second writer loses and writes nothing
    stored = store.get_run(run.run_id)
    assert stored is not None and stored.status is RunStatus.CANCELLED
    assert stored.ended_at == START + 1


def test_a_run_woken_while_held_is_due_when_its_pass_releases_it(store: Store) -> None:
    run = queued(store)
    lease = store.claim_run(run.run_id, "a")
    assert lease is not None
    assert store.make_ready(run.run_id, START + 3)  # a wait matched on another server
    assert store.get_run(run.run_id).ready_at is None  # type: ignore[union-attr]
    store.update_run(run)  # the pass's own end writes the row (ready_at None: parked)
    store.release_run(lease)
    assert store.get_run(run.run_id).ready_at == START + 3  # type: ignore[union-attr]
    assert [r.run_id for r in store.ready_runs(START + 3, 10)] == [run.run_id]


def test_a_free_run_is_made_due_at_once_and_an_ended_one_not_at_all(store: Store) -> None:
    run = queued(store)
    assert store.make_ready(run.run_id, START + 4)
    assert store.get_run(run.run_id).ready_at == START + 4  # type: ignore[union-attr]
    assert store.make_ready(run.run_id, START + 9)  # an earlier due time is kept
    assert store.get_run(run.run_id).ready_at == START + 4  # type: ignore[union-attr]
    store.end_run(dataclasses.replace(run, status=RunStatus.COMPLETED, ready_at=None))
    assert not store.make_ready(run.run_id, START + 5)
    assert not store.make_ready("missing", START + 5)


def test_an_ended_runs_lease_fences_in_nothing(store: Store) -> None:
    run = queued(store)
    lease = store.claim_run(run.run_id, "a")
    assert lease is not None and store.holds_lease(lease)
    store.end_run(dataclasses.replace(run, status=RunStatus.CANCELLED))  # by another server
    assert not store.holds_lease(lease)


def test_a_reaped_servers_woken_run_is_due_without_a_flag_left_behind(store: Store) -> None:
    run = queued(store)
    lease = store.claim_run(run.run_id, "a")
    assert lease is not None
    store.make_ready(run.run_id, START + 1)
    assert store.reap_server("a", START + 2) == 1
    assert store.get_run(run.run_id).ready_at == START + 2  # type: ignore[union-attr]
    second = store.claim_run(run.run_id, "b")
    assert second is not None
    store.update_run(dataclasses.replace(run, ready_at=None))
    store.release_run(second)  # no flag survived the reaping: nothing due
    assert store.get_run(run.run_id).ready_at is None  # type: ignore[union-attr]


def two_servers(store: Store, app: Durable, clock: VirtualClock) -> tuple[Orchestrator, ...]:
    functions = collect_functions([app])
    configs = [fn.config for fn in functions.values()]
    return tuple(
        Orchestrator(store, clock, InProcessExecutor(functions, clock.now), configs, server_id=s)
        for s in ("first", "second")
    )


async def test_a_cancel_from_another_server_wins_once_and_fences_the_pass_out(
    store: Store,
) -> None:
    app = Durable(id="t")
    release = asyncio.Event()
    bodies: list[str] = []

    @app.function(id="f", triggers=[{"event": "go"}], retries=0)
    async def f(ctx: Any) -> None:
        async def slow() -> str:
            bodies.append("slow")
            await release.wait()
            return "done"

        await ctx.step.run("slow", slow)
        await ctx.step.run("after", lambda: bodies.append("after"))
        raise RuntimeError("fails at its end")

    clock = VirtualClock(START)
    for server in ("first", "second"):
        store.register_server(server, START)
    first, second = two_servers(store, app, clock)
    run_id = first.start_run("f", {"name": "go", "data": {}}).run_id
    first.flush()
    await first.tick()
    while bodies != ["slow"]:
        await asyncio.sleep(0)

    assert await second.cancel(run_id, "stop it")  # the second server wins the run's end
    assert not await first.cancel(run_id, "me too")  # ended already: no second event
    release.set()
    await first.settle()
    await second.settle()

    run = store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELLED
    assert run.cancel_reason == "stop it"
    assert bodies == ["slow"]  # the step's result was refused: the pass went no further
    names = [e.name for e in store.list_events(limit=50)]
    assert names.count("durable/function.cancelled") == 1
    assert "durable/function.failed" not in names
    slow = [s for s in store.get_steps(run_id) if s.key == "slow"]
    assert not slow or slow[0].output is None
