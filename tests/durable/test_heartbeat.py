"""Heartbeats and reaping on every backend, and the heartbeat loop that stops a reaped server.

Liveness is measured on real time here (a fraction of a second): PostgreSQL judges it on the
database's own clock, whatever ``now`` the caller passes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._errors import StoreError
from durable._orchestration.clock import RealClock
from durable._orchestration.heartbeat import Heartbeat
from durable._orchestration.journal import Journal
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.base import Store
from durable._stores.memory import MemoryStore
from tests.support.records import queued_run

DEAD_AFTER = 0.2


def test_a_beating_server_stays_a_silent_one_is_reaped_and_its_runs_are_due(
    store: Store,
) -> None:
    store.register_server("a", time.time())
    store.insert_run(queued_run("r", at=time.time(), ready=True))
    lease = store.claim_run("r", "a")
    store.commit()
    assert lease is not None
    assert store.heartbeat("a", time.time())
    assert store.reap_dead(time.time(), DEAD_AFTER) == 0  # it just beat
    store.commit()
    time.sleep(DEAD_AFTER + 0.1)
    now = time.time()
    assert store.reap_dead(now, DEAD_AFTER) == 1  # silent too long: its run is handed back
    store.commit()
    assert not store.heartbeat("a", now)  # and it hears so at its next beat
    assert not store.holds_lease(lease)
    run = store.get_run("r")
    assert run is not None and run.ready_at == now
    store.register_server("b", now)
    taken = store.claim_run("r", "b")
    assert taken is not None and taken.epoch == lease.epoch + 1
    store.commit()


def test_an_unknown_server_is_not_alive(store: Store) -> None:
    assert not store.heartbeat("nobody", time.time())
    store.commit()


async def test_the_loop_beats_and_calls_on_reaped_once_the_server_was_reaped() -> None:
    store = MemoryStore()
    store.register_server("a", time.time())
    reaped: list[str] = []
    heartbeat = Heartbeat(
        store=store,
        journal=Journal(store, lambda: 0),
        clock=RealClock(),
        server_id="a",
        dead_after=DEAD_AFTER,
        on_reaped=lambda: reaped.append("a"),
    )
    loop = asyncio.ensure_future(heartbeat.run())
    await asyncio.sleep(DEAD_AFTER * 2)
    assert reaped == [] and not loop.done()  # beating every dead_after / 4: alive
    store.reap_server("a", time.time())  # another server found it silent (say)
    await asyncio.wait_for(loop, DEAD_AFTER)
    assert reaped == ["a"]


def test_dead_after_must_be_positive() -> None:
    store = MemoryStore()
    with pytest.raises(ValueError, match="dead_after must be > 0"):
        Heartbeat(
            store=store,
            journal=Journal(store, lambda: 0),
            clock=RealClock(),
            server_id="a",
            dead_after=0,
            on_reaped=lambda: None,
        )


async def test_a_reaped_servers_scheduler_stops_its_passes_and_returns() -> None:
    app = Durable(id="t")
    started = asyncio.Event()

    @app.function(id="slow", triggers=[{"event": "go"}])
    async def slow(ctx: Any) -> None:
        async def forever() -> None:
            started.set()
            await asyncio.sleep(3600)

        await ctx.step.run("forever", forever)

    store, clock = MemoryStore(), RealClock()
    store.register_server("a", clock.now())
    functions = collect_functions([app])
    engine = Orchestrator(
        store,
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
        server_id="a",
        dead_after=DEAD_AFTER,
    )
    engine.start_run("slow", {"name": "go", "data": {}})
    engine.flush()
    scheduling = asyncio.ensure_future(engine.run_forever())
    await asyncio.wait_for(started.wait(), 5)
    assert len(engine.in_flight.tasks) == 1
    store.reap_server("a", clock.now())
    await asyncio.wait_for(scheduling, 2)  # it stopped by itself
    assert engine.scheduler.reaped and not engine.in_flight.tasks


class Unreachable(MemoryStore):
    """A store whose database cannot be reached for heartbeats."""

    def heartbeat(self, server_id: str, now: float) -> bool:
        raise StoreError("the database is unreachable", reason="database_unreachable")


@pytest.mark.parametrize("self_fence", [True, False])
async def test_a_server_that_cannot_beat_stops_only_if_others_could_take_its_runs(
    self_fence: bool,
) -> None:
    store = Unreachable()
    reaped: list[str] = []
    heartbeat = Heartbeat(
        store=store,
        journal=Journal(store, lambda: 0),
        clock=RealClock(),
        server_id="a",
        dead_after=DEAD_AFTER,
        on_reaped=lambda: reaped.append("a"),
        self_fence=self_fence,
    )
    loop = asyncio.ensure_future(heartbeat.run())
    await asyncio.sleep(DEAD_AFTER * 1.5)
    # shared (PostgreSQL): silent for most of dead_after, it stops before being reaped;
    # alone (SQLite): nobody else would run its runs, it keeps going (and retrying)
    assert reaped == (["a"] if self_fence else [])
    assert loop.done() is self_fence
    loop.cancel()
